import CountersignCore
import CountersignPolicy
import Foundation
import Testing

/// Matching that fails closed: a regex that errs or runs too long counts as a match for deny and ask rules
/// and as no match for allow rules; paths are matched normalised.
@Suite("Fail-closed matching")
struct FailClosedMatchingTests {
    // A pattern that backtracks exponentially on a long run of `a` followed by something else.
    let policy = try! Policy.parse(
        """
        default_decision: ask
        rules:
          - id: deny_bad
            when: {arg_regex: {command: "^(a|aa)+$"}}
            decision: deny
          - id: allow_plain
            when: {arg_regex: {text: "^(a|aa)+$"}}
            decision: allow
          - id: allow_repo
            when: {intent: write, target_glob: ["/repo/*", "./*"]}
            decision: allow
          - id: ssh_denied
            when: {arg_glob: {file_path: "*/.ssh/*"}}
            decision: deny
        """)

    @Test func aRegexThatRunsTooLongMatchesADenyRule() {
        let hostile = String(repeating: "a", count: 64) + "!"
        let outcome = policy.evaluate(
            ActionEnvelope(
                actor: "x", surface: "shell", tool: "t", intent: "execute", args: ["command": .string(hostile)]))
        #expect(outcome.decision == .deny)
        #expect(outcome.ruleID == "deny_bad")
        #expect(outcome.faults.count == 1)
        #expect(outcome.faults.first?.contains("ran longer than") == true)
    }

    @Test func aRegexThatRunsTooLongDoesNotMatchAnAllowRule() {
        let hostile = String(repeating: "a", count: 64) + "!"
        let outcome = policy.evaluate(
            ActionEnvelope(actor: "x", surface: "shell", tool: "t", intent: "execute", args: ["text": .string(hostile)])
        )
        #expect(outcome.decision == .ask)
        #expect(outcome.ruleID == "default")
        #expect(!outcome.faults.isEmpty)
    }

    @Test func anEngineErrorOnAHugeInputFailsClosed() {
        // ICU's backtrack stack overflows on a megabyte for this pattern.
        let deny = try! Policy.parse(
            """
            rules:
              - {id: d, when: {arg_regex: {command: "(a|b)*c"}}, decision: deny}
              - {id: ok, when: {tool: t}, decision: allow}
            """)
        let outcome = deny.evaluate(
            ActionEnvelope(
                actor: "x", surface: "shell", tool: "t", intent: "execute",
                args: ["command": .string(String(repeating: "a", count: 1_000_000))]))
        #expect(outcome.decision == .deny)
        #expect(!outcome.faults.isEmpty)
    }

    @Test(
        "paths are matched normalised",
        arguments: [
            ("/repo/../root/.bashrc", nil, Decision.ask), ("/repo/./../etc/passwd", nil, .ask),
            ("/repo//../x", nil, .ask),
            ("/repo/sub/../../etc/x", nil, .ask), ("../../etc/passwd", "/repo", .ask),
            ("/repo/src/a.swift", nil, .allow),
            ("src/a.swift", "/repo", .allow), ("./src/a.swift", nil, .allow), ("./src/../../x", nil, .ask),
        ] as [(String, String?, Decision)])
    func paths(target: String, cwd: String?, expected: Decision) {
        var metadata: [String: JSONValue] = [:]
        if let cwd { metadata["cwd"] = .string(cwd) }
        let outcome = policy.evaluate(
            ActionEnvelope(
                actor: "x", surface: "file", tool: "Write", intent: "write", target: target, metadata: metadata))
        #expect(outcome.decision == expected, "\(target)")
    }

    @Test func pathArgumentsAreMatchedNormalised() {
        for path in ["/home/u/x/../.ssh/id_rsa", "/home/u/.ssh/./id_rsa", "~/.ssh/../.ssh/id_rsa"] {
            let outcome = policy.evaluate(
                ActionEnvelope(
                    actor: "x", surface: "file", tool: "Read", intent: "read", args: ["file_path": .string(path)]))
            #expect(outcome.decision == .deny, "\(path)")
        }
    }
}
