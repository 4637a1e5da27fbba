import ArgumentParser
import CountersignCore
import CountersignHooks
import CountersignLedger
import CountersignPolicy
import CountersignSignerClient
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

            With --signer ADDR the hooks go to the signer service (countersign serve --socket, or countersign \
            system install) and this project keeps no policy, ledger or key: for Claude Code and an http:// \
            address, a "type": "http" hook posting to ADDR/v1/hooks/claude-code; otherwise the thin command \
            countersign-hook-client AGENT --signer ADDR. Both with the agent's fail-closed setting where it has \
            one (Claude Code: "onFailure": "block"), so a service that is down or slow blocks the call.
            """
    )

    @Argument(help: "claude-code, codex, gemini or cursor") var agent: String
    @Option(name: .long, help: "project (this directory) or user (your home).") var scope: HookInstaller.Scope =
        .project
    @Option(
        name: .long,
        help: ArgumentHelp("The policy the hooks use (default <scope>/.countersign/policy.yaml).", valueName: "file"))
    var policy: String?
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The signer service to send every hook call to: unix:/PATH or http://HOST:PORT.", valueName: "addr"))
    var signer: String?

    static let starterPolicy = #"""
        # The starter policy `countersign install` writes when none exists. It works for every agent: rules read
        # surfaces and content, not tool names. Edit it; `countersign policy check` lints it.
        # Paths are matched normalised (`..` and `.` resolved, relative paths also against the payload's cwd).
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
          - id: credential_stores_are_secret
            when:
              intent: read
              target_glob: &credential_stores
                - "*/.countersign/signing-key*"
                - ".countersign/signing-key*"
                - "/var/lib/countersign/*"
                - "*/.ssh"
                - "*/.ssh/*"
                - ".ssh/*"
                - "*/.aws/*"
                - "*/.netrc"
                - "*/.git-credentials"
                - "*/.docker/config.json"
                - "*/.kube/config"
                - "*/.config/gh/*"
                - "*/.config/gcloud/*"
                - "*/.azure/*"
                - "*/.gnupg/*"
                - "*/.npmrc"
                - "*/.pypirc"
                - "*id_rsa*"
                - "*id_ed25519*"
                - "*id_ecdsa*"
            output: [secret]
          - id: credential_commands_are_secret
            when: {surface: shell, arg_regex: {command: &credential_words "(\\.countersign/signing-key|/var/lib/countersign|\\.ssh|\\.aws/|\\.netrc|\\.git-credentials|\\.docker/config|\\.kube/config|\\.config/(gh|gcloud)|\\.azure/|\\.gnupg|\\.npmrc|\\.pypirc|id_rsa|id_ed25519|id_ecdsa)"}}
            output: [secret]
          # Whatever the tool (a list of paths, a directory to search, a shell command), an argument naming a
          # credential store or a key file is tagged by the adapter: what such a call returns is secret.
          - id: credential_reads_are_secret
            when: {tags_any: [credentials]}
            output: [secret]
          - id: secret_file_commands_are_secret
            when: {surface: shell, tags_any: [secrets]}
            output: [secret]

        rules:
          - id: destructive_commands_are_denied
            when:
              surface: shell
              arg_regex:
                command:
                  # rm with a recursive and a force flag in any spelling, by any path, escaped or behind a wrapper.
                  - "(^|[\\s;&|(`])(sudo\\s+|doas\\s+|command\\s+|exec\\s+|env\\s+|nice\\s+|nohup\\s+|time\\s+|xargs\\s+)*(\\S*/)?\\\\?['\"]?rm['\"]?(?=\\s)(?=[^;&|\\n]*\\s(-[a-zA-Z'\"\\\\]*[rR]|--r[a-z]*\\b))(?=[^;&|\\n]*\\s(-[a-zA-Z'\"\\\\]*f|--f[a-z]*\\b))"
                  - "(^|[\\s;&|(`])git\\s+reset\\s+--hard\\b"
                  - "(^|[\\s;&|(`])mkfs(\\.|\\s)"
                  - "(^|[\\s;&|(`])dd\\s+[^;&|\\n]*of=/dev/"
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
          # Countersign's own state and the agents' settings and hooks keep the agent in check: the agent never
          # changes them, and never reads the signing key or a credential store, without a second key.
          - id: agent_controls_need_a_second_key
            when:
              intent: write
              target_glob: &agent_controls
                - "*/.countersign/*"
                - ".countersign/*"
                - "*/.config/countersign/*"
                - "/etc/countersign/*"
                - "/var/lib/countersign/*"
                - "*/.claude/*"
                - ".claude/*"
                - "*/.claude.json"
                - "*/.mcp.json"
                - ".mcp.json"
                - "*/.codex/*"
                - ".codex/*"
                - "*/.gemini/*"
                - ".gemini/*"
                - "*/.cursor/*"
                - ".cursor/*"
                # The repository's own controls: git config and hooks run code on the next git command; direnv
                # and editors run what these files say.
                - "*/.git/*"
                - ".git/*"
                - "*/.envrc"
                - ".envrc"
                - "*/.vscode/*"
                - ".vscode/*"
            decision: ask
            reason: This changes Countersign's or an agent's own settings, hooks or records; a human confirms it.
          - id: credential_reads_need_a_second_key
            when: {intent: read, target_glob: *credential_stores}
            decision: ask
            reason: This reads a signing key or a credential store; a human confirms it.
          - id: tagged_credentials_need_a_second_key
            when: {tags_any: [credentials]}
            decision: ask
            reason: This names a signing key or a credential store; a human confirms it.
          - id: commands_on_controls_need_a_second_key
            when:
              surface: shell
              arg_regex:
                command:
                  - *credential_words
                  - "(\\.countersign|\\.config/countersign|\\.claude|\\.codex|\\.gemini|\\.cursor|\\.mcp\\.json)\\b"
            decision: ask
            reason: This command touches credentials, Countersign's state or an agent's settings; a human confirms it.
          - id: untrusted_content_does_not_drive_commands
            when: {surface: shell, args_labels_any: [untrusted]}
            decision: ask
            reason: This command uses text that came from a web page or an MCP server.
          - id: pushes_need_a_second_key
            when: {surface: shell, arg_regex: {command: "(^|[\\s;&|(`])git\\s+push\\b"}}
            decision: ask
            reason: Pushing publishes work; a human confirms it.
          - id: reads_are_allowed
            when: {intent: read, tags_none: [secrets]}
            decision: allow
          # One simple command with plain arguments: no newline, separator, pipe, redirection, substitution,
          # quoting or glob can smuggle in a second command (\Z is the very end of the text).
          - id: read_only_commands
            when:
              surface: shell
              arg_regex:
                command: "^ *((ls|pwd|cat|head|tail|wc|git (status|diff|log|show))( +(?!--output)[A-Za-z0-9_./=:@%+,~^-]+)*|git branch( +(-a|-r|-v|-vv|--list|--all|--remotes|--show-current))*) *\\Z"
            decision: allow

        """#

    func run() throws {
        if let signer {
            try reportingErrors { try installForSigner(signer) }
            return
        }
        try reportingErrors {
            let policyPath = policyPath(scope: scope, policy: policy)
            if !FileManager.default.fileExists(atPath: policyPath) {
                try FileManager.default.createDirectory(
                    at: URL(fileURLWithPath: policyPath).deletingLastPathComponent(), withIntermediateDirectories: true)
                try Self.starterPolicy.write(toFile: policyPath, atomically: true, encoding: .utf8)
                try Terminal.write(
                    "wrote a starter policy to \(policyPath) (edit it; check it with countersign policy check)\n")
            }
            // The hooks never create a key themselves: make the one they will name now, where it is announced.
            // It is pinned in the user's trust file; a key already there that nobody pinned (a repository can
            // ship one) is refused rather than written into the hooks.
            let keyPath = stateBase(scope: scope) + "/.countersign/signing-key"
            if !FileManager.default.fileExists(atPath: keyPath) {
                let key = SigningKey.generate()
                try KeyFile.write(key, to: keyPath)
                try UserTrust.pin(key.publicKey, label: KeyResolver.absolute(keyPath))
                try Terminal.write(
                    "generated a signing key \(key.keyID) at \(keyPath) (mode 0600) and pinned it in \(UserTrust.path)\n"
                )
            } else {
                let existing = try KeyFile.read(keyPath)
                guard UserTrust.isPinned(existing.publicKey) else {
                    throw CLIError(
                        "\(keyPath) (\(existing.keyID)) is not a key you created or pinned (\(UserTrust.path)); a project can ship a key but cannot make your hooks sign with it. If it is yours: countersign keys trust --key \(keyPath); otherwise remove it"
                    )
                }
            }
            let loaded = try Policy.load(path: policyPath)
            let installer = try makeInstaller(
                agent: agent, scope: scope, policy: policy,
                timeoutSeconds: HookInstaller.timeout(longestApprovalWait: loaded.longestApprovalWait))
            try report(try installer.install(), verb: "installed")
            if let warning = installer.failClosedWarning {
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
        }
    }
}

extension InstallCommand {
    /// Hooks that only forward to the signer service: nothing here decides, records or signs.
    func installForSigner(_ signer: String) throws {
        guard policy == nil else {
            throw CLIError("--policy cannot be used with --signer: the service has its own policy")
        }
        let address: SignerAddress
        do { address = try SignerAddress.parse(signer) } catch { throw CLIError("--signer: \(error)") }
        guard let dialect = HookDialect(rawValue: agent) else {
            throw CLIError("unknown agent '\(agent)': claude-code, codex, gemini or cursor")
        }
        var program = ["countersign-hook-client"]
        if CommandLine.arguments[0].contains("/") {
            let client = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.deletingLastPathComponent()
                .appendingPathComponent("countersign-hook-client").path
            guard FileManager.default.isExecutableFile(atPath: client) else {
                throw CLIError("\(client) is missing: install it beside countersign (scripts/install)")
            }
            program = [client]
        }
        // The service answers at once; an ask waits for the agent's own dialog, not here.
        var installer = HookInstaller(
            dialect: dialect, scope: scope, home: homeDirectory, project: FileManager.default.currentDirectoryPath,
            arguments: program + [dialect.rawValue, "--signer", address.description], timeoutSeconds: 60)
        if dialect == .claudeCode, !address.isUnix {
            installer.httpURL = address.description + "/v1/hooks/claude-code"
        } else if address.needsTLS {
            throw CLIError(
                "--signer \(signer): \(dialect.rawValue) runs a command per call, and the thin hook client links no TLS: "
                    + "use unix:PATH or a loopback http:// address (Claude Code's HTTP hook can use https)")
        }
        try report(try installer.install(), verb: "installed")
        if let warning = installer.failClosedWarning {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
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
            try report(
                try makeInstaller(agent: agent, scope: scope, policy: nil, timeoutSeconds: 0).uninstall(),
                verb: "uninstalled")
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
    return stateBase(scope: scope) + "/.countersign/policy.yaml"
}

/// Where `.countersign/` lives for a scope: the project directory or the home directory.
func stateBase(scope: HookInstaller.Scope) -> String {
    scope == .user ? homeDirectory : FileManager.default.currentDirectoryPath
}

func makeInstaller(agent: String, scope: HookInstaller.Scope, policy: String?, timeoutSeconds: Int) throws
    -> HookInstaller
{
    guard let dialect = HookDialect(rawValue: agent) else {
        throw CLIError("unknown agent '\(agent)': claude-code, codex, gemini or cursor")
    }
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    // The slim `countersign-hook` beside this binary starts faster; `countersign hook` does the same.
    let slim = executable.deletingLastPathComponent().appendingPathComponent("countersign-hook").path
    let program: [String] =
        !CommandLine.arguments[0].contains("/")
        ? ["countersign", "hook"]
        : FileManager.default.isExecutableFile(atPath: slim) ? [slim] : [executable.path, "hook"]
    let state = stateBase(scope: scope) + "/.countersign"
    // Every path absolute, so the hook finds the same files whatever directory the agent runs it in.
    let arguments =
        program + [
            dialect.rawValue, "--policy", policyPath(scope: scope, policy: policy), "--ledger",
            state + "/ledger.sqlite",
            "--sessions", state + "/sessions.sqlite", "--key", state + "/signing-key",
        ]
    return HookInstaller(
        dialect: dialect, scope: scope, home: homeDirectory, project: FileManager.default.currentDirectoryPath,
        arguments: arguments, timeoutSeconds: timeoutSeconds)
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
