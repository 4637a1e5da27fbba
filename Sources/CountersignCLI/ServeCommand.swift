import ArgumentParser
import CountersignCore
import CountersignGate
import CountersignHooks
import CountersignLedger
import CountersignMCP
import CountersignPolicy
import CountersignProvenance
import CountersignServer
import Foundation
import Logging

/// `countersign serve`: the decision API, the approvals inbox and dashboard, probes and metrics.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the decision API, the approvals inbox and dashboard, /healthz, /readyz and /metrics.",
        discussion: """
            Agents in any language decide through POST /v1/decide and report outcomes through POST /v1/outcome \
            (docs/api.md). An `ask` waits in the approvals inbox until the rule's quorum of reviewers approves \
            in the dashboard (http://HOST:PORT/) or through the API; the agent long-polls \
            GET /v1/decisions/ID?wait=30s.

            Reviewers are declared in a YAML file; each token lives in the environment variable the entry names:
              reviewers:
                - {id: alice, name: Alice, token_env: COUNTERSIGN_TOKEN_ALICE, groups: [sre]}

            Coding agents' hooks are answered at POST /v1/hooks/claude-code|codex|gemini|cursor: point Claude \
            Code's "type": "http" hooks there, or run the thin client (countersign-hook-client AGENT --signer \
            ADDR) where an agent only runs commands (countersign install AGENT --signer ADDR writes either).

            As the signer service, listen on a Unix socket (--socket PATH): whoever connects is identified by \
            the kernel (uid, gid, pid), and every receipt records it under "caller", with "isolation": \
            "separate-user" when that uid is not the service's. The socket is mode 0660; --socket-group NAME \
            lets that group connect. See docs/deployment.md.

            Binds 127.0.0.1:8787 by default (with --socket alone, no TCP port unless --listen is given). \
            Listening on another address requires --api-token-env and a reviewers file. SIGINT/SIGTERM close every open ask as ask->abandoned (answering its waiting \
            callers), then stop the server within 8 s, every receipt committed.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The policy (default .countersign/policy.yaml).", valueName: "file"))
    var policy: String?
    @OptionGroup var ledger: LedgerOptions
    @OptionGroup var checkpoints: CheckpointOptions
    @Option(name: .long, help: ArgumentHelp("Reviewers and their token variables (YAML).", valueName: "file"))
    var reviewers: String?
    @Option(
        name: .long,
        help: ArgumentHelp("Address to listen on (default 127.0.0.1:8787 without --socket).", valueName: "host:port"))
    var listen: String?
    @Option(name: .long, help: ArgumentHelp("A Unix socket to listen on as well (mode 0660).", valueName: "path"))
    var socket: String?
    @Option(
        name: .customLong("socket-group"),
        help: ArgumentHelp("The group that may connect to --socket.", valueName: "name"))
    var socketGroup: String?
    @Flag(
        name: .customLong("trust-hook-prompts"),
        help:
            "Let user prompts that hooks report to this service clear labels (off: anyone running as the caller's user could post one)."
    )
    var trustHookPrompts = false
    @Option(
        name: .customLong("idle-timeout"),
        help: ArgumentHelp("Close a connection that sends no complete request for this long.", valueName: "duration"))
    var idleTimeout: String = "30s"
    @Option(
        name: .customLong("api-token-env"),
        help: ArgumentHelp("Environment variable holding the token agents must send.", valueName: "NAME"))
    var apiTokenEnv: String?
    @Option(
        name: .long, help: ArgumentHelp("Session state (default .countersign/sessions.sqlite).", valueName: "path"))
    var sessions: String?
    @Option(
        name: .customLong("log-level"),
        help: "trace, debug, info (one line per decision), notice (votes and lifecycle), warning, error.")
    var logLevel: String = "info"

    func run() async throws {
        try await reportingErrorsAsync {
            if socketGroup != nil && socket == nil { throw CLIError("--socket-group needs --socket PATH") }
            guard let idle = DurationText.seconds(idleTimeout), idle > 0 else {
                throw CLIError("--idle-timeout \(idleTimeout): a duration such as 30s")
            }
            if let socket { try CountersignServer.checkSocket(path: socket, group: socketGroup) }
            let listen = self.listen ?? "127.0.0.1:8787"
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                (0...65535).contains(port)
            else { throw CLIError("--listen \(listen): expected host:port, e.g. 127.0.0.1:8787") }
            let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            let directory = try reviewers.map { try ReviewerDirectory.load(path: $0) } ?? ReviewerDirectory()
            var apiToken: String?
            if let name = apiTokenEnv {
                guard let value = ProcessInfo.processInfo.environment[name], value.utf8.count >= 16 else {
                    throw CLIError("--api-token-env \(name): the variable must hold a token of at least 16 characters")
                }
                apiToken = value
            }
            if socket != nil && self.listen != nil && apiToken == nil {
                // The socket's per-user separation holds only for the socket: an open TCP port is a way around it.
                Terminal.error(
                    "countersign serve: warning: --listen without --api-token-env next to --socket: any local user "
                        + "can reach the TCP port without the socket's group, as one \"remote\" caller (no per-user "
                        + "separation); give agents the socket alone, or an API token")
            }
            let loaded = try Policy.load(path: policy ?? StateDirectory.path + "/policy.yaml")
            let writer = try checkpoints.writer(ledger, keyMode: .create)
            let store = try SessionStore(
                path: sessions ?? StateDirectory.path + "/sessions.sqlite",
                sealer: ValueSealer(key: writer.sealer.key.derivedKey(ValueSealer.purpose)))
            let gate = Gate(policy: loaded, writer: writer, sessions: store)
            let server = try CountersignServer(
                gate: gate,
                configuration: configuration(
                    host: host, port: port, directory: directory, apiToken: apiToken, gate: gate))
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw CLIError("--log-level \(logLevel): trace, debug, info, notice, warning, error or critical")
            }
            var logger = Logger(label: "countersign.serve")
            logger.logLevel = level
            let reviewerCount = directory.reviewers.count
            try await server.run(
                logger: logger,
                ready: { bound in
                    let line =
                        "countersign serve: listening on http://\(host):\(bound) — dashboard at /, "
                        + "\(reviewerCount) reviewer(s)\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                },
                socketReady: { path in
                    FileHandle.standardOutput.write(Data("countersign serve: listening on unix:\(path)\n".utf8))
                })
            await writer.close()
            print("countersign serve: stopped; every receipt is committed")
        }
    }

    func configuration(
        host: String, port: Int, directory: ReviewerDirectory, apiToken: String?, gate: Gate
    ) -> CountersignServer.Configuration {
        var configuration = CountersignServer.Configuration(
            host: host, port: port, reviewers: directory, apiToken: apiToken)
        configuration.listenTCP = socket == nil || listen != nil
        configuration.socketPath = socket
        configuration.socketGroup = socketGroup
        configuration.idleTimeout = .milliseconds(Int64((DurationText.seconds(idleTimeout) ?? 30) * 1000))
        // Descriptor pins for MCP proxies that use this service (mcp proxy --signer), beside the ledger.
        let pinPath = URL(fileURLWithPath: gate.ledgerPath).deletingLastPathComponent().path + "/mcp-pins.sqlite"
        let pinStore = PinStoreOnce(path: pinPath)
        configuration.pins = { server, kind, name, hash in
            switch try pinStore.store().check(server: server, kind: kind, name: name, hash: hash) {
            case .firstSeen: return ["status": "first_seen"]
            case .unchanged: return ["status": "unchanged"]
            case .changed(let pinnedHash, let pinnedAt):
                return ["status": "changed", "pinned_hash": .string(pinnedHash), "pinned_at": .string(pinnedAt)]
            }
        }
        let trustHookPrompts = self.trustHookPrompts
        configuration.hooks = HookEndpoint(agents: HookDialect.allCases.map(\.rawValue)) { agent, payload in
            guard let dialect = HookDialect(rawValue: agent) else {
                return .init(stdout: "", stderr: "unknown agent", exitCode: 2, httpBody: "{}")
            }
            var runner = HookRunner(dialect: dialect, gate: gate)
            runner.reports = Self.reportTrust(trustPrompts: trustHookPrompts)
            let (result, http) = await runner.runForHTTP(payload)
            return .init(stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode, httpBody: http)
        }
        return configuration
    }
}

extension ServeCommand {
    /// What the service believes of a hook's reports, by who posted them (the request's measured caller).
    static func reportTrust(trustPrompts: Bool) -> HookRunner.ReportTrust {
        guard let caller = CallerIdentity.current else { return .embedded }
        let reporter = caller.uid.map { "uid:\($0)" } ?? "a remote caller"
        return HookRunner.ReportTrust(
            promptsDeclassify: trustPrompts || caller.isolation == .sameUser, reporter: reporter,
            sessionPrefix: caller.sessionPrefix.isEmpty ? nil : caller.sessionPrefix)
    }
}

/// The pin store, opened on first use (a service that never sees an MCP proxy creates no file).
final class PinStoreOnce: @unchecked Sendable {
    // `opened` is guarded by `lock`.
    private let lock = NSLock()
    private var opened: DescriptorPins?
    let path: String

    init(path: String) { self.path = path }

    func store() throws -> DescriptorPins {
        try lock.withLock {
            if let opened { return opened }
            let store = try DescriptorPins(path: path)
            opened = store
            return store
        }
    }
}
