#!/usr/bin/env python3
"""Hook latency side by side: the signer service's HTTP hook, the thin command hook, the embedded hook
(docs/performance.md, "Hooks through the signer service").

Usage: scripts/perf/hook-signer.py --bin DIR --static-hook PATH [--calls 500] [--warmup 20] [--client PATH]
                                   [--also-client PATH]
DIR holds release builds of `countersign` and `countersign-hook-client`; PATH is the static `countersign-hook`;
--client runs another build of `countersign-hook-client` (e.g. the lean one, `cc -O2 -o … main.c`, that
scripts/install ships); --also-client adds a second thin command hook and its start floor to the same run
(e.g. SwiftPM's release build of the client, which it links with the Swift runtime).

Two throwaway projects (`countersign init`, the starter policy, SQLite ledger and session store, a trust file
under a temporary XDG_CONFIG_HOME). In the first, `countersign serve --socket T/s.sock --listen 127.0.0.1:0`
answers:
  - HTTP hook, keep-alive: POST /v1/hooks/claude-code over one kept-alive http.client connection (what
    Claude Code's "type": "http" hook sends);
  - HTTP hook, new connection: the same, with a new TCP connection per request (connect included);
  - thin command hook: one `countersign-hook-client claude-code --signer unix:T/s.sock` process per call;
  - the thin hook's request without its process: the same POST on a new unix-socket connection, from Python.
In the second project the static `countersign-hook claude-code` answers on its own (one process per call).
Floors: one `/bin/true` process per call (process start, same subprocess call as the hooks), one
`countersign-hook-client --help` (the client's own start, no connection) and a GET /healthz round trip on
the kept-alive connection.
Every call is a PreToolUse for Bash `ls` (allowed by the starter policy; the decision receipt is committed
before the answer), with a distinct session_id and tool_use_id. The variants take turns call by call (in a
rotating order), so load from elsewhere on the machine falls on all of them alike and the service sits idle
for a process spawn or two between requests, as between an agent's tool calls; --blocks runs each variant's
calls back to back instead. Each answer must be an
allow; at the end each ledger must hold exactly the expected number of decision receipts and verify.
"""
import argparse, http.client, json, os, re, shutil, socket, subprocess, sys, tempfile, threading, time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--bin", required=True, help="directory with countersign and countersign-hook-client")
parser.add_argument("--static-hook", required=True, help="the static countersign-hook executable")
parser.add_argument("--client", help="another countersign-hook-client (default: the one in --bin)")
parser.add_argument("--also-client", help="a second countersign-hook-client, measured in the same run")
parser.add_argument("--calls", type=int, default=500)
parser.add_argument("--warmup", type=int, default=20)
parser.add_argument("--blocks", action="store_true",
                    help="run each variant's calls back to back instead of taking turns call by call")
parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
args = parser.parse_args()

countersign = os.path.abspath(os.path.join(args.bin, "countersign"))
client = os.path.abspath(args.client or os.path.join(args.bin, "countersign-hook-client"))
static_hook = os.path.abspath(args.static_hook)
also_client = os.path.abspath(args.also_client) if args.also_client else None
for path in (countersign, client, static_hook) + ((also_client,) if also_client else ()):
    assert os.access(path, os.X_OK), f"not an executable: {path}"
help_text = subprocess.run([countersign, "serve", "--help"], capture_output=True, text=True).stdout
assert "--socket" in help_text, "this countersign has no signer service (serve --socket)"

work = tempfile.mkdtemp(prefix="hook-signer-")
env = {**os.environ, "XDG_CONFIG_HOME": os.path.join(work, "xdg")}
env.pop("COUNTERSIGN_SIGNER", None); env.pop("COUNTERSIGN_HOME", None)
signer_project, embedded_project = os.path.join(work, "signer"), os.path.join(work, "embedded")
for project in (signer_project, embedded_project):
    os.makedirs(project)
    subprocess.run([countersign, "init"], cwd=project, env=env, capture_output=True, check=True)
embedded_env = {**env, "COUNTERSIGN_HOME": os.path.join(embedded_project, ".countersign")}
socket_path = os.path.join(work, "s.sock")

server = subprocess.Popen([countersign, "serve", "--socket", socket_path, "--listen", "127.0.0.1:0"],
                          cwd=signer_project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
port, unix_ready, deadline = None, False, time.monotonic() + 30
while port is None or not unix_ready:  # "listening on http://127.0.0.1:PORT …" and "listening on unix:PATH"
    assert time.monotonic() < deadline, "countersign serve did not start listening"
    line = server.stdout.readline()
    assert line, f"countersign serve exited: {server.stderr.read()}"
    if "listening on http://" in line: port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))
    if "listening on unix:" in line: unix_ready = True
for stream in (server.stdout, server.stderr):  # keep the service's output drained
    threading.Thread(target=lambda s=stream: [None for _ in s], daemon=True).start()

def payload(variant, i):
    return json.dumps({"session_id": f"bench-{variant}-{i}", "transcript_path": "/tmp/t.jsonl", "cwd": "/repo",
                       "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
                       "tool_input": {"command": "ls"}, "tool_use_id": f"toolu_{variant}_{i}"}).encode()

def check_allow(text, what):
    answer = json.loads(text)
    assert answer["hookSpecificOutput"]["permissionDecision"] == "allow", f"{what}: {answer}"

headers = {"Content-Type": "application/json", "Host": f"127.0.0.1:{port}"}
kept = http.client.HTTPConnection("127.0.0.1", port)

def http_keepalive(i):
    body = payload("httpka", i)
    start = time.perf_counter()
    kept.request("POST", "/v1/hooks/claude-code", body, headers)
    response = kept.getresponse(); text = response.read()
    elapsed = time.perf_counter() - start
    assert response.status == 200, (response.status, text)
    check_allow(text, "HTTP hook"); return elapsed

def http_new_connection(i):
    body = payload("httpnew", i)
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("POST", "/v1/hooks/claude-code", body, headers)
    response = connection.getresponse(); text = response.read()
    elapsed = time.perf_counter() - start
    connection.close()
    assert response.status == 200, (response.status, text)
    check_allow(text, "HTTP hook (new connection)"); return elapsed

def unix_direct(i):  # what the thin client sends, from this process: no client process to start
    body = payload("unix", i)
    request = (f"POST /v1/hooks/claude-code?form=process HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    start = time.perf_counter()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(socket_path)
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536): chunks.append(chunk)
    elapsed = time.perf_counter() - start
    head, _, text = b"".join(chunks).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"x-countersign-hook-exit: 0" in head.lower(), head
    check_allow(text, "HTTP hook over the unix socket"); return elapsed

def spawn(command, body, cwd, environment, what, allow=True):
    start = time.perf_counter()
    done = subprocess.run(command, input=body, cwd=cwd, env=environment, capture_output=True)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, f"{what}: exit {done.returncode}: {done.stderr.decode()}"
    if allow: check_allow(done.stdout, what)
    return elapsed

def thin(i):
    return spawn([client, "claude-code", "--signer", f"unix:{socket_path}"], payload("thin", i), signer_project, env,
                 "thin command hook")

def thin_also(i):
    return spawn([also_client, "claude-code", "--signer", f"unix:{socket_path}"], payload("thinalso", i), signer_project,
                 env, "thin command hook (--also-client)")

def embedded(i):
    return spawn([static_hook, "claude-code"], payload("embedded", i), embedded_project, embedded_env, "embedded hook")

def true_floor(i):
    return spawn(["/bin/true"], payload("true", i), work, env, "/bin/true", allow=False)

def client_start(i):  # the thin client's own start: parses its arguments, prints its usage, exits; no connect
    return spawn([client, "--help"], payload("clientstart", i), work, env, "countersign-hook-client --help", allow=False)

def also_client_start(i):
    return spawn([also_client, "--help"], payload("alsostart", i), work, env, "--also-client --help", allow=False)

def healthz(i):
    start = time.perf_counter()
    kept.request("GET", "/healthz", headers={"Host": headers["Host"]})
    response = kept.getresponse(); response.read()
    elapsed = time.perf_counter() - start
    assert response.status == 200, response.status
    return elapsed

variants = [("HTTP hook, kept-alive connection", http_keepalive), ("HTTP hook, new connection per call", http_new_connection),
            ("thin command hook (countersign-hook-client, unix socket)", thin),
            ("the thin hook's request sent from Python (unix socket, no process)", unix_direct),
            ("embedded hook (static countersign-hook)", embedded),
            ("floor: /bin/true spawn", true_floor), ("floor: countersign-hook-client --help (start only)", client_start),
            ("floor: GET /healthz, kept-alive", healthz)]
if also_client:
    variants += [("thin command hook, --also-client", thin_also),
                 ("floor: --also-client --help (start only)", also_client_start)]
service_calls = 5 if also_client else 4  # variants whose decisions the service records
times = {name: [] for name, _ in variants}
load_before = os.getloadavg()
began = time.monotonic()
rounds = range(args.warmup + args.calls)
if args.blocks: order = [(i, variants[k]) for k in range(len(variants)) for i in rounds]
else: order = [(i, variants[(i + k) % len(variants)]) for i in rounds for k in range(len(variants))]  # rotating
for i, (name, run) in order:
    elapsed = run(i)
    if i >= args.warmup: times[name].append(elapsed * 1000)
wall = time.monotonic() - began
load_after = os.getloadavg()
kept.close()
server.terminate(); server.wait(timeout=15)

def count_decisions(project, environment):
    out = subprocess.run([countersign, "receipts", "--format", "jsonl", "--kind", "decision"], cwd=project,
                         env=environment, capture_output=True, text=True, check=True).stdout
    receipts = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert all(r["decision"] == "allow" for r in receipts), "a decision receipt that is not an allow"
    return len(receipts)

def verify(project, environment):
    done = subprocess.run([countersign, "verify"], cwd=project, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, f"verify failed in {project}: {done.stdout}{done.stderr}"

total = args.warmup + args.calls
signer_count, embedded_count = count_decisions(signer_project, env), count_decisions(embedded_project, embedded_env)
assert signer_count == service_calls * total, \
    f"signer ledger: {signer_count} decision receipts, expected {service_calls * total}"
assert embedded_count == total, f"embedded ledger: {embedded_count} decision receipts, expected {total}"
verify(signer_project, env); verify(embedded_project, embedded_env)

def pct(values, q):  # nearest rank
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * q // 100) - 1))]

print(f"{args.calls} calls each after {args.warmup} warm-up calls, "
      f"{'each variant back to back' if args.blocks else 'variants taking turns'}; {wall:.1f} s; "
      f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; {os.cpu_count()} CPUs")
print(f"| {'variant':<68} | median ms | p90 ms | p99 ms | min ms |")
print(f"|{'-' * 70}|-----------|--------|--------|--------|")
for name, _ in variants:
    values = times[name]
    print(f"| {name:<68} | {pct(values, 50):9.2f} | {pct(values, 90):6.2f} | {pct(values, 99):6.2f} | {min(values):6.2f} |")
median = {name: pct(values, 50) for name, values in times.items()}
floor, start = median["floor: /bin/true spawn"], median["floor: countersign-hook-client --help (start only)"]
thin_median, embedded_median = median[variants[2][0]], median[variants[4][0]]
print(f"medians: thin hook = /bin/true {floor:.2f} + the client's own start {start - floor:.2f} "
      f"+ forwarding and the service {thin_median - start:.2f} ms (the same request from Python: "
      f"{median[variants[3][0]]:.2f} ms); embedded hook minus /bin/true: "
      f"{embedded_median - floor:.2f} ms; HTTP hook minus GET /healthz: "
      f"{median[variants[0][0]] - median['floor: GET /healthz, kept-alive']:.2f} ms")
if also_client:
    also, also_start = median["thin command hook, --also-client"], median["floor: --also-client --help (start only)"]
    print(f"--also-client: thin hook {also:.2f} ms = /bin/true {floor:.2f} + its own start {also_start - floor:.2f} "
          f"+ forwarding and the service {also - also_start:.2f} ms")
print(f"ledgers: signer {signer_count} decision receipts (expected {service_calls * total}), embedded {embedded_count} "
      f"(expected {total}); both verify")
if args.keep: print(f"kept {work}")
else: shutil.rmtree(work, ignore_errors=True)
