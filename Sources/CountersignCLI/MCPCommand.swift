import ArgumentParser
import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignMCP
import CountersignPolicy
import CountersignProvenance
import CountersignRemote
import CountersignSignerClient
import Foundation

/// `countersign mcp …`: the MCP stdio proxy and its descriptor pins.
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Put Countersign between an MCP client and an MCP server.",
        subcommands: [MCPProxyCommand.self, MCPPinsCommand.self]
    )
}

struct MCPProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Mediate every tool, resource and prompt call of a stdio MCP server.",
        discussion: """
            Configure the MCP client to start `countersign mcp proxy --policy P -- <server command>` instead of \
            the server. The proxy speaks newline-delimited JSON-RPC on stdin/stdout and starts the server \
            with a cleared environment (plus --allow-env names); the server's stderr goes to \
            mcp-server.log next to the ledger, the proxy's own notes to mcp-proxy.log.

            tools/call, resources/read and prompts/get go through the policy; blocked calls never reach the \
            server and come back as a tool error naming the rule. Tool descriptors are pinned on first \
            sight; a changed or poisoned one labels its calls poisoned-suspect. Outputs are labelled by the \
            policy's label sources, so a value from an untrusted output is caught when it reappears.

            Approvals (--approval): auto = the client's elicitation (input_required for 2026-07-28 \
            clients) when it declared the capability, else the terminal, else rejected. \
            See docs/mcp-proxy.md for the method table and every limit.

            With --signer ADDR (or $COUNTERSIGN_SIGNER) the signer service decides and records every call, \
            keeps the session's labels and the descriptor pins, and the proxy loads no policy, opens no ledger \
            and holds no key. A second key then comes from the service's reviewers (its dashboard), never from \
            the client, whose answer would pass through this proxy. If the service is down or late, calls are \
            answered with a tool error naming the address.

            Example:
              countersign mcp proxy --policy examples/policies/mcp-proxy.yaml --name files -- python3 server.py
            """
    )

    @Option(name: .long, help: ArgumentHelp("The policy (default .countersign/policy.yaml).", valueName: "file"))
    var policy: String?
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The server's name: the actor of its calls in the policy and receipts (default: the command's "
                + "basename). What the server calls itself is recorded, never trusted.", valueName: "name"))
    var name: String?
    @OptionGroup var ledger: LedgerOptions
    @OptionGroup var checkpoints: CheckpointOptions
    @Option(name: .long, help: "auto, elicitation, tty, web (needs --approval-server), auto-approve or auto-deny.")
    var approval: ApprovalMode = .auto
    @OptionGroup var approvalServer: ApprovalServerOptions
    @Option(
        name: .customLong("allow-env"),
        help: ArgumentHelp("Pass this environment variable to the server (repeatable).", valueName: "NAME"))
    var allowEnv: [String] = []
    @Option(name: .long, help: ArgumentHelp("How long the server may take to answer a request.", valueName: "duration"))
    var timeout: String = "2m"
    @Option(
        name: .customLong("approval-timeout"),
        help: ArgumentHelp("How long a second key may take when the rule does not say.", valueName: "duration"))
    var approvalTimeout: String = "5m"
    @Option(
        name: .customLong("max-message-bytes"),
        help: ArgumentHelp("Longest JSON-RPC message accepted from either side.", valueName: "bytes"))
    var maxMessageBytes: Int = 4 * 1024 * 1024
    @Option(
        name: .long,
        help: ArgumentHelp("Descriptor pins (default .countersign/mcp-pins.sqlite).", valueName: "path"))
    var pins: String?
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The signer service that decides and records: unix:/PATH or http://HOST:PORT.", valueName: "addr"))
    var signer: String?
    @Argument(parsing: .postTerminator, help: "The MCP server's command and arguments, after '--'.")
    var server: [String] = []

    func validate() throws {
        guard !server.isEmpty else {
            throw ValidationError("give the MCP server's command after '--', e.g. -- python3 server.py")
        }
        for name in allowEnv
        where name.isEmpty || !name.allSatisfy({ $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) }) {
            throw ValidationError("--allow-env \(name): not an environment variable name")
        }
        guard DurationText.seconds(timeout) != nil else {
            throw ValidationError("--timeout \(timeout): not a duration (e.g. 30s, 2m)")
        }
        guard DurationText.seconds(approvalTimeout) != nil else {
            throw ValidationError("--approval-timeout \(approvalTimeout): not a duration (e.g. 90s, 5m)")
        }
        guard maxMessageBytes >= 1024 else { throw ValidationError("--max-message-bytes must be at least 1024") }
        if let address = signerAddress {
            do { _ = try SignerAddress.parse(address) } catch { throw ValidationError("--signer: \(error)") }
            var embedded: [String] = []
            if policy != nil { embedded.append("--policy") }
            if ledger.ledger != nil { embedded.append("--ledger") }
            if ledger.key != nil { embedded.append("--key") }
            if pins != nil { embedded.append("--pins") }
            if approvalServer.url != nil { embedded.append("--approval-server") }
            if !embedded.isEmpty {
                throw ValidationError(
                    "\(embedded.joined(separator: ", ")) cannot be used with a signer (--signer or $COUNTERSIGN_SIGNER): "
                        + "the service has its own policy, ledger, key, pins and reviewers")
            }
        }
        if approval == .web && approvalServer.url == nil {
            throw ValidationError("--approval web needs --approval-server URL (a countersign serve inbox)")
        }
    }

    /// `--signer`, else `$COUNTERSIGN_SIGNER`.
    var signerAddress: String? {
        signer
            ?? ProcessInfo.processInfo.environment[SignerAddress.environmentVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    func run() async throws {
        if let address = signerAddress {
            try await runThroughSigner(try SignerAddress.parse(address))
            return
        }
        var status: Int32 = 0
        try await reportingErrorsAsync {
            let loaded = try Policy.load(path: policy ?? StateDirectory.path + "/policy.yaml")
            let writer = try checkpoints.writer(ledger)
            let gate = Gate(
                policy: loaded, writer: writer, sessions: MemorySessionStore(),
                defaultApprovalTimeout: DurationText.seconds(approvalTimeout)!)
            let directory = URL(fileURLWithPath: ledger.ledgerPath).deletingLastPathComponent().path
            let pinStore = try DescriptorPins(path: pins ?? StateDirectory.path + "/mcp-pins.sqlite")
            let options = ProxyOptions(
                serverCommand: server, maximumMessageBytes: maxMessageBytes,
                downstreamTimeout: .milliseconds(Int64(DurationText.seconds(timeout)! * 1000)), approvalMode: approval,
                approvalServer: try approvalServer.provider(), name: name)
            status = try await StdioProxy.run(
                gate: gate, options: options, pins: pinStore, allowEnvironment: allowEnv,
                paths: .init(serverLog: directory + "/mcp-server.log", proxyLog: directory + "/mcp-proxy.log"))
            await writer.close()
        }
        if status != 0 { throw ExitCode(status) }
    }
}

extension MCPProxyCommand {
    /// The proxy as a client of the signer service: the same proxy, deciding and recording through it.
    func runThroughSigner(_ address: SignerAddress) async throws {
        var status: Int32 = 0
        try await reportingErrorsAsync {
            // Logs only (the record is the service's): beside the project's state, created if needed.
            let directory = StateDirectory.path
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let proxyLog = directory + "/mcp-proxy.log"
            let gate = RemoteGate(
                address: address, defaultApprovalTimeout: DurationText.seconds(approvalTimeout)!,
                token: ProcessInfo.processInfo.environment["COUNTERSIGN_TOKEN"],
                report: { message in
                    FileHandle.standardError.write(Data("countersign mcp proxy: \(message)\n".utf8))
                })
            var options = ProxyOptions(
                serverCommand: server, maximumMessageBytes: maxMessageBytes,
                downstreamTimeout: .milliseconds(Int64(DurationText.seconds(timeout)! * 1000)), approvalMode: approval,
                approvalServer: nil, name: name)
            options.secondKeyAtSigner = true
            status = try await StdioProxy.run(
                gate: gate, options: options, pins: RemotePins(gate: gate), allowEnvironment: allowEnv,
                paths: .init(serverLog: directory + "/mcp-server.log", proxyLog: proxyLog))
            await gate.flush()
        }
        if status != 0 { throw ExitCode(status) }
    }
}

/// Descriptor pins kept by the signer service.
struct RemotePins: DescriptorPinning {
    let gate: RemoteGate

    func check(server: String, kind: String, name: String, hash: String) throws -> DescriptorPins.Status {
        let answer = try gate.checkPin(server: server, kind: kind, name: name, hash: hash)
        switch answer["status"]?.stringValue {
        case "first_seen": return .firstSeen
        case "unchanged": return .unchanged
        case "changed":
            return .changed(
                pinnedHash: answer["pinned_hash"]?.stringValue ?? "?", pinnedAt: answer["pinned_at"]?.stringValue ?? "?"
            )
        default: throw SignerError("the signer at \(gate.address) answered a pin check without a status")
        }
    }
}

extension ApprovalMode: ExpressibleByArgument {}

struct MCPPinsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pins",
        abstract: "Forget pinned MCP descriptors after you reviewed a server's update.",
        discussion: """
            The proxy pins each tool, resource and prompt descriptor on first sight per server command line; \
            a later change labels that tool's calls poisoned-suspect until the pins are reset.
            """
    )

    @Flag(name: .long, help: "Forget the pins (of --server, or of every server).") var reset = false
    @Option(name: .long, help: ArgumentHelp("The server command line, as the proxy was given it.", valueName: "cmd"))
    var server: String?
    @Option(name: .long, help: ArgumentHelp("The pin store (default .countersign/mcp-pins.sqlite).", valueName: "path"))
    var pins: String?

    func run() async throws {
        try reportingErrors {
            guard reset else { throw CLIError("nothing to do: pass --reset [--server CMD]") }
            let store = try DescriptorPins(path: pins ?? StateDirectory.path + "/mcp-pins.sqlite")
            let count = try store.reset(server: server)
            print("forgot \(count) pinned descriptor(s)")
        }
    }
}
