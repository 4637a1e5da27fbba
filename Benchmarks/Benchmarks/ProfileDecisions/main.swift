// Evaluates a fall-through envelope against a generated 200-rule policy N times (default 200,000).
// Usage: ProfileDecisions [iterations]
import CountersignCore
import CountersignPolicy
import Foundation

var yaml = "default_decision: ask\nrules:\n"
for i in 0..<200 {
    switch i % 8 {
    case 0: yaml += "  - {id: r\(i), when: {tool: tool\(i), intent: read}, decision: allow}\n"
    case 1: yaml += "  - {id: r\(i), when: {tool_glob: [\"svc\(i).*\"], tags_any: [risk\(i)]}, decision: ask}\n"
    case 2: yaml += "  - {id: r\(i), when: {surface: shell, command_matches: [\"cmd\(i) \"]}, decision: deny}\n"
    case 3: yaml += "  - {id: r\(i), when: {target_glob: [\"/data/\(i)/*\"], intent: write}, decision: ask}\n"
    case 4:
        yaml +=
            "  - {id: r\(i), when: {tool_in: [a\(i), b\(i)], arg_regex: {command: \"^run\(i)\\\\s+--force\"}}, decision: deny}\n"
    case 5: yaml += "  - {id: r\(i), when: {metadata_equals: {team: t\(i)}, intent: send}, decision: ask}\n"
    case 6:
        yaml +=
            "  - {id: r\(i), when: {actor: agent\(i), arg_prefix: {url: [\"https://h\(i).example/\"]}}, decision: allow}\n"
    default: yaml += "  - {id: r\(i), when: {target_prefix: /srv/\(i)/, tags_none: [prod]}, decision: allow}\n"
    }
}
let policy = try! Policy.parse(yaml)
let envelope = ActionEnvelope(
    actor: "agent", surface: "shell", tool: "unknown", intent: "execute", args: ["command": "ls -la /tmp"],
    createdAt: "2026-01-01T00:00:00Z")
let iterations = CommandLine.arguments.dropFirst().lazy.compactMap { Int($0) }.first ?? 200_000
let start = DispatchTime.now().uptimeNanoseconds
var allowed = 0
for _ in 0..<iterations where policy.evaluate(envelope).decision == .allow { allowed += 1 }
let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(iterations)
print("\(policy.evaluate(envelope).ruleID): \(String(format: "%.0f", elapsed)) ns/decision (\(allowed))")
