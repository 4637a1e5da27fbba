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

    /// Whether the dialect can pass an `ask` back to the agent's own dialog.
    var canAsk: Bool { self != .gemini }

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

    func prompt(_ payload: [String: JSONValue]) -> String? {
        payload["prompt"]?.stringValue ?? payload["user_prompt"]?.stringValue
    }

    /// The answer to a decision, in the dialect's schema.
    func answer(_ event: String, _ outcome: PolicyOutcome) -> HookResult {
        let verdict = outcome.decision.rawValue
        let reason = "Countersign: \(verdict) via rule '\(outcome.ruleID)': \(outcome.reason)"
        switch self {
        case .claudeCode, .codex:
            return .json([
                "hookSpecificOutput": [
                    "hookEventName": .string(event), "permissionDecision": .string(verdict),
                    "permissionDecisionReason": .string(reason),
                ]
            ])
        case .gemini:
            // Gemini hooks cannot ask: a second key is required, so the call is denied and says why.
            if outcome.decision == .ask {
                return .json([
                    "decision": "deny",
                    "reason": .string(
                        "Countersign: a second key is required (rule '\(outcome.ruleID)': \(outcome.reason)); "
                            + "Gemini CLI hooks cannot ask, so this call is denied. Ask the user to approve it."),
                ])
            }
            return .json(["decision": .string(verdict), "reason": .string(reason)])
        case .cursor:
            return .json([
                "permission": .string(verdict), "user_message": .string(reason), "agent_message": .string(reason),
            ])
        }
    }
}
