import CountersignCore
import CountersignPolicy
import Foundation

/// Paths to the repository's files, found from this source file (tests run from any directory).
enum Repo {
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    static let fixtures = path("Tests/CountersignPolicyTests/Fixtures")
    static let examples = path("examples/policies")
}

func envelope(_ tool: String, surface: String = "shell", intent: String = "execute", args: [String: JSONValue] = [:])
    -> ActionEnvelope
{
    ActionEnvelope(
        actor: "agent", surface: surface, tool: tool, intent: intent, args: args, createdAt: "2026-01-01T00:00:00Z")
}

/// Loads a policy from text and returns its error diagnostics (empty when it loads).
func loadErrors(_ text: String) -> [Diagnostic] {
    do {
        _ = try Policy.parse(text, path: "p.yaml")
        return []
    } catch {
        return error.diagnostics
    }
}
