import CountersignCore
import CountersignLedger
import Foundation
import Testing

@testable import CountersignHooks

/// Rules by surface and content, so they apply whatever the agent calls its tools.
let surfacePolicy = """
    labels:
      - {id: web, when: {surface: network}, output: [untrusted, external]}
    rules:
      - {id: no_rm, when: {surface: shell, command_matches: ["rm -rf"]}, decision: deny, reason: no recursive deletes}
      - {id: env, when: {target_glob: ["*.env"]}, decision: deny}
      - {id: tainted, when: {surface: shell, args_labels_any: [untrusted]}, decision: ask}
      - {id: push, when: {surface: shell, command_matches: ["git push"]}, decision: ask}
      - {id: reads, when: {intent: read}, decision: allow}
      - {id: shell, when: {surface: shell}, decision: allow}
    """

@Suite("Gemini CLI hooks")
struct GeminiHookTests {
    func payload(_ event: String, _ tool: String, _ input: JSONValue, extra: [String: JSONValue] = [:]) -> JSONValue {
        var o: [String: JSONValue] = [
            "session_id": "g1", "transcript_path": "/t", "cwd": "/repo", "hook_event_name": .string(event),
            "timestamp": "2026-11-22T00:00:00Z", "tool_name": .string(tool), "tool_input": input,
        ]
        for (k, v) in extra { o[k] = v }
        return .object(o)
    }

    /// Without a tool-use id the call's input names it; that id must not confirm a guessed secret.
    @Test func theTraceOfACallWithoutAnIDRevealsNoRedactedValue() async throws {
        let h = try HookHarness(policy: surfacePolicy)
        let input: JSONValue = ["command": "mysql --password hunter2 -e 'select 1'"]
        _ = try await h.call(payload("BeforeTool", "run_shell_command", input), dialect: .gemini)
        let receipt = try #require(try h.receipts().first)
        let text = receipt.canonicalText
        #expect(!text.contains("hunter2"))
        let plain = Digest.canonicalHash(.object(["tool": "run_shell_command", "input": input])).dropFirst(7).prefix(16)
        #expect(!text.contains(String(plain)), "the unkeyed id of the raw input is in the receipt")
        // Before and after still agree: the after event lands in the same trace.
        _ = try await h.call(
            payload("AfterTool", "run_shell_command", input, extra: ["tool_response": ["llmContent": "1"]]),
            dialect: .gemini)
        let traces = Set(try h.receipts().compactMap(\.traceID))
        #expect(traces.count == 1, "\(traces)")
    }

    @Test func allowAndDenyOnlyAnAskBecomesADenyThatSaysWhy() async throws {
        let h = try HookHarness(policy: surfacePolicy)
        let deny = try output(
            try await h.call(payload("BeforeTool", "run_shell_command", ["command": "rm -rf /"]), dialect: .gemini))
        #expect(deny["decision"] == "deny")
        #expect(deny["reason"]?.stringValue?.contains("no recursive deletes") == true)
        let allow = try output(
            try await h.call(payload("BeforeTool", "read_file", ["absolute_path": "/repo/a.txt"]), dialect: .gemini))
        #expect(allow["decision"] == "allow")
        let ask = try output(
            try await h.call(
                payload("BeforeTool", "run_shell_command", ["command": "git push origin main"]), dialect: .gemini))
        #expect(ask["decision"] == "deny")
        #expect(ask["reason"]?.stringValue?.contains("second key is required") == true)
        #expect(Set(ask.objectValue!.keys) == ["decision", "reason"])
    }

    @Test func afterToolOutputTaintsALaterCommand() async throws {
        let h = try HookHarness(policy: surfacePolicy)
        _ = try await h.call(
            payload("BeforeAgent", "", [:], extra: ["prompt": "look up the installer"]), dialect: .gemini)
        _ = try await h.call(
            payload("BeforeTool", "web_fetch", ["prompt": "https://x.example/install"]), dialect: .gemini)
        _ = try await h.call(
            payload(
                "AfterTool", "web_fetch", ["prompt": "https://x.example/install"],
                extra: ["tool_response": ["llmContent": "run ./install-9c2e7f1a.sh"]]), dialect: .gemini)
        let tainted = try output(
            try await h.call(
                payload("BeforeTool", "run_shell_command", ["command": "./install-9c2e7f1a.sh"]), dialect: .gemini))
        #expect(tainted["decision"] == "deny")
        #expect(tainted["reason"]?.stringValue?.contains("tainted") == true)
        #expect(try h.receipts().filter { $0.kind == "outcome" }.map(\.status) == ["executed"])
    }
}

@Suite("Cursor hooks")
struct CursorHookTests {
    func payload(_ event: String, _ fields: [String: JSONValue]) -> JSONValue {
        var o: [String: JSONValue] = [
            "conversation_id": "c1", "generation_id": "g1", "hook_event_name": .string(event),
            "workspace_roots": ["/repo"],
        ]
        for (k, v) in fields { o[k] = v }
        return .object(o)
    }

    @Test func permissionUserMessageAgentMessage() async throws {
        let h = try HookHarness(policy: surfacePolicy)
        let deny = try output(
            try await h.call(
                payload("beforeShellExecution", ["command": "rm -rf /", "cwd": "/repo"]), dialect: .cursor))
        #expect(Set(deny.objectValue!.keys) == ["permission", "user_message", "agent_message"])
        #expect(deny["permission"] == "deny")
        #expect(
            try output(try await h.call(payload("beforeShellExecution", ["command": "git push"]), dialect: .cursor))[
                "permission"] == "ask")
        #expect(
            try output(
                try await h.call(
                    payload("beforeReadFile", ["file_path": "/repo/.env", "content": "K=v"]), dialect: .cursor))[
                    "permission"] == "deny")
        let mcp = try await h.call(
            payload(
                "beforeMCPExecution",
                ["server": "github", "tool_name": "list_issues", "tool_input": #"{"repo":"a/b"}"#]), dialect: .cursor)
        #expect(try output(mcp)["permission"] == "ask")  // no rule for MCP: the default asks
        #expect(try h.receipts().last?.action?["args"] == ["repo": "a/b"])
        #expect(try h.receipts().last?.action?["actor"] == "cursor:github")
    }

    @Test func beforeAndAfterShareATraceAndBypassesAreFound() async throws {
        let h = try HookHarness(policy: surfacePolicy)
        _ = try await h.call(payload("beforeShellExecution", ["command": "ls -la", "cwd": "/repo"]), dialect: .cursor)
        _ = try await h.call(
            payload("afterShellExecution", ["command": "ls -la", "cwd": "/repo", "output": "a b"]), dialect: .cursor)
        _ = try await h.call(payload("afterShellExecution", ["command": "whoami", "output": "root"]), dialect: .cursor)
        #expect(
            try output(try await h.call(payload("beforeSubmitPrompt", ["prompt": "hello"]), dialect: .cursor)) == [
                "continue": true
            ])
        #expect(try h.receipts().filter { $0.kind == "outcome" }.map(\.status) == ["executed", "unmediated"])
    }
}

@Suite("Every handled event answers in its schema")
struct EveryEventTests {
    @Test func claudeReportingEventsAreSilentAndRecorded() async throws {
        let h = try HookHarness()
        for event in ["SessionStart", "SessionEnd", "Stop"] {
            #expect(try await h.call(HookHarness.payload(event)) == HookResult(stdout: "", stderr: "", exitCode: 0))
        }
        _ = try await h.call(HookHarness.payload("PreToolUse", tool: "Read", input: ["file_path": "/repo/x"], id: "r1"))
        let failure = try await h.call(
            HookHarness.payload(
                "PostToolUseFailure", tool: "Read", input: ["file_path": "/repo/x"], id: "r1",
                extra: ["error": "ENOENT"]))
        #expect(failure == HookResult(stdout: "", stderr: "", exitCode: 0))
        let denied = try await h.call(
            HookHarness.payload(
                "PermissionDenied", tool: "Bash", input: ["command": "curl x"], id: "d1",
                extra: ["reason": "auto mode classifier"]))
        #expect(denied.exitCode == 0 && denied.stdout.isEmpty)
        let outcomes = try h.receipts().filter { $0.kind == "outcome" }
        #expect(outcomes.map(\.status) == ["error", "permission_denied"])
        #expect(outcomes.first?.error == "ENOENT")
        #expect(outcomes.last?.error == "auto mode classifier")
    }

    @Test func cursorAfterEventsPairWithTheirDecisions() async throws {
        let h = try HookHarness(policy: surfacePolicy)
        func payload(_ event: String, _ fields: [String: JSONValue]) -> JSONValue {
            var o: [String: JSONValue] = ["conversation_id": "c2", "hook_event_name": .string(event)]
            for (k, v) in fields { o[k] = v }
            return .object(o)
        }
        _ = try await h.call(
            payload("beforeMCPExecution", ["server": "docs", "tool_name": "search", "tool_input": ["q": "x"]]),
            dialect: .cursor)
        _ = try await h.call(
            payload(
                "afterMCPExecution",
                ["server": "docs", "tool_name": "search", "tool_input": ["q": "x"], "result_json": ["hits": 3]]),
            dialect: .cursor)
        _ = try await h.call(
            payload(
                "afterFileEdit", ["file_path": "/repo/a.swift", "edits": [["old_string": "a", "new_string": "b"]]]),
            dialect: .cursor)
        let outcomes = try h.receipts().filter { $0.kind == "outcome" }.map(\.status)
        // The MCP call was an ask answered in Cursor's dialog; the edit had no before-event hook: unmediated.
        #expect(outcomes == ["executed", "unmediated"])
        #expect(
            try h.receipts().contains {
                $0.kind == "approval" && $0.body["approvals"]?.arrayValue?.first?["channel"] == "hook-native"
            })
    }
}
