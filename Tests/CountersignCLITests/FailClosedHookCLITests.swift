import Foundation
import Testing

/// Every way a hook call can fail exits 2 (the agents' blocking code), in both executables and every dialect;
/// what `install` writes works from a directory whose path needs quoting.
@Suite("Hooks fail closed")
struct FailClosedHookCLITests {
    static let slim = CLI.binary.deletingLastPathComponent().appendingPathComponent("countersign-hook")
    let payload =
        #"{"session_id":"s","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"},"tool_use_id":"t"}"#

    /// Runs the hook through the full binary (`countersign hook …`) or the slim one (`countersign-hook …`).
    func hook(_ arguments: [String], slim: Bool, stdin: String? = nil, in dir: String) throws -> CLI.Result {
        slim
            ? try CLI.run(arguments, stdin: stdin ?? payload, in: dir, executable: Self.slim)
            : try CLI.run(["hook"] + arguments, stdin: stdin ?? payload, in: dir)
    }

    @Test(arguments: [false, true])
    func everyUsageMistakeExitsTwo(slim: Bool) throws {
        let dir = CLI.temporaryDirectory()
        let policy = CLI.root.appendingPathComponent("examples/policies/claude-code.yaml").path
        let invalid = try CLI.temporaryFile("bad.yaml", "rules:\n  - id: a\n    decision: maybe\n")
        let mistakes: [[String]] = [
            ["claude-code", "--polcy", "x"], ["claude-code", "--policy"], ["claude-code", "--sync", "sometimes"],
            ["claude-code", "--lock-timeout", "soon"], ["claude-code", "codex"],
            ["claude-code", "--policy", policy, "extra"],
            ["vim", "--policy", policy], [], ["--policy", policy], ["claude-code", "--policy", "/nonexistent/p.yaml"],
            ["claude-code", "--policy", invalid], ["claude-code", "--policy", policy, "--key", "/nonexistent/key"],
            ["claude-code", "--policy", policy, "--ledger", "/proc/version/ledger.sqlite"],
            ["claude-code", "--policy", policy, "--ledger", dir + "/ledger.txt"],
        ]
        for dialect in ["claude-code", "codex", "gemini", "cursor"] {
            for mistake in mistakes {
                let arguments = mistake.map { $0 == "claude-code" ? dialect : $0 }
                let result = try hook(arguments, slim: slim, in: dir)
                #expect(
                    result.status == 2,
                    "\(slim ? "countersign-hook" : "countersign hook") \(arguments): \(result.status)")
                #expect(!result.stderr.isEmpty, "\(arguments)")
            }
        }
        // Help is not a failure.
        #expect(try hook(["--help"], slim: slim, in: dir).status == 0)
    }

    @Test(arguments: [false, true])
    func malformedPayloadsBeforeAToolRunsExitTwo(slim: Bool) throws {
        let dir = CLI.temporaryDirectory()
        let policy = CLI.root.appendingPathComponent("examples/policies/claude-code.yaml").path
        for stdin in [
            "", "{", "[]", "null", #"{"hook_event_name": 3}"#, #"{"hook_event_name":"PreToolUse","tool_input":"#,
        ] {
            let result = try hook(["claude-code", "--policy", policy], slim: slim, stdin: stdin, in: dir)
            #expect(result.status == 2, "\(stdin)")
        }
    }

    @Test func installQuotesEveryPathItWrites() throws {
        let home = CLI.temporaryDirectory()
        let project = CLI.temporaryDirectory() + "/my project's \"Ünïcode\" $HOME dir"
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        let policy = project + "/.countersign/policy.yaml"
        try FileManager.default.createDirectory(atPath: project + "/.countersign", withIntermediateDirectories: true)
        let text = try String(
            contentsOf: CLI.root.appendingPathComponent("examples/policies/claude-code.yaml"), encoding: .utf8)
        try (text + "\n  - {id: slow_review, when: {tool: Deploy}, decision: ask, approvals: {timeout: 20m}}\n")
            .write(toFile: policy, atomically: true, encoding: .utf8)
        let install = try CLI.run(["install", "claude-code"], in: project, home: home)
        #expect(install.status == 0, "\(install.stderr)")
        let settings =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: project + "/.claude/settings.json")))
            as! [String: Any]
        let hooks = settings["hooks"] as! [String: Any]
        for event in ["PreToolUse", "PostToolUse", "UserPromptSubmit", "PermissionRequest"] {
            let entry = ((hooks[event] as! [[String: Any]]).last!["hooks"] as! [[String: Any]]).first!
            #expect(entry["onFailure"] as? String == "block", "\(event)")
            #expect((entry["timeout"] as? Int ?? 0) > 20 * 60, "\(event)")
            // Run the command exactly as Claude Code does: through a shell.
            let command = entry["command"] as! String
            let stdin =
                ["PreToolUse", "PermissionRequest"].contains(event)
                ? payload.replacingOccurrences(of: "PreToolUse", with: event)
                : #"{"session_id":"s","hook_event_name":"\#(event)"}"#
            let result = try CLI.run(
                ["-c", command], stdin: stdin,
                in: project, home: home, executable: URL(fileURLWithPath: "/bin/sh"))
            #expect(result.status == 0, "\(event): \(command): \(result.stderr)")
            if event == "PreToolUse" { #expect(result.stdout.contains(#""permissionDecision":"allow""#)) }
        }
        #expect(FileManager.default.fileExists(atPath: project + "/.countersign/signing-key"))
        #expect(try CLI.run(["verify", project + "/.countersign/ledger.sqlite"], in: project).status == 0)
        // Installing again recognises its own quoted entries.
        #expect(try CLI.run(["install", "claude-code"], in: project, home: home).stdout.contains("nothing to change"))
        #expect(try CLI.run(["uninstall", "claude-code"], in: project, home: home).status == 0)
    }

    @Test(arguments: ["codex", "gemini", "cursor"])
    func installWarnsWhereAnAgentCannotBlockOnFailure(agent: String) throws {
        let result = try CLI.run(["install", agent], in: CLI.temporaryDirectory(), home: CLI.temporaryDirectory())
        #expect(result.status == 0)
        #expect(result.stderr.contains("warning:") && result.stderr.contains("no setting that blocks"))
    }
}

@Suite("State files are private")
struct PrivateStateFilesTests {
    /// Ledger, session state, key and journals are created 0600 in 0700 directories, whatever the umask.
    @Test func everyStateFileIsPrivate() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["demo"], in: dir)
        let policy = CLI.root.appendingPathComponent("examples/policies/claude-code.yaml").path
        _ = try CLI.run(
            [
                "hook", "claude-code", "--policy", policy, "--ledger", dir + "/h/ledger.sqlite", "--sessions",
                dir + "/h/sessions.sqlite",
            ],
            stdin: #"{"session_id":"s","hook_event_name":"UserPromptSubmit","prompt":"hello there friend"}"#, in: dir)
        var checked = 0
        for base in [dir + "/.countersign", dir + "/h"] {
            let directory = try FileManager.default.attributesOfItem(atPath: base)[.posixPermissions] as? Int
            #expect(directory == 0o700, "\(base)")
            for name in try FileManager.default.contentsOfDirectory(atPath: base) {
                let mode =
                    try FileManager.default.attributesOfItem(atPath: base + "/" + name)[.posixPermissions] as? Int
                #expect(mode == 0o600, "\(base)/\(name): \(String(mode ?? 0, radix: 8))")
                checked += 1
            }
        }
        #expect(checked >= 4)
    }
}
