import CountersignCore
import CountersignPolicy
import Foundation
import Testing

@Suite("Fixture suites")
struct FixtureSuiteTests {
    static let dualKeySuites = ["dualkey", "claude-code", "openhands", "semantics"]
    static let exampleSuites = [
        "label-flows", "claude-code", "mcp-proxy", "browser-agent", "shell-agent", "payments", "assistant",
    ]

    @Test("DualKey policies and their fixture suites pass unchanged", arguments: dualKeySuites)
    func dualKeyCompatibility(name: String) throws {
        let dir = Repo.fixtures + "/dualkey"
        let policy = try Policy.load(path: "\(dir)/\(name).yaml")
        let suite = try FixtureSuite.load(path: "\(dir)/\(name)-tests.yaml")
        let report = suite.run(against: policy)
        #expect(report.results.count >= 8)
        for result in report.results where !result.passed {
            Issue.record("\(name): \(result.id): \(result.mismatches)")
        }
        #expect(report.failed == 0)
    }

    @Test("example policies pass their suites (at least 8 cases, session cases included)", arguments: exampleSuites)
    func examples(name: String) throws {
        let policy = try Policy.load(path: "\(Repo.examples)/\(name).yaml")
        let suite = try FixtureSuite.load(path: "\(Repo.examples)/\(name)-tests.yaml")
        #expect(suite.count >= 8)
        #expect(!suite.sessions.isEmpty)
        let report = suite.run(against: policy)
        for result in report.results where !result.passed {
            Issue.record("\(name): \(result.id): \(result.mismatches)")
        }
        #expect(report.failed == 0)
        #expect(PolicyLint.check(policy).isEmpty, "example \(name) should lint clean")
    }

    @Test func failingCasesAreReportedWithMismatches() throws {
        let policy = try Policy.parse("rules:\n  - id: r\n    when: {tool: x}\n    decision: allow\n")
        let suite = try FixtureSuite.parse(
            """
            - id: wrong
              action: {actor: a, surface: s, tool: x, intent: i}
              expect: {decision: deny, rule_id: other, reason_contains: nothing}
            - id: right
              action: {actor: a, surface: s, tool: x, intent: i}
              expect: {decision: allow}
            """)
        let report = suite.run(against: policy)
        #expect(report.summary == "1 passed, 1 failed")
        #expect(report.results[0].mismatches.count == 3)
        #expect(suite.run(against: policy, failFast: true).results.count == 1)
    }

    @Test func malformedFixtureFilesAreRefusedWithPositions() {
        let bad: [(String, String)] = [
            ("cases: {a: 1}\n", "cases must be a list"),
            (
                "cases:\n  - id: a\n    action: {actor: a, surface: s, tool: t}\n",
                "invalid action: action field 'intent': is required"
            ),
            (
                "cases:\n  - id: a\n    action: {actor: a, surface: s, tool: t, intent: i}\n    expcet: {decision: allow}\n",
                "unknown key 'expcet'"
            ),
            (
                "cases:\n  - id: a\n    action: {actor: a, surface: s, tool: t, intent: i}\n    expect: {decision: yes}\n",
                "expect.decision must be allow, ask or deny"
            ),
            ("sessions:\n  - id: s\n    steps: []\n", "needs a non-empty 'steps' list"),
            ("nothing: here\n", "unknown key 'nothing'"),
            ("", "fixture file is empty"),
        ]
        for (text, message) in bad {
            do {
                _ = try FixtureSuite.parse(text, path: "cases.yaml")
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.diagnostics.contains { $0.message.contains(message) }, "\(error)")
                #expect(error.diagnostics.allSatisfy { $0.location.file == "cases.yaml" })
            }
        }
    }
}
