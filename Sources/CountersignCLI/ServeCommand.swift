import ArgumentParser
import CountersignCore
import CountersignGate
import CountersignLedger
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

            Binds 127.0.0.1:8787 by default. Listening on another address requires --api-token-env and a \
            reviewers file. SIGINT/SIGTERM close every open ask as ask->abandoned (answering its waiting \
            callers), then stop the server within 8 s, every receipt committed.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The policy (default .countersign/policy.yaml).", valueName: "file"))
    var policy: String?
    @OptionGroup var ledger: LedgerOptions
    @OptionGroup var checkpoints: CheckpointOptions
    @Option(name: .long, help: ArgumentHelp("Reviewers and their token variables (YAML).", valueName: "file"))
    var reviewers: String?
    @Option(name: .long, help: ArgumentHelp("Address to listen on.", valueName: "host:port"))
    var listen: String = "127.0.0.1:8787"
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
            let loaded = try Policy.load(path: policy ?? StateDirectory.path + "/policy.yaml")
            let writer = try checkpoints.writer(ledger, keyMode: .create)
            let store = try SessionStore(
                path: sessions ?? StateDirectory.path + "/sessions.sqlite",
                sealer: ValueSealer(key: writer.sealer.key.derivedKey(ValueSealer.purpose)))
            let gate = Gate(policy: loaded, writer: writer, sessions: store)
            let server = try CountersignServer(
                gate: gate,
                configuration: .init(
                    host: host, port: port, reviewers: directory, apiToken: apiToken))
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw CLIError("--log-level \(logLevel): trace, debug, info, notice, warning, error or critical")
            }
            var logger = Logger(label: "countersign.serve")
            logger.logLevel = level
            let reviewerCount = directory.reviewers.count
            try await server.run(logger: logger) { bound in
                let line =
                    "countersign serve: listening on http://\(host):\(bound) — dashboard at /, "
                    + "\(reviewerCount) reviewer(s)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
            await writer.close()
            print("countersign serve: stopped; every receipt is committed")
        }
    }
}
