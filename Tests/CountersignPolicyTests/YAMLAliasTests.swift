import CountersignCore
import CountersignPolicy
import Foundation
import Testing

/// Anchors, aliases and merge keys load as PyYAML loads them (a DualKey policy may use them), and an alias
/// bomb is refused quickly with a clear error instead of expanding.
@Suite("YAML anchors and aliases")
struct YAMLAliasTests {
    @Test func aliasesAndMergeKeysDecideLikeTheExpandedPolicy() throws {
        let withAliases = try Policy.parse(
            """
            default_decision: deny
            rules:
              - id: reads
                when: &reads {intent: read, tool_in: &tools [Read, Grep]}
                decision: allow
              - id: same_reads_again
                when: *reads
                decision: deny
              - &base {id: base, when: {tool_in: *tools, intent: write}, decision: ask}
              - <<: *base
                id: derived
                when: {tool: Edit}
            """)
        let expanded = try Policy.parse(
            """
            default_decision: deny
            rules:
              - {id: reads, when: {intent: read, tool_in: [Read, Grep]}, decision: allow}
              - {id: same_reads_again, when: {intent: read, tool_in: [Read, Grep]}, decision: deny}
              - {id: base, when: {tool_in: [Read, Grep], intent: write}, decision: ask}
              - {id: derived, when: {tool: Edit}, decision: ask}
            """)
        for (tool, intent) in [("Read", "read"), ("Grep", "write"), ("Edit", "write"), ("Bash", "execute")] {
            let action = ActionEnvelope(actor: "a", surface: "file", tool: tool, intent: intent)
            let a = withAliases.evaluate(action)
            let b = expanded.evaluate(action)
            #expect(a.decision == b.decision && a.ruleID == b.ruleID, "\(tool) \(intent)")
        }
    }

    static func billionLaughs() -> String {
        var lines: [String] = []
        for level in 1...9 {
            let item = level == 1 ? "lol" : "*l\(level - 1)"
            lines.append("l\(level): &l\(level) [" + Array(repeating: item, count: 10).joined(separator: ", ") + "]")
        }
        return lines.joined(separator: "\n") + "\nrules: []\n"
    }

    static func mappingsOfMappings() -> String {
        var lines = ["a: &a {x: 1, y: 2, z: 3, w: 4}"]
        for level in 1...12 {
            let previous = level == 1 ? "a" : "b\(level - 1)"
            lines.append("b\(level): &b\(level) {p: *\(previous), q: *\(previous)}")
        }
        return lines.joined(separator: "\n") + "\nrules: []\n"
    }

    @Test("alias bombs are refused quickly", arguments: [billionLaughs(), mappingsOfMappings()])
    func aliasBomb(yaml: String) {
        let start = ContinuousClock.now
        do {
            _ = try Policy.parse(yaml)
            Issue.record("an alias bomb loaded")
        } catch {
            #expect(error.description.contains("aliases expand to more than"))
        }
        #expect(ContinuousClock.now - start < .seconds(2))
    }
}
