import CountersignCore
import CountersignPolicy
import Testing

@Suite("Policy load errors carry file:line:column and a hint")
struct PolicyLoadErrorTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let yaml: String
        let line: Int
        let column: Int
        let message: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "unknown top-level key", yaml: "default_decision: ask\nrulez: []\n", line: 2, column: 1,
            message: "unknown key 'rulez'"),
        Case(
            name: "unknown rule key", yaml: "rules:\n  - id: a\n    decison: allow\n", line: 3, column: 5,
            message: "unknown key 'decison'"),
        Case(
            name: "unknown matcher", yaml: "rules:\n  - id: a\n    decision: allow\n    when: {tool_typo: x}\n",
            line: 4, column: 12, message: "unknown matcher 'tool_typo'"),
        Case(
            name: "matcher outside when", yaml: "rules:\n  - id: a\n    tool: Bash\n    decision: deny\n", line: 3,
            column: 5, message: "unknown key 'tool'"),
        Case(
            name: "unknown approvals key", yaml: "rules:\n  - id: a\n    decision: ask\n    approvals: {qorum: 2}\n",
            line: 4, column: 17, message: "unknown key 'qorum'"),
        Case(
            name: "exact matcher given a list",
            yaml: "rules:\n  - id: a\n    decision: deny\n    when:\n      tool: [a, b]\n", line: 5, column: 13,
            message: "tool must be a string, got a list"),
        Case(
            name: "target_prefix given a list",
            yaml: "rules:\n  - id: a\n    decision: deny\n    when: {target_prefix: [a]}\n", line: 4, column: 27,
            message: "target_prefix must be a string"),
        Case(
            name: "boolean where a string is meant",
            yaml: "rules:\n  - id: a\n    decision: deny\n    when: {tags_any: [yes]}\n", line: 4, column: 23,
            message: "found a boolean"),
        Case(
            name: "empty matcher value", yaml: "rules:\n  - id: a\n    decision: deny\n    when:\n      tool:\n",
            line: 5, column: 12, message: "tool must be a string, got a null"),
        Case(
            name: "arg matcher not a mapping",
            yaml: "rules:\n  - id: a\n    decision: deny\n    when: {arg_regex: x}\n", line: 4, column: 23,
            message: "arg_regex must be a mapping"),
        Case(
            name: "invalid regex",
            yaml: "rules:\n  - id: a\n    decision: deny\n    when:\n      arg_regex:\n        command: \"([a-\"\n",
            line: 6, column: 18, message: "invalid regular expression '([a-'"),
        Case(
            name: "invalid regex in a list",
            yaml: "rules:\n  - id: a\n    decision: deny\n    when:\n      target_regex: [ok, \"(\"]\n", line: 5,
            column: 26, message: "invalid regular expression '('"),
        Case(
            name: "invalid decision", yaml: "rules:\n  - id: a\n    decision: maybe\n", line: 3, column: 15,
            message: "decision must be allow, ask or deny, got 'maybe'"),
        Case(
            name: "invalid default decision", yaml: "default_decision: Allow\n", line: 1, column: 19,
            message: "default_decision must be allow, ask or deny"),
        Case(
            name: "missing decision", yaml: "rules:\n  - id: a\n    when: {tool: x}\n", line: 2, column: 5,
            message: "rule 'a' has no 'decision'"),
        Case(
            name: "duplicate rule ids", yaml: "rules:\n  - id: a\n    decision: allow\n  - id: a\n    decision: deny\n",
            line: 4, column: 9, message: "duplicate rule id 'a' (first used at line 2)"),
        Case(
            name: "generated id collides", yaml: "rules:\n  - decision: allow\n  - id: rule_1\n    decision: deny\n",
            line: 3, column: 9, message: "duplicate rule id 'rule_1'"),
        Case(
            name: "undeclared label",
            yaml: "rules:\n  - id: a\n    decision: deny\n    when: {args_labels_any: [untrustd]}\n", line: 4,
            column: 30, message: "unknown label 'untrustd'"),
        Case(
            name: "undeclared output label", yaml: "labels:\n  - id: s\n    when: {tool: x}\n    output: [pii]\n",
            line: 4, column: 14, message: "unknown label 'pii'"),
        Case(
            name: "approvals on allow", yaml: "rules:\n  - id: a\n    decision: allow\n    approvals: {quorum: 1}\n",
            line: 4, column: 16, message: "approvals only apply to 'ask' rules"),
        Case(
            name: "quorum above reviewers",
            yaml: "rules:\n  - id: a\n    decision: ask\n    approvals: {quorum: 3, reviewers: [a, b]}\n", line: 4,
            column: 25, message: "quorum 3 is more than the 2 reviewers"),
        Case(
            name: "bad timeout", yaml: "rules:\n  - id: a\n    decision: ask\n    approvals: {timeout: soon}\n",
            line: 4, column: 26, message: "timeout must be a duration"),
        Case(
            name: "unknown channel",
            yaml: "rules:\n  - id: a\n    decision: ask\n    approvals: {channels: [tty, slack]}\n", line: 4,
            column: 33, message: "unknown approval channel 'slack'"),
        Case(
            name: "malformed YAML", yaml: "rules:\n  - id: a\n   decision: [allow\n", line: 3, column: 4,
            message: "invalid YAML: did not find expected '-' indicator"),
        Case(
            name: "root is a list", yaml: "- id: a\n  decision: allow\n", line: 1, column: 1,
            message: "a policy must be a mapping, got a list"),
        Case(name: "rules not a list", yaml: "rules: {a: 1}\n", line: 1, column: 8, message: "rules must be a list"),
        Case(
            name: "duplicate key", yaml: "rules:\n  - id: a\n    decision: allow\n    decision: deny\n", line: 3,
            column: 5, message: "duplicate key 'decision' in this mapping"),
        Case(
            name: "alias to a duplicate id",
            yaml: "rules:\n  - id: &a r1\n    decision: allow\n  - id: *a\n    decision: deny\n",
            line: 2, column: 9, message: "duplicate rule id 'r1'"),
        Case(
            name: "merge key of a scalar", yaml: "rules:\n  - <<: 3\n    id: a\n    decision: deny\n", line: 2,
            column: 9,
            message: "a merge key ('<<') takes a mapping or a list of mappings"),
        Case(
            name: "empty arg mapping", yaml: "rules:\n  - id: a\n    decision: deny\n    when: {arg_equals: {}}\n",
            line: 4, column: 24, message: "arg_equals is empty"),
        Case(
            name: "invalid dotted path",
            yaml: "rules:\n  - id: a\n    decision: deny\n    when: {arg_equals: {a..b: 1}}\n", line: 4, column: 25,
            message: "invalid path 'a..b'"),
        Case(
            name: "bad label declaration", yaml: "declared_labels: [\"Not Valid\"]\n", line: 1, column: 19,
            message: "invalid label name 'Not Valid'"),
        Case(
            name: "redeclared built-in label", yaml: "declared_labels: [secret]\n", line: 1, column: 19,
            message: "label 'secret' is already declared (it is built in)"),
        Case(name: "wrong version", yaml: "version: 2\n", line: 1, column: 10, message: "version must be 1"),
    ]

    @Test(arguments: cases)
    func refused(_ c: Case) throws {
        let errors = loadErrors(c.yaml)
        let match = errors.first { $0.message.contains(c.message) }
        #expect(match != nil, "expected '\(c.message)' in \(errors.map(\.description))")
        if let match {
            #expect(match.location.line == c.line, "\(match)")
            #expect(match.location.column == c.column, "\(match)")
            #expect(match.location.file == "p.yaml")
            #expect(match.description.hasPrefix("p.yaml:\(c.line):\(c.column): error: "))
        }
    }

    @Test func aliasesAreRefused() {
        // A "billion laughs" document: each level refers to the previous one ten times.
        var yaml = "a0: &a0 [x]\n"
        for level in 1...9 {
            yaml +=
                "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
                + "]\n"
        }
        let errors = loadErrors(yaml)
        #expect(errors.contains { $0.message.contains("aliases") })
    }

    @Test func unknownKeysSuggestTheClosestName() {
        let errors = loadErrors("rules:\n  - id: a\n    decision: deny\n    when: {tool_glb: [x]}\n")
        #expect(errors.first?.hint?.hasPrefix("did you mean 'tool_glob'?") == true)
    }

    @Test func everyErrorIsReportedNotJustTheFirst() {
        let errors = loadErrors(
            "default_decision: nope\nrules:\n  - id: a\n    decision: maybe\n    when: {tool_x: 1, tool: [1]}\n")
        #expect(errors.count == 4)
    }

    @Test func emptyFileIsAnAskEverythingPolicy() throws {
        let policy = try Policy.parse("", path: "empty.yaml")
        #expect(policy.evaluate(envelope("x")).decision == .ask)
        #expect(policy.evaluate(envelope("x")).ruleID == "default")
    }

    @Test func missingFileIsAnError() {
        #expect(throws: PolicyLoadError.self) { try Policy.load(path: "/nonexistent/policy.yaml") }
    }

    @Test func jsonPoliciesLoad() throws {
        let policy = try Policy.parse(
            #"{"default_decision": "deny", "rules": [{"id": "r", "when": {"tool": "x"}, "decision": "allow"}]}"#)
        #expect(policy.evaluate(envelope("x")).decision == .allow)
        #expect(policy.evaluate(envelope("y")).decision == .deny)
    }

    @Test("hostile policy text never crashes the loader")
    func hostileInputs() {
        var inputs = [
            String(repeating: "[", count: 5000), String(repeating: "- ", count: 3000) + "x",
            String(repeating: "a: ", count: 3000) + "b", "\u{0}\u{1}\u{2}", "rules: !!binary AAAA", "%YAML 9.9\n---\n",
            "rules:\n  - when: {arg_regex: {x: \"(?<=a+)b\"}}\n    decision: deny\n",
            String(repeating: "x", count: 9 * 1024 * 1024),
        ]
        // Mutations of a valid policy: every prefix, and every line dropped in turn.
        let valid = try! String(contentsOfFile: Repo.examples + "/label-flows.yaml", encoding: .utf8)
        let lines = valid.split(separator: "\n", omittingEmptySubsequences: false)
        for cut in stride(from: 0, to: valid.utf8.count, by: 97) { inputs.append(String(valid.utf8.prefix(cut))!) }
        for index in lines.indices {
            inputs.append(lines.enumerated().filter { $0.offset != index }.map(\.element).joined(separator: "\n"))
        }
        for input in inputs {
            // Either it loads or it is refused with located diagnostics; it never traps.
            for diagnostic in loadErrors(input) {
                #expect(diagnostic.location.line >= 1)
                #expect(!diagnostic.message.isEmpty)
            }
        }
    }
}
