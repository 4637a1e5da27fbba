import ArgumentParser

/// The `countersign` command: a thin shell over the library layers.
@available(macOS 15, *)
public struct CountersignCommand: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "countersign",
        abstract: "An execution-authorization firewall and flight recorder for AI agents.",
        discussion: """
            Every risky agent action becomes an action envelope; a YAML policy decides allow, ask (a second \
            human key) or deny, using labels that say which values came from untrusted or secret sources.

            Start here:
              countersign demo                 # three scenarios, signed receipts
              countersign receipts --format timeline
              countersign verify
              countersign policy test --policy P.yaml --cases P-tests.yaml
              countersign policy check --policy P.yaml
              countersign demo mcp-shim-eval   # a poisoned MCP server, without and with the proxy

            Protect an agent:
              countersign init                 # state directory, starter policy, signing key (pinned)
              countersign mcp proxy --policy P.yaml -- <MCP server command>
              countersign install claude-code  # or codex, gemini, cursor
              countersign serve --reviewers reviewers.yaml   # decision API + approvals dashboard

            Keep the record out of the agent's reach (docs/deployment.md):
              sudo countersign system install --agent-group countersign-agents   # the signer as its own user
              countersign install claude-code --signer unix:/run/countersign/countersign.sock
              countersign doctor               # what protects the record, in plain words

            State lives in .countersign/ (or $COUNTERSIGN_HOME): ledger.sqlite, signing-key, sessions.sqlite,
            mcp-pins.sqlite.

            Exit codes: 0 success; 1 invalid input, invalid policy or failing tests; 64 usage error.
            """,
        version: version,
        subcommands: [
            DemoCommand.self, InitCommand.self, PolicyCommand.self, ReceiptsCommand.self, VerifyCommand.self,
            ReplayCommand.self,
            KeysCommand.self, LedgerCommand.self, HookCommand.self, InstallCommand.self, UninstallCommand.self,
            MCPCommand.self, ServeCommand.self, HostileMCPServerCommand.self, CheckpointCommand.self,
            ProveCommand.self, WitnessCommand.self, SystemCommand.self, DoctorCommand.self,
        ]
    )

    public init() {}
}
