/*
 * countersign-hook-client <agent> --signer ADDR: the thin hook command for agents that can only run a
 * command per tool call. It forwards the agent's JSON on stdin to the Countersign signer service
 * (POST /v1/hooks/<agent>?form=process) and prints the service's answer with its exit code.
 *
 * Written in C, linking only the C library: the agent waits for this process on every tool call, and
 * the smallest static Swift binary takes about 2.6 ms to start on the machines we measured against
 * 0.8 ms for a C one (docs/performance.md). The wire protocol is the one the Swift forwarder
 * (Sources/CountersignSignerClient) speaks; the CLI tests run both against the same service.
 *
 * Fail closed: a usage mistake, an unreachable or silent service, or any answer short of a complete
 * one exits 2 (the agents' blocking code) with the reason on stderr, naming the address.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/*
 * SwiftPM links every executable through swiftc, which adds the Swift runtime's image-registration
 * constructor (swiftrt.o). This program has no Swift code to register: these no-ops satisfy it, so the
 * linker (--as-needed, in Package.swift) leaves the Swift runtime out and nothing loads it at start.
 */
void swift_addNewDSOImage(const void *image) { (void)image; }
int _swift_backtrace_isThunkFunction(const char *name) {
    (void)name;
    return 0;
}

static const char *usage =
    "usage: countersign-hook-client <claude-code|codex|gemini|cursor> [--signer ADDR] [--timeout SECONDS]\n"
    "Forwards one hook call (the agent's JSON on stdin) to the Countersign signer service and prints its\n"
    "answer. ADDR is unix:/PATH or http://HOST:PORT (default: $COUNTERSIGN_SIGNER); a token for an HTTP\n"
    "signer comes from $COUNTERSIGN_TOKEN. If the service is down or late, the call is blocked (exit 2).\n";

static const char *address_text = "";

static void usage_error(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("countersign-hook-client: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(2);
}

/* The agents' blocking answer: exit code 2 and the reason on stderr. */
static void block(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "Countersign blocked this call: the signer at %s ", address_text);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(2);
}

struct buffer {
    char *data;
    size_t length, capacity;
};

static void append(struct buffer *b, const char *bytes, size_t n) {
    if (b->length + n + 1 > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 65536;
        while (b->length + n + 1 > capacity) capacity *= 2;
        char *grown = realloc(b->data, capacity);
        if (!grown) block("could not be reached: out of memory");
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->length, bytes, n);
    b->length += n;
    b->data[b->length] = 0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct address {
    int is_unix;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char host[256];
    char port[8];
    char base[512];
};

static void parse_address(const char *text, struct address *a) {
    memset(a, 0, sizeof *a);
    while (*text == ' ' || *text == '\t' || *text == '\n') text++;
    const char *path = NULL;
    if (text[0] == '/') path = text;
    else if (strncmp(text, "unix:", 5) == 0) {
        path = text + 5;
        if (strncmp(path, "//", 2) == 0) path += 2;
        if (path[0] != '/')
            usage_error("--signer %s: a unix: address needs an absolute socket path (unix:/run/countersign/countersign.sock)", text);
    }
    if (path) {
        size_t n = strcspn(path, " \t\n");
        if (n >= sizeof a->path) usage_error("--signer %s: the socket path is too long", text);
        a->is_unix = 1;
        memcpy(a->path, path, n);
        return;
    }
    if (strncmp(text, "https://", 8) == 0)
        usage_error("--signer %s: the hook client speaks plain HTTP on loopback or a Unix socket; put TLS in front of "
                    "the service and reach it through a local address, or use unix:PATH", text);
    if (strncmp(text, "http://", 7) != 0) usage_error("--signer %s: not a signer address (unix:/PATH or http://HOST:PORT)", text);
    const char *authority = text + 7;
    size_t length = strcspn(authority, "/ \t\n");
    const char *base = authority + length;
    size_t base_length = strcspn(base, " \t\n");
    while (base_length > 0 && base[base_length - 1] == '/') base_length--;
    if (base_length >= sizeof a->base) usage_error("--signer %s: the path is too long", text);
    memcpy(a->base, base, base_length);
    const char *host = authority, *port = NULL;
    size_t host_length = length;
    if (length > 0 && authority[0] == '[') {
        const char *close = memchr(authority, ']', length);
        if (!close) usage_error("--signer %s: no host", text);
        host = authority + 1;
        host_length = (size_t)(close - host);
        if ((size_t)(close + 1 - authority) < length && close[1] == ':') port = close + 2;
    } else {
        const char *colon = memchr(authority, ':', length);
        if (colon) {
            host_length = (size_t)(colon - authority);
            port = colon + 1;
        }
    }
    if (host_length == 0 || host_length >= sizeof a->host || memchr(host, '@', host_length))
        usage_error("--signer %s: no host", text);
    memcpy(a->host, host, host_length);
    if (port) {
        size_t port_length = (size_t)(authority + length - port);
        char digits[8] = {0};
        if (port_length == 0 || port_length > 5) usage_error("--signer %s: the port must be a number from 1 to 65535", text);
        memcpy(digits, port, port_length);
        char *end;
        long value = strtol(digits, &end, 10);
        if (*end || value < 1 || value > 65535) usage_error("--signer %s: the port must be a number from 1 to 65535", text);
        snprintf(a->port, sizeof a->port, "%ld", value);
    } else {
        strcpy(a->port, "80");
    }
}

static void set_timeouts(int fd, double timeout) {
    struct timeval value = {.tv_sec = (time_t)timeout, .tv_usec = (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, sizeof value);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, sizeof value);
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
}

/*
 * Who listens on the socket, from the kernel. A signer runs as you (a service of your own), as root, or as a
 * system account (countersign system install); any other user's process on that path is someone who took
 * the socket's place (a directory they could write) and would answer "allow" to everything: refused,
 * unless COUNTERSIGN_SIGNER_UID names that uid.
 */
static void check_peer(int fd) {
    long uid = -1;
#if defined(SO_PEERCRED)
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0) uid = (long)credentials.uid;
#elif defined(__APPLE__)
    uid_t peer;
    gid_t group;
    if (getpeereid(fd, &peer, &group) == 0) uid = (long)peer;
#endif
    if (uid < 0) block("could not be identified (no peer credentials on the socket)");
    const char *expected = getenv("COUNTERSIGN_SIGNER_UID");
    if (expected && *expected) {
        char *end;
        long wanted = strtol(expected, &end, 10);
        if (*end || wanted != uid) block("runs as uid %ld, not COUNTERSIGN_SIGNER_UID=%s", uid, expected);
        return;
    }
    if (uid != (long)getuid() && uid != 0 && uid >= 1000)
        block("runs as uid %ld: neither you, root nor a system account, so it is not your signer (someone could "
              "have taken the socket's place); set COUNTERSIGN_SIGNER_UID=%ld if it is", uid, uid);
}

static int connect_to(const struct address *a, double timeout) {
    if (a->is_unix) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) block("is unreachable: cannot open a socket");
        set_timeouts(fd, timeout);
        struct sockaddr_un address = {.sun_family = AF_UNIX};
        memcpy(address.sun_path, a->path, strlen(a->path));
        if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0)
            block("is unreachable: cannot connect (%s)", strerror(errno));
        check_peer(fd);
        return fd;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found = NULL;
    if (getaddrinfo(a->host, a->port, &hints, &found) != 0 || !found) block("is unreachable: cannot resolve %s", a->host);
    const char *reason = "no address";
    for (struct addrinfo *entry = found; entry; entry = entry->ai_next) {
        int fd = socket(entry->ai_family, entry->ai_socktype, entry->ai_protocol);
        if (fd < 0) continue;
        set_timeouts(fd, timeout);
        if (connect(fd, entry->ai_addr, entry->ai_addrlen) == 0) {
            freeaddrinfo(found);
            return fd;
        }
        reason = strerror(errno);
        close(fd);
    }
    freeaddrinfo(found);
    block("is unreachable: cannot connect (%s)", reason);
    return -1;
}

static void send_all(int fd, const char *bytes, size_t n, double deadline, double timeout) {
    while (n > 0) {
        ssize_t sent = send(fd, bytes, n, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) continue;
        if (sent <= 0) block("is unreachable: %s", now() >= deadline ? "timed out sending" : "the connection broke");
        bytes += sent;
        n -= (size_t)sent;
        if (now() >= deadline) block("is unreachable: timed out after %gs", timeout);
    }
}

/* A response header's value (case-insensitive name), copied into `out`; 0 when absent. */
static int header(const char *head, const char *name, char *out, size_t size) {
    size_t name_length = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *start = line + 2;
        if (strncasecmp(start, name, name_length) == 0 && start[name_length] == ':') {
            const char *value = start + name_length + 1;
            while (*value == ' ' || *value == '\t') value++;
            size_t length = strcspn(value, "\r\n");
            while (length > 0 && (value[length - 1] == ' ' || value[length - 1] == '\t')) length--;
            if (length >= size) length = size - 1;
            memcpy(out, value, length);
            out[length] = 0;
            return 1;
        }
    }
    return 0;
}

static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    const char *agent = NULL, *signer = getenv("COUNTERSIGN_SIGNER");
    if (signer && !*signer) signer = NULL;
    double timeout = 30;
    int signer_given = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--signer") == 0) {
            if (++i >= argc) usage_error("--signer needs an address");
            if (signer_given) usage_error("--signer given twice: which signer is meant would be unclear");
            signer_given = 1;
            signer = argv[i];
        } else if (strcmp(argv[i], "--timeout") == 0) {
            char *end;
            if (++i >= argc) usage_error("--timeout needs a number of seconds (0 < s <= 3600)");
            timeout = strtod(argv[i], &end);
            if (*end || !(timeout > 0 && timeout <= 3600)) usage_error("--timeout needs a number of seconds (0 < s <= 3600)");
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            usage_error("unknown option '%s'\n%s", argv[i], usage);
        } else if (agent) {
            usage_error("unexpected argument '%s' (the agent is '%s')", argv[i], agent);
        } else {
            agent = argv[i];
        }
    }
    if (!agent || (strcmp(agent, "claude-code") && strcmp(agent, "codex") && strcmp(agent, "gemini") && strcmp(agent, "cursor")))
        usage_error("which agent? claude-code, codex, gemini or cursor\n%s", usage);
    if (!signer) usage_error("no signer: pass --signer ADDR or set COUNTERSIGN_SIGNER");
    struct address a;
    parse_address(signer, &a);
    char shown[1024];
    if (a.is_unix) snprintf(shown, sizeof shown, "unix:%s", a.path);
    else snprintf(shown, sizeof shown, strchr(a.host, ':') ? "http://[%s]:%s%s" : "http://%s:%s%s", a.host, a.port, a.base);
    address_text = shown;

    struct buffer payload = {0};
    char chunk[65536];
    for (;;) {
        ssize_t n = read(0, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        append(&payload, chunk, (size_t)n);
    }

    double deadline = now() + timeout;
    int fd = connect_to(&a, timeout);
    struct buffer request = {0};
    char head[2048];
    const char *token = getenv("COUNTERSIGN_TOKEN");
    int written = snprintf(head, sizeof head,
                           "POST %s/v1/hooks/%s?form=process HTTP/1.1\r\nHost: %s%s%s%s\r\nConnection: close\r\n"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                           a.base, agent, a.is_unix ? "localhost" : (strchr(a.host, ':') ? "[" : ""),
                           a.is_unix ? "" : a.host, a.is_unix ? "" : (strchr(a.host, ':') ? "]:" : ":"),
                           a.is_unix ? "" : a.port, payload.length);
    append(&request, head, (size_t)written);
    if (token && *token && strlen(token) < 1024 && !strpbrk(token, "\r\n")) {
        append(&request, "Authorization: Bearer ", 22);
        append(&request, token, strlen(token));
        append(&request, "\r\n", 2);
    }
    append(&request, "\r\n", 2);
    if (payload.length) append(&request, payload.data, payload.length);
    send_all(fd, request.data, request.length, deadline, timeout);

    struct buffer response = {0};
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) block("is unreachable: %s", errno == EAGAIN || errno == EWOULDBLOCK ? "no answer within the timeout" : strerror(errno));
        if (n == 0) break;
        append(&response, chunk, (size_t)n);
        if (response.length > (8u << 20)) block("answered more than 8 MiB");
        if (now() >= deadline) block("gave no complete answer within %gs", timeout);
    }
    close(fd);

    char *end = response.data ? strstr(response.data, "\r\n\r\n") : NULL;
    if (!end) block("sent an incomplete answer (%zu bytes)", response.length);
    *end = 0;
    char *body = end + 4;
    size_t body_length = response.length - (size_t)(body - response.data);
    int status = 0;
    if (sscanf(response.data, "HTTP/1.%*d %d", &status) != 1) block("did not answer in HTTP");
    char value[65536];
    char exit_text[16];
    if (status != 200 || !header(response.data, "X-Countersign-Hook-Exit", exit_text, sizeof exit_text)) {
        int shown_length = (int)(body_length < 500 ? body_length : 500);
        block("answered HTTP %d: %.*s", status, shown_length, body);
    }
    /* Only the two answers a hook gives: 0, or 2 (block). Any other code the agents treat as "go ahead". */
    long exit_code = strcmp(exit_text, "0") == 0 ? 0 : strcmp(exit_text, "2") == 0 ? 2 : -1;
    if (exit_code < 0) block("answered exit code '%s' (a hook answers 0 or 2; anything else would let the call run)", exit_text);
    if (header(response.data, "Transfer-Encoding", value, sizeof value) && strcasecmp(value, "chunked") == 0) {
        struct buffer joined = {0};
        size_t i = 0;
        for (;;) {
            char *line_end = strstr(body + i, "\r\n");
            if (!line_end) block("sent a truncated answer");
            size_t size = strtoul(body + i, NULL, 16);
            size_t start = (size_t)(line_end + 2 - body);
            if (size == 0) break;
            if (start + size > body_length) block("sent a truncated answer");
            append(&joined, body + start, size);
            i = start + size + 2;
        }
        body = joined.data ? joined.data : "";
        body_length = joined.length;
    } else if (header(response.data, "Content-Length", value, sizeof value)) {
        size_t length = strtoul(value, NULL, 10);
        if (length > body_length) block("sent a truncated answer");
        body_length = length;
    }
    fwrite(body, 1, body_length, stdout);
    fflush(stdout);
    if (header(response.data, "X-Countersign-Hook-Stderr", value, sizeof value)) {
        for (char *p = value; *p; p++) {
            if (*p == '%' && hex(p[1]) >= 0 && hex(p[2]) >= 0) {
                fputc(hex(p[1]) * 16 + hex(p[2]), stderr);
                p += 2;
            } else {
                fputc(*p, stderr);
            }
        }
    }
    return (int)exit_code;
}
