import CountersignCore
import Foundation

/// Wires `countersign hook` into an agent's settings file, and takes it out again.
///
/// Our entries are recognised by their command (Countersign's hook for this agent), so installing twice
/// changes nothing and uninstalling removes exactly those entries (and containers left empty), keeping
/// everything else. The command is written shell-quoted (agents run it with `sh -c`), with each agent's
/// fail-closed setting where it has one and a timeout longer than the longest approval wait.
public struct HookInstaller: Sendable {
    public enum Scope: String, Sendable, CaseIterable { case user, project }

    public let dialect: HookDialect
    public let scope: Scope
    public let home: String
    public let project: String
    /// The command the agent will run, shell-quoted, e.g.
    /// `'/opt/cs/countersign-hook' claude-code --policy '/my project/.countersign/policy.yaml' …`.
    public let command: String
    /// Seconds the agent waits for one hook call before giving up.
    public let timeoutSeconds: Int
    /// Claude Code only: the signer service's hook URL, written as a `"type": "http"` hook (no process per
    /// call) instead of the command.
    public var httpURL: String?

    /// `arguments` are the program and its arguments as they should reach it; they are quoted here.
    public init(
        dialect: HookDialect, scope: Scope, home: String, project: String, arguments: [String], timeoutSeconds: Int
    ) {
        self.dialect = dialect
        self.scope = scope
        self.home = home
        self.project = project
        self.command = ShellQuote.join(arguments)
        self.timeoutSeconds = timeoutSeconds
    }

    /// The timeout to write: the longest second-key wait a policy allows (or the default wait of five
    /// minutes), plus a minute for the decision itself, so the agent never gives up on a hook that is still
    /// waiting for a reviewer.
    public static func timeout(longestApprovalWait: Double?) -> Int {
        Int((longestApprovalWait ?? 300).rounded(.up)) + 60
    }

    /// What the agent does when the hook cannot answer (cannot start, times out, exits with another code),
    /// and what `install` therefore writes or warns about. docs/hooks.md has the table.
    public var failClosedWarning: String? {
        switch dialect {
        case .claudeCode: return nil  // "onFailure": "block" (Claude Code 2.1.295 and later)
        case .codex:
            return "Codex CLI has no setting that blocks a tool call when its hook cannot start or times out; "
                + "a hook that exits 2 blocks, anything else lets the call run. Keep countersign-hook on the PATH "
                + "the agent sees, and pair the hook with `countersign mcp proxy` for MCP servers."
        case .gemini:
            return "Gemini CLI has no setting that blocks a tool call when its hook cannot start or times out; "
                + "only exit code 2 (or a deny answer) blocks."
        case .cursor:
            return "Cursor has no setting that blocks a tool call when its hook cannot start or times out, and "
                + "its Auto-review mode has been reported to ignore `ask`; only a deny answer is sure to block."
        }
    }

    /// The settings file for this agent and scope.
    public var settingsPath: String {
        let base = scope == .user ? home : project
        switch dialect {
        case .claudeCode: return base + "/.claude/settings.json"
        case .codex: return base + "/.codex/hooks.json"
        case .gemini: return base + "/.gemini/settings.json"
        case .cursor: return base + "/.cursor/hooks.json"
        }
    }

    /// The events we hook.
    var events: [String] {
        switch dialect {
        case .claudeCode:
            return [
                "PreToolUse", "PermissionRequest", "PostToolUse", "PostToolUseFailure", "PermissionDenied",
                "UserPromptSubmit",
            ]
        case .codex: return ["PreToolUse", "PermissionRequest", "PostToolUse", "UserPromptSubmit"]
        case .gemini: return ["BeforeTool", "AfterTool", "BeforeAgent"]
        case .cursor:
            return [
                "beforeShellExecution", "beforeMCPExecution", "beforeReadFile", "afterShellExecution",
                "afterMCPExecution",
                "afterFileEdit", "beforeSubmitPrompt",
            ]
        }
    }

    func entry(for event: String) -> JSONValue {
        if dialect == .claudeCode, let httpURL {
            // Claude Code posts the payload and reads the JSON answer; a service that is down or slow blocks
            // the call ("onFailure": "block"). A token for a non-loopback service comes from the environment.
            let hook: [String: JSONValue] = [
                "type": "http", "url": .string(httpURL), "timeout": .int(Int64(timeoutSeconds)), "onFailure": "block",
                "headers": ["Authorization": "Bearer $COUNTERSIGN_TOKEN"], "allowedEnvVars": ["COUNTERSIGN_TOKEN"],
            ]
            let toolEvent = event != "UserPromptSubmit"
            return toolEvent ? ["matcher": "*", "hooks": [.object(hook)]] : ["hooks": [.object(hook)]]
        }
        switch dialect {
        case .cursor: return ["command": .string(command), "timeout": .int(Int64(timeoutSeconds))]
        default:
            var hook: [String: JSONValue] = ["type": "command", "command": .string(command)]
            switch dialect {
            case .claudeCode:
                hook["timeout"] = .int(Int64(timeoutSeconds))
                hook["onFailure"] = "block"
            case .codex: hook["timeout"] = .int(Int64(timeoutSeconds))
            case .gemini: hook["timeout"] = .int(Int64(timeoutSeconds) * 1000)  // milliseconds
            case .cursor: break
            }
            let toolEvent = !["UserPromptSubmit", "BeforeAgent"].contains(event)
            return toolEvent ? ["matcher": "*", "hooks": [.object(hook)]] : ["hooks": [.object(hook)]]
        }
    }

    /// Whether a settings entry runs Countersign's hook for this agent (whatever path or quoting it was
    /// written with).
    func isOurs(_ entry: JSONValue) -> Bool {
        func ours(_ command: String?) -> Bool {
            guard let command else { return false }
            let words = ShellQuote.split(command)
            guard
                let index = words.firstIndex(where: {
                    $0.hasSuffix("countersign-hook") || $0.hasSuffix("countersign-hook-client")
                        || $0.hasSuffix("countersign")
                })
            else { return false }
            var rest = words[(index + 1)...]
            if words[index].hasSuffix("countersign"), rest.first == "hook" { rest = rest.dropFirst() }
            return rest.first == dialect.rawValue
        }
        func oursByURL(_ url: String?) -> Bool { url?.hasSuffix("/v1/hooks/\(dialect.rawValue)") ?? false }
        if ours(entry["command"]?.stringValue) || oursByURL(entry["url"]?.stringValue) { return true }
        return entry["hooks"]?.arrayValue?.contains {
            ours($0["command"]?.stringValue) || oursByURL($0["url"]?.stringValue)
        } ?? false
    }

    public struct Change: Sendable {
        public let path: String
        public let before: String?
        public let after: String?
        public let backup: String?
        public var changed: Bool { before != after }
    }

    public func install() throws -> Change {
        let (original, text) = try read()
        var root = original
        var hooks = root["hooks"]?.objectValue ?? [:]
        for event in events {
            var list = hooks[event]?.arrayValue ?? []
            // Ours already there is replaced in place (switching to or from the signer service is one
            // command); the same entry again changes nothing.
            if let index = list.firstIndex(where: isOurs) {
                list[index] = entry(for: event)
                list = list.enumerated().filter { $0.offset == index || !isOurs($0.element) }.map(\.element)
            } else {
                list.append(entry(for: event))
            }
            hooks[event] = .array(list)
        }
        root["hooks"] = .object(hooks)
        if dialect == .cursor, root["version"] == nil { root["version"] = 1 }
        return try write(root, original: original, text: text)
    }

    public func uninstall() throws -> Change {
        let (original, text) = try read()
        var root = original
        if var hooks = root["hooks"]?.objectValue {
            for (event, value) in hooks {
                guard let list = value.arrayValue else { continue }
                let kept = list.filter { !isOurs($0) }
                if kept.count != list.count { hooks[event] = kept.isEmpty ? nil : .array(kept) }
            }
            root["hooks"] = hooks.isEmpty ? nil : .object(hooks)
        }
        if dialect == .cursor, root.count == 1, root["version"] == 1 { root["version"] = nil }
        return try write(root, original: original, text: text)
    }

    func read() throws -> ([String: JSONValue], String?) {
        guard let data = FileManager.default.contents(atPath: settingsPath) else { return ([:], nil) }
        let text = String(decoding: data, as: UTF8.self)
        if text.allSatisfy(\.isWhitespace) { return ([:], text) }
        guard case .object(let object) = try JSONValue.parse(data) else {
            throw InstallError("\(settingsPath) is not a JSON object; fix it or move it aside first")
        }
        return (object, text)
    }

    func write(_ root: [String: JSONValue], original: [String: JSONValue], text: String?) throws -> Change {
        if root == original { return Change(path: settingsPath, before: text, after: text, backup: nil) }
        let after = Self.pretty(.object(root))
        var backup: String?
        if let text {
            backup = settingsPath + ".countersign-backup-" + Timestamp.now().replacingOccurrences(of: ":", with: "")
            try Data(text.utf8).write(to: URL(fileURLWithPath: backup!))
        }
        let url = URL(fileURLWithPath: settingsPath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if root.isEmpty {
            // Nothing of the user's is left (we created the file): remove it rather than leave `{}`.
            try? FileManager.default.removeItem(at: url)
            return Change(path: settingsPath, before: text, after: nil, backup: backup)
        }
        try Data(after.utf8).write(to: url, options: .atomic)
        return Change(path: settingsPath, before: text, after: after, backup: backup)
    }

    static func pretty(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self) + "\n"
    }

    /// A line diff for people: `-` removed, `+` added.
    public static func diff(_ before: String?, _ after: String?) -> String {
        let a = (before ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = (after ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Longest common subsequence, line by line (settings files are small).
        var lcs = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var out: [String] = []
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                i += 1
                j += 1
            } else if j < b.count, i == a.count || lcs[i][j + 1] >= lcs[i + 1][j] {
                out.append("+ " + b[j])
                j += 1
            } else {
                out.append("- " + a[i])
                i += 1
            }
        }
        return out.joined(separator: "\n")
    }
}

public struct InstallError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
