import Foundation
import Testing

@Suite("countersign install / uninstall")
struct InstallCLITests {
    func json(_ path: String) throws -> NSDictionary {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! NSDictionary
    }

    @Test func claudeCodeProjectInstallMergesIsIdempotentAndUninstallsExactly() throws {
        let home = CLI.temporaryDirectory()
        let project = CLI.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: project + "/.claude", withIntermediateDirectories: true)
        let original =
            #"{"model": "opus", "permissions": {"allow": ["Read"]}, "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "echo bye"}]}], "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "lint.sh"}]}]}}"#
        try original.write(toFile: project + "/.claude/settings.json", atomically: true, encoding: .utf8)

        let install = try CLI.run(["install", "claude-code"], in: project, home: home)
        #expect(install.status == 0, "\(install.stderr)")
        #expect(install.stdout.contains("wrote a starter policy"))
        #expect(install.stdout.contains("+ "))
        #expect(install.stdout.contains("backup:"))
        let settings = try json(project + "/.claude/settings.json")
        #expect(settings["model"] as? String == "opus")
        let hooks = settings["hooks"] as! NSDictionary
        #expect((hooks["PreToolUse"] as! NSArray).count == 2)  // the user's lint hook stays
        #expect((hooks["Stop"] as! NSArray).count == 1)
        for event in [
            "PreToolUse", "PermissionRequest", "PostToolUse", "PostToolUseFailure", "PermissionDenied",
            "UserPromptSubmit",
        ] {
            #expect(String(describing: hooks[event]!).contains("hook claude-code --policy"), "\(event)")
        }
        #expect(FileManager.default.fileExists(atPath: project + "/.countersign/policy.yaml"))
        #expect(
            try CLI.run(["policy", "check", "--policy", project + "/.countersign/policy.yaml", "--strict"]).status == 0)

        let again = try CLI.run(["install", "claude-code"], in: project, home: home)
        #expect(again.stdout.contains("nothing to change (already installed)"))

        // The installed command really works as the agent would run it.
        let ours = (hooks["PreToolUse"] as! [NSDictionary]).last!
        let command = ((ours["hooks"] as! [NSDictionary]).first!["command"] as! String)
        let words = command.split(separator: " ").map(String.init)
        #expect(words[0].hasSuffix("/countersign-hook"), "the slim hook executable is installed: \(command)")
        let answer = try CLI.run(
            Array(words.dropFirst()),
            stdin:
                #"{"session_id":"s","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf /"},"tool_use_id":"t"}"#,
            in: project, home: home, executable: URL(fileURLWithPath: words[0]))
        #expect(answer.stdout.contains(#""permissionDecision":"deny""#), "\(answer.stderr)")
        // A usage mistake in the settings still blocks (exit 2), never allows.
        let broken = try CLI.run(["claude-code", "--sync"], in: project, executable: URL(fileURLWithPath: words[0]))
        #expect(broken.status == 2 && broken.stderr.contains("--sync needs a value"))

        let uninstall = try CLI.run(["uninstall", "claude-code"], in: project, home: home)
        #expect(uninstall.status == 0)
        let restored = try json(project + "/.claude/settings.json")
        let expected = try JSONSerialization.jsonObject(with: Data(original.utf8)) as! NSDictionary
        #expect(restored == expected)
    }

    @Test(arguments: [
        ("codex", ".codex/hooks.json", "PreToolUse"), ("gemini", ".gemini/settings.json", "BeforeTool"),
        ("cursor", ".cursor/hooks.json", "beforeShellExecution"),
    ])
    func userScopeForEveryAgent(agent: String, file: String, event: String) throws {
        let home = CLI.temporaryDirectory()
        let project = CLI.temporaryDirectory()
        let install = try CLI.run(["install", agent, "--scope", "user"], in: project, home: home)
        #expect(install.status == 0, "\(install.stderr)")
        let settings = try json(home + "/" + file)
        #expect(String(describing: (settings["hooks"] as! NSDictionary)[event]!).contains("hook \(agent)"))
        #expect(FileManager.default.fileExists(atPath: home + "/.countersign/policy.yaml"))
        #expect(!FileManager.default.fileExists(atPath: project + "/" + file))
        #expect(try CLI.run(["uninstall", agent, "--scope", "user"], in: project, home: home).status == 0)
        #expect(!FileManager.default.fileExists(atPath: home + "/" + file))  // we created it, so it goes
    }

    @Test func refusesAMalformedSettingsFileAndUnknownAgents() throws {
        let project = CLI.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: project + "/.claude", withIntermediateDirectories: true)
        try "{not json".write(toFile: project + "/.claude/settings.json", atomically: true, encoding: .utf8)
        let result = try CLI.run(["install", "claude-code"], in: project, home: CLI.temporaryDirectory())
        #expect(result.status == 1)
        #expect(try String(contentsOfFile: project + "/.claude/settings.json", encoding: .utf8) == "{not json")
        #expect(try CLI.run(["install", "emacs"], in: project, home: CLI.temporaryDirectory()).status == 1)
    }
}
