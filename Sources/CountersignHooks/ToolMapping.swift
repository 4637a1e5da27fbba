import CountersignCore

/// How a coding agent's tool call becomes an action envelope (docs/hooks.md has the table).
enum ToolMapping {
    struct Mapped {
        var surface: String
        var intent: String
        var target: String?
        var risk: Set<String>
        var actorSuffix: String?
    }

    /// Shell tools, whose `command` is the action.
    static let shellTools: Set<String> = ["Bash", "shell", "exec_command", "local_shell", "run_shell_command", "Shell"]

    /// Splits a tool's input into the action's parameters and the agent's narration — free text the agent
    /// writes about the call (Claude Code's and Gemini's `description` of a shell command, Codex's
    /// `justification`). Narration is recorded in `metadata.narration` but never gates a decision: words the
    /// agent read on a page and reuses to describe the user's own command must not taint that command.
    /// A command given as an argv array is judged whole, as the shell would run it (the array is kept in
    /// `metadata.argv`).
    static func split(tool: String, input: [String: JSONValue]) -> (
        arguments: [String: JSONValue], narration: [String: JSONValue], argv: JSONValue?
    ) {
        var arguments = input
        var narration: [String: JSONValue] = [:]
        var keys = ["justification"]
        if shellTools.contains(tool) { keys += ["description", "sandbox_permissions_justification"] }
        for key in keys {
            if let value = arguments.removeValue(forKey: key) { narration[key] = value }
        }
        var argv: JSONValue?
        if case .array(let items)? = arguments["command"] {
            argv = .array(items)
            arguments["command"] = .string(ShellQuote.join(items.map { $0.stringValue ?? PythonText.str($0) }))
        }
        return (arguments, narration, argv)
    }

    static func map(tool: String, input: [String: JSONValue]) -> Mapped {
        func string(_ keys: String...) -> String? {
            for key in keys { if let s = input[key]?.stringValue, !s.isEmpty { return s } }
            return nil
        }
        var mapped: Mapped
        switch tool {
        case _ where shellTools.contains(tool):
            mapped = Mapped(surface: "shell", intent: "execute", target: string("command"), risk: ["shell"])
        case "Read", "Glob", "Grep", "LS", "NotebookRead", "read_file", "read_many_files", "list_directory", "glob",
            "search_file_content":
            mapped = Mapped(
                surface: "file", intent: "read",
                target: string("file_path", "absolute_path", "path", "notebook_path", "pattern"), risk: ["read-only"])
        case "Write", "Edit", "MultiEdit", "NotebookEdit", "apply_patch", "write_file", "replace":
            mapped = Mapped(
                surface: "file", intent: "write", target: string("file_path", "notebook_path", "path"), risk: ["write"])
        case "WebFetch", "web_fetch":
            mapped = Mapped(
                surface: "network", intent: "read", target: string("url", "prompt"), risk: ["network", "open-world"])
        case "WebSearch", "google_web_search":
            mapped = Mapped(
                surface: "network", intent: "read", target: string("query"), risk: ["network", "open-world"])
        case "Task", "Agent":
            mapped = Mapped(
                surface: "agent", intent: "delegate", target: string("description", "subagent_type"),
                risk: ["multi-agent"])
        case "TodoWrite":
            mapped = Mapped(surface: "agent", intent: "write", target: nil, risk: [])
        case "AskUserQuestion", "ExitPlanMode":
            mapped = Mapped(surface: "agent", intent: "prompt", target: nil, risk: ["human-loop"])
        default:
            if tool.hasPrefix("mcp_") {
                // Claude/Codex/Cursor: mcp__server__tool; Gemini: mcp_server_tool.
                let parts = tool.split(separator: "_", omittingEmptySubsequences: true)
                mapped = Mapped(
                    surface: "mcp", intent: "invoke", target: string("path", "url", "uri", "command", "query"),
                    risk: ["mcp"])
                mapped.actorSuffix = parts.count > 1 ? String(parts[1]) : nil
            } else {
                mapped = Mapped(
                    surface: "tool", intent: input["command"] != nil ? "execute" : "invoke",
                    target: string("path", "url", "command"), risk: [])
            }
        }
        mapped.risk.formUnion(RiskTags.scan(input))
        return mapped
    }
}
