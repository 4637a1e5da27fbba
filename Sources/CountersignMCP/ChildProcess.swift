import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The MCP server, started with a cleared environment (only the names allowed through), its stdin and
/// stdout on pipes the proxy owns, and its stderr appended to a log file instead of reaching the client.
public struct ChildProcess: Sendable {
    public let pid: pid_t
    /// The proxy's ends: write to the server's stdin, read from its stdout.
    public let stdinFD: Int32
    public let stdoutFD: Int32

    public struct SpawnError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Bare command names are resolved against the proxy's own PATH before the environment is cleared.
    public static func spawn(
        _ argv: [String], allowEnvironment names: [String], stderrPath: String
    ) throws -> ChildProcess {
        guard let command = argv.first, !command.isEmpty else {
            throw SpawnError(description: "no server command was given after '--'")
        }
        let parent = ProcessInfo.processInfo.environment
        let path = try resolve(command, searchPath: parent["PATH"] ?? "/usr/bin:/bin")
        var environment: [String] = []
        for name in names {
            guard let value = parent[name] else {
                throw SpawnError(description: "--allow-env \(name): the variable is not set in this environment")
            }
            environment.append("\(name)=\(value)")
        }

        let toChild = try makePipe()
        let fromChild: [Int32]
        do { fromChild = try makePipe() } catch {
            close(toChild[0])
            close(toChild[1])
            throw error
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The proxy ignores SIGPIPE (NIO does); the server should get the default behaviour back.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var pid: pid_t = 0
        let status = withCStrings(argv) { cArgs in
            withCStrings(environment) { cEnv in
                posix_spawn(&pid, path, &actions, &attributes, cArgs, cEnv)
            }
        }
        close(toChild[0])
        close(fromChild[1])
        guard status == 0 else {
            close(toChild[1])
            close(fromChild[0])
            throw SpawnError(description: "cannot start \(command): \(String(cString: strerror(status)))")
        }
        return ChildProcess(pid: pid, stdinFD: toChild[1], stdoutFD: fromChild[0])
    }

    static func resolve(_ command: String, searchPath: String) throws -> String {
        if command.contains("/") {
            guard access(command, X_OK) == 0 else {
                throw SpawnError(description: "cannot run \(command): not an executable file")
            }
            return command
        }
        for directory in searchPath.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(command)"
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw SpawnError(description: "cannot find '\(command)' on PATH")
    }

    /// Waits for the server to exit, without blocking a Swift concurrency thread. Returns its exit
    /// status (128 + signal number when killed by a signal).
    public func waitForExit() async -> Int32 {
        let pid = self.pid
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                let exited = status & 0x7F == 0
                continuation.resume(returning: exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F))
            }
        }
    }

    public func signal(_ signal: Int32) {
        kill(pid, signal)
    }
}

/// A pipe whose ends are closed on exec (the child gets only the copies dup2 puts on 0 and 1).
func makePipe() throws -> [Int32] {
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else { throw ChildProcess.SpawnError(description: "pipe: \(errnoText())") }
    for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return ends
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// Runs `body` with a NULL-terminated C array of the strings.
func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    var pointers = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers)
}
