// Shared by the benchmark executables: the generated 200-rule policy and its envelope mix.
import CountersignCore
import CountersignPolicy
import CountersignProvenance

/// 200 rules of every matcher kind; the mix hits early, middle and late rules and falls through.
public func generatedPolicy() -> (Policy, [(ActionEnvelope, SessionState?)]) {
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
    let policy = try! Policy.parse(yaml, path: "generated-200.yaml")
    func env(
        _ tool: String, _ surface: String = "shell", _ intent: String = "execute", target: String? = nil,
        args: [String: JSONValue] = [:], risk: [String] = [], metadata: [String: JSONValue] = [:]
    ) -> (ActionEnvelope, SessionState?) {
        (
            ActionEnvelope(
                actor: "agent", surface: surface, tool: tool, intent: intent, target: target, args: args, risk: risk,
                metadata: metadata, createdAt: "2026-01-01T00:00:00Z"), nil
        )
    }
    let mix = [
        env("tool0", "shell", "read"),  // rule 1
        env("svc9.x", risk: ["risk9"]),  // rule 10
        env("sh", args: ["command": "cmd98 --all"]),  // rule 99
        env("a100", args: ["command": "run100 --force"]),  // rule 101
        env("w", "file", "write", target: "/data/195/file"),  // rule 196
        env("x", "net", "send", metadata: ["team": "t197"]),  // rule 198
        env("unknown", args: ["command": "ls -la /tmp"]),  // falls through all 200
        env("tool8", "shell", "write"),  // indexed tool, falls through
    ]
    return (policy, mix)
}
