#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension HookProcess {
    /// Makes a crash answer like every other failure: exit code 2 with a reason on stderr. A Swift runtime
    /// trap or a fault would otherwise end the process with a signal, which agents treat as a non-blocking
    /// error and run the tool. The handler only calls async-signal-safe functions (`write`, `_exit`).
    public static func installCrashGuard() {
        for signal in [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE] {
            var action = sigaction()
            #if canImport(Glibc)
                action.__sigaction_handler.sa_handler = crashHandler
            #else
                action.__sigaction_u.__sa_handler = crashHandler
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signal, &action, nil)
        }
    }
}

private func crashHandler(_ signal: Int32) {
    let message: StaticString = "Countersign blocked this call: the hook crashed (internal error)\n"
    _ = message.withUTF8Buffer { write(2, $0.baseAddress, $0.count) }
    _exit(2)
}
