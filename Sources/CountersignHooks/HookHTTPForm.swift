import CountersignCore
import CountersignPolicy
import Foundation

extension HookRunner {
    /// Answers one hook call for an agent that posts it over HTTP (Claude Code's `"type": "http"` hooks).
    /// There no exit code blocks: a 2xx JSON body is read like a command's stdout, and anything else is a
    /// non-blocking error. So where the command form blocks with exit code 2, this answers the blocking
    /// JSON of the agent's schema instead: a deny for a deciding event, `decision: block` otherwise.
    public func runForHTTP(_ input: Data) async -> (command: HookResult, http: String) {
        let result = await run(input)
        return (result, Self.httpBody(result, dialect: dialect, input: input))
    }

    static func httpBody(_ result: HookResult, dialect: HookDialect, input: Data) -> String {
        guard result.exitCode != 0 else {
            let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? "{}" : text
        }
        let reason = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        let event = rawField("hook_event_name", in: String(decoding: input.prefix(1 << 20), as: UTF8.self))
        if let event, [.decide, .permissionRequest].contains(dialect.stage(event)) {
            if dialect.stage(event) == .permissionRequest {
                return CanonicalJSON.string([
                    "hookSpecificOutput": [
                        "hookEventName": .string(event),
                        "decision": ["behavior": "deny", "message": .string(reason), "interrupt": false],
                    ]
                ])
            }
            let denied = dialect.answer(
                event, PolicyOutcome(decision: .deny, ruleID: "countersign:blocked", reason: reason))
            return denied.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return CanonicalJSON.string(["decision": "block", "reason": .string(reason)])
    }
}
