import ArgumentParser
import CountersignCore
import CountersignHooks
import Foundation

/// `countersign install <agent>`: wires `countersign hook` into the agent's settings.
struct InstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Add Countersign's hooks to an agent's settings (claude-code, codex, gemini, cursor).",
        discussion: """
            Merges hook entries into the agent's settings file — .claude/settings.json, .codex/hooks.json, \
            .gemini/settings.json or .cursor/hooks.json, in the project or (--scope user) in your home — \
            keeping everything else, backing the file up and printing the diff. Running it again changes \
            nothing. Writes a starter policy when none exists. 'countersign uninstall <agent>' removes exactly \
            the entries it added.
            """
    )

    @Argument(help: "claude-code, codex, gemini or cursor") var agent: String
    @Option(name: .long, help: "project (this directory) or user (your home).") var scope: HookInstaller.Scope =
        .project
    @Option(
        name: .long,
        help: ArgumentHelp("The policy the hooks use (default <scope>/.countersign/policy.yaml).", valueName: "file"))
    var policy: String?

    static let starterPolicy = #"""
        # The starter policy `countersign install` writes when none exists. It works for every agent: rules read
        # surfaces and content, not tool names. Edit it; `countersign policy check` lints it.
        version: 1
        name: starter
        default_decision: ask

        labels:
          - id: web_and_mcp_output_is_untrusted
            when: {surface_glob: [network, mcp]}
            output: [untrusted, external]
          - id: key_files_are_secret
            when: {intent: read, target_glob: ["*.env", "*/.env.*", "*/.ssh/*", "*id_rsa*", "*.pem"]}
            output: [secret]

        rules:
          - id: destructive_commands_are_denied
            when: {surface: shell, arg_regex: {command: "(^|[\\s;&|])rm\\s+-(rf|fr)\\b|git\\s+reset\\s+--hard|mkfs\\.|dd\\s+if="}}
            decision: deny
            reason: Destructive commands are denied; run them yourself if you mean it.
          - id: secret_files_are_not_written
            when: {intent: write, target_glob: ["*.env", "*/.env.*", "*/.ssh/*", "*id_rsa*"]}
            decision: deny
            reason: Secret-bearing files are not edited by the agent.
          - id: secrets_do_not_leave
            when: {surface_glob: [shell, network, mcp], args_labels_any: [secret]}
            decision: deny
            reason: A value read from a secret file may not be sent anywhere.
          - id: untrusted_content_does_not_drive_commands
            when: {surface: shell, args_labels_any: [untrusted]}
            decision: ask
            reason: This command uses text that came from a web page or an MCP server.
          - id: pushes_need_a_second_key
            when: {surface: shell, command_matches: ["git push"]}
            decision: ask
            reason: Pushing publishes work; a human confirms it.
          - id: reads_are_allowed
            when: {intent: read, tags_none: [secrets]}
            decision: allow
          - id: read_only_commands
            when: {surface: shell, arg_regex: {command: "^\\s*(ls|pwd|cat|head|tail|wc|git (status|diff|log|show|branch))(\\s[^;&|`$<>]*)?$"}}
            decision: allow

        """#

    func run() throws {
        try reportingErrors {
            let installer = try makeInstaller(agent: agent, scope: scope, policy: policy)
            let policyPath = policyPath(scope: scope, policy: policy)
            if !FileManager.default.fileExists(atPath: policyPath) {
                try FileManager.default.createDirectory(
                    at: URL(fileURLWithPath: policyPath).deletingLastPathComponent(), withIntermediateDirectories: true)
                try Self.starterPolicy.write(toFile: policyPath, atomically: true, encoding: .utf8)
                try Terminal.write(
                    "wrote a starter policy to \(policyPath) (edit it; check it with countersign policy check)\n")
            }
            try report(try installer.install(), verb: "installed")
        }
    }
}

struct UninstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall",
        abstract: "Remove the hook entries 'countersign install' added (nothing else).")

    @Argument(help: "claude-code, codex, gemini or cursor") var agent: String
    @Option(name: .long, help: "project or user") var scope: HookInstaller.Scope = .project

    func run() throws {
        try reportingErrors {
            try report(try makeInstaller(agent: agent, scope: scope, policy: nil).uninstall(), verb: "uninstalled")
        }
    }
}

extension HookInstaller.Scope: ExpressibleByArgument {}

/// `$HOME` first (Foundation's home lookup ignores it on Linux), so tests and sandboxes can redirect it.
var homeDirectory: String {
    if let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty { return home }
    return FileManager.default.homeDirectoryForCurrentUser.path
}

func policyPath(scope: HookInstaller.Scope, policy: String?) -> String {
    if let policy { return URL(fileURLWithPath: policy).standardizedFileURL.path }
    let base = scope == .user ? homeDirectory : FileManager.default.currentDirectoryPath
    return base + "/.countersign/policy.yaml"
}

func makeInstaller(agent: String, scope: HookInstaller.Scope, policy: String?) throws -> HookInstaller {
    guard let dialect = HookDialect(rawValue: agent) else {
        throw CLIError("unknown agent '\(agent)': claude-code, codex, gemini or cursor")
    }
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    // The slim `countersign-hook` beside this binary starts faster; `countersign hook` does the same.
    let slim = executable.deletingLastPathComponent().appendingPathComponent("countersign-hook").path
    let binary =
        !CommandLine.arguments[0].contains("/")
        ? "countersign hook"
        : FileManager.default.isExecutableFile(atPath: slim) ? slim : executable.path + " hook"
    let base = scope == .user ? homeDirectory : FileManager.default.currentDirectoryPath
    let command =
        "\(binary) \(dialect.rawValue) --policy \(policyPath(scope: scope, policy: policy)) "
        + "--ledger \(base)/.countersign/ledger.sqlite --sessions \(base)/.countersign/sessions.sqlite"
    return HookInstaller(
        dialect: dialect, scope: scope, home: homeDirectory,
        project: FileManager.default.currentDirectoryPath, command: command)
}

func report(_ change: HookInstaller.Change, verb: String) throws {
    guard change.changed else {
        try Terminal.write("\(change.path): nothing to change (already \(verb))\n")
        return
    }
    var text = "\(verb) in \(change.path)"
    if let backup = change.backup { text += " (backup: \(backup))" }
    text += "\n" + HookInstaller.diff(change.before, change.after) + "\n"
    try Terminal.write(text)
}
