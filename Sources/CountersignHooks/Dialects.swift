import CountersignCore
import CountersignPolicy

/// What a hook event asks Countersign to do, whatever the agent calls it.
enum HookStage {
    /// Decide before the tool runs (Claude/Codex PreToolUse, Gemini BeforeTool, Cursor before*).
    case decide
    /// Claude Code's PermissionRequest (allow/deny objects; ask leaves the native dialog).
    case permissionRequest
    /// The tool ran; record its outcome and label its output.
    case after
    /// The tool failed.
    case afterFailure
    /// The agent's own classifier denied the call.
    case permissionDenied
    /// Text the user typed: trusted provenance.
    case prompt
    case ignore
}

/// One tool call as the dialect describes it.
struct ToolCall {
    let tool: String
    let input: [String: JSONValue]
    let useID: String?
    let output: JSONValue?
    let error: String?
}

extension HookDialect {
    func stage(_ event: String) -> HookStage {
        switch self {
        case .claudeCode, .codex:
            switch event {
            case "PreToolUse": return .decide
            case "PermissionRequest": return .permissionRequest
            case "PostToolUse": return .after
            case "PostToolUseFailure": return .afterFailure
            case "PermissionDenied": return .permissionDenied
            case "UserPromptSubmit": return .prompt
            default: return .ignore
            }
        case .gemini:
            switch event {
            case "BeforeTool": return .decide
            case "AfterTool": return .after
            case "BeforeAgent": return .prompt
            default: return .ignore
            }
        case .cursor:
            switch event {
            case "preToolUse", "beforeShellExecution", "beforeMCPExecution", "beforeReadFile": return .decide
            case "postToolUse", "afterShellExecution", "afterMCPExecution", "afterFileEdit": return .after
            case "postToolUseFailure": return .afterFailure
            case "beforeSubmitPrompt": return .prompt
            default: return .ignore
            }
        }
    }

    /// Whether the dialect can pass an `ask` back to the agent's own dialog (for any event).
    var canAsk: Bool { self == .claudeCode || self == .cursor }

    /// Whether the agent's answer to `event` can be an `ask` (Codex's PreToolUse, Gemini's BeforeTool and
    /// Cursor's beforeReadFile cannot; there an ask needs another channel or is rejected).
    func canAsk(at event: String) -> Bool {
        switch self {
        case .claudeCode: return true
        case .codex: return event == "PermissionRequest"
        case .gemini: return false
        case .cursor: return event != "beforeReadFile"
        }
    }

    func sessionID(_ payload: [String: JSONValue]) -> String {
        payload["session_id"]?.stringValue ?? payload["conversation_id"]?.stringValue ?? "\(rawValue)-session"
    }

    func toolCall(_ event: String, _ payload: [String: JSONValue]) -> ToolCall {
        func objectOrJSONString(_ value: JSONValue?) -> [String: JSONValue] {
            if let object = value?.objectValue { return object }
            if let text = value?.stringValue, let parsed = try? JSONValue.parse(text), let object = parsed.objectValue {
                return object
            }
            return [:]
        }
        switch (self, event) {
        case (.cursor, "beforeShellExecution"), (.cursor, "afterShellExecution"):
            var input: [String: JSONValue] = ["command": payload["command"] ?? ""]
            if let cwd = payload["cwd"] { input["cwd"] = cwd }
            return ToolCall(tool: "Shell", input: input, useID: nil, output: payload["output"], error: nil)
        case (.cursor, "beforeReadFile"):
            return ToolCall(
                tool: "Read", input: ["file_path": payload["file_path"] ?? ""], useID: nil, output: nil, error: nil)
        case (.cursor, "afterFileEdit"):
            return ToolCall(
                tool: "Edit",
                input: ["file_path": payload["file_path"] ?? "", "edits": payload["edits"] ?? .array([])], useID: nil,
                output: nil, error: nil)
        case (.cursor, "beforeMCPExecution"), (.cursor, "afterMCPExecution"):
            let server = payload["server"]?.stringValue ?? payload["url"]?.stringValue ?? "mcp"
            let tool = "mcp__\(server)__\(payload["tool_name"]?.stringValue ?? "unknown")"
            return ToolCall(
                tool: tool, input: objectOrJSONString(payload["tool_input"]), useID: nil,
                output: payload["result_json"] ?? payload["tool_output"], error: nil)
        default:
            return ToolCall(
                tool: payload["tool_name"]?.stringValue ?? "unknown", input: objectOrJSONString(payload["tool_input"]),
                useID: payload["tool_use_id"]?.stringValue ?? payload["tool_call_id"]?.stringValue,
                output: payload["tool_response"] ?? payload["tool_output"],
                error: payload["error"]?.stringValue)
        }
    }

    /// Why a payload that asks for a decision cannot be decided (nil when it can). A decision on a guess —
    /// a missing tool name, a tool input that is not an object, a shell event without its command — could
    /// allow something nobody looked at, so these block.
    func malformedDecision(_ event: String, _ payload: [String: JSONValue]) -> String? {
        func nonEmptyString(_ key: String) -> Bool {
            if case .string(let s)? = payload[key], !s.isEmpty { return true }
            return false
        }
        func objectInput(allowJSONText: Bool) -> Bool {
            switch payload["tool_input"] {
            case .object?: return true
            case .string(let text)? where allowJSONText: return (try? JSONValue.parse(text))?.objectValue != nil
            default: return false
            }
        }
        switch (self, event) {
        case (.cursor, "beforeShellExecution"):
            return nonEmptyString("command") ? nil : "the \(event) payload has no command"
        case (.cursor, "beforeReadFile"):
            return nonEmptyString("file_path") ? nil : "the \(event) payload has no file_path"
        case (.cursor, "beforeMCPExecution"):
            guard nonEmptyString("tool_name") else { return "the \(event) payload has no tool_name" }
            return objectInput(allowJSONText: true) ? nil : "the \(event) payload's tool_input is not an object"
        default:
            guard nonEmptyString("tool_name") else { return "the \(event) payload has no tool_name" }
            return objectInput(allowJSONText: false) ? nil : "the \(event) payload's tool_input is not an object"
        }
    }

    func prompt(_ payload: [String: JSONValue]) -> String? {
        payload["prompt"]?.stringValue ?? payload["user_prompt"]?.stringValue
    }

    /// The answer to a decision, in the dialect's schema — exactly the fields each agent documents, since
    /// an agent may treat an unknown field or an unsupported value as a failed hook and run the tool:
    /// - Claude Code PreToolUse: `{hookSpecificOutput: {hookEventName, permissionDecision, permissionDecisionReason}}`.
    /// - Codex PreToolUse acts on `permissionDecision: "deny"` only: an allow is no answer at all, an ask
    ///   becomes a deny that says a second key is required.
    /// - Gemini CLI BeforeTool: `{decision: allow|deny, reason}`; it cannot ask, so an ask is a deny.
    /// - Cursor: `{permission, user_message, agent_message}`; `beforeReadFile` takes `{permission: allow|deny}`
    ///   only, so there an ask is a deny.
    func answer(_ event: String, _ outcome: PolicyOutcome) -> HookResult {
        let verdict = outcome.decision.rawValue
        let reason = "Countersign: \(verdict) via rule '\(outcome.ruleID)': \(outcome.reason)"
        let cannotAsk =
            "Countersign: a second key is required (rule '\(outcome.ruleID)': \(outcome.reason)); "
            + "\(displayName) hooks cannot ask, so this call is denied. Ask the user to approve it."
        switch self {
        case .claudeCode:
            return .json([
                "hookSpecificOutput": [
                    "hookEventName": .string(event), "permissionDecision": .string(verdict),
                    "permissionDecisionReason": .string(reason),
                ]
            ])
        case .codex:
            switch outcome.decision {
            case .allow: return .silent
            case .deny, .ask:
                return .json([
                    "hookSpecificOutput": [
                        "hookEventName": .string(event), "permissionDecision": "deny",
                        "permissionDecisionReason": .string(outcome.decision == .ask ? cannotAsk : reason),
                    ]
                ])
            }
        case .gemini:
            if outcome.decision == .ask { return .json(["decision": "deny", "reason": .string(cannotAsk)]) }
            return .json(["decision": .string(verdict), "reason": .string(reason)])
        case .cursor:
            if event == "beforeReadFile" {
                return .json(["permission": outcome.decision == .allow ? "allow" : "deny"])
            }
            return .json([
                "permission": .string(verdict), "user_message": .string(reason), "agent_message": .string(reason),
            ])
        }
    }

    var displayName: String {
        switch self {
        case .claudeCode: return "Claude Code"
        case .codex: return "Codex CLI"
        case .gemini: return "Gemini CLI"
        case .cursor: return "Cursor"
        }
    }
}
