import ArgumentParser
import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import CountersignRemote
import CountersignWitness
import Foundation

struct LedgerOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The ledger: a .sqlite/.db or .jsonl path (default .countersign/ledger.sqlite).", valueName: "path"))
    var ledger: String?

    @Option(
        name: .long,
        help: "normal: a receipt survives the process being killed; full: also power loss (fsync per commit).")
    var sync: SyncMode = .normal

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The signing key file (default: COUNTERSIGN_SIGNING_KEY[_FILE], else .countersign/signing-key).",
            valueName: "path"))
    var key: String?

    @Flag(name: .long, help: "Store secrets as they are (redaction is on by default).")
    var noRedaction = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How long an append waits for another writer's lock before the decision is denied (default 5s).",
            valueName: "duration"))
    var lockTimeout: String = "5s"

    var ledgerPath: String { ledger ?? StateDirectory.defaultLedger }

    func openStore() throws -> any ReceiptStore {
        guard let seconds = DurationText.seconds(lockTimeout) else {
            throw CLIError("--lock-timeout \(lockTimeout): not a duration (e.g. 5s, 0.5)")
        }
        return try ReceiptStores.open(path: ledgerPath, sync: sync, lockTimeout: seconds)
    }

    /// The sealer for this ledger's key. `.create` only for commands that own a state home (serve, demo).
    func sealer(mode: KeyResolver.Mode = .existing) throws -> Sealer {
        let resolved = try KeyResolver.resolve(
            explicitPath: key, stateDirectory: StateDirectory.path, ledger: ledger, mode: mode)
        if let notice = resolved.notice { Terminal.error(notice) }
        return Sealer(key: resolved.key, redactor: Redactor(enabled: !noRedaction))
    }
}

extension SyncMode: ExpressibleByArgument {}

/// `--witness URL… --no-checkpoints`: the signed Merkle checkpoints a long-running writer makes.
struct CheckpointOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Submit the ledger's checkpoints to this tlog-witness (repeatable; also COUNTERSIGN_WITNESSES, comma-separated).",
            valueName: "url"))
    var witness: [String] = []

    @Flag(name: .long, help: "Do not write signed Merkle checkpoints beside the ledger (<ledger>.checkpoint).")
    var noCheckpoints = false

    /// The witnesses named by --witness and COUNTERSIGN_WITNESSES.
    var witnessURLs: [String] {
        let configured = (ProcessInfo.processInfo.environment["COUNTERSIGN_WITNESSES"] ?? "")
            .split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        return witness + configured
    }

    /// A writer that checkpoints after commits (at most once a second, and on `close`) unless
    /// --no-checkpoints, and submits each checkpoint to the configured witnesses.
    func writer(_ ledger: LedgerOptions, keyMode: KeyResolver.Mode = .existing) throws -> LedgerWriter {
        let store = try ledger.openStore()
        let sealer = try ledger.sealer(mode: keyMode)
        // A cut ledger is not written to: its checkpoint is the evidence.
        try LedgerCheckpoints.precheck(store: store)
        guard !noCheckpoints else { return LedgerWriter(store: store, sealer: sealer) }
        let cosigners: [any Cosigner] = try witnessURLs.map { try WitnessClient(parsing: $0) }
        let checkpointer = Checkpointer(
            store: store, key: sealer.key, cosigners: cosigners, report: { Terminal.error($0) })
        return LedgerWriter(store: store, sealer: sealer, checkpointer: checkpointer)
    }
}

/// Opens an existing ledger for reading; never creates one by accident.
func openExisting(_ path: String) throws -> any ReceiptStore {
    guard FileManager.default.fileExists(atPath: path) else {
        throw CLIError("no ledger at \(path) (run 'countersign demo' to create one, or pass the path)")
    }
    return try ReceiptStores.open(path: path)
}

/// Runs a command body, turning known errors into one line on stderr and exit code 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        Terminal.error("error: \(error)")
        throw ExitCode(1)
    }
}

func reportingErrorsAsync(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        Terminal.error("error: \(error)")
        throw ExitCode(1)
    }
}

/// Parses `30d`, `12h`, `90m` or an RFC 3339 time into an RFC 3339 cutoff.
func timeBound(_ text: String) throws -> String {
    if Timestamp.isValid(text) { return text }
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
    guard let unit = text.last.flatMap({ units[$0] }), let value = Double(text.dropLast()), value >= 0 else {
        throw CLIError("'\(text)' is neither a time (2026-01-31T00:00:00Z) nor an age (30d, 12h, 90m)")
    }
    let seconds = Date().timeIntervalSince1970 - value * unit
    return Timestamp.format(seconds: Int(seconds), microseconds: 0)
}

/// `--approval-server URL [--approval-server-token-env NAME]`: second keys from a `countersign serve` inbox.
struct ApprovalServerOptions: ParsableArguments {
    @Option(
        name: [.customLong("approval-server"), .customLong("server")],
        help: ArgumentHelp(
            "Ask for second keys in this countersign serve inbox (the web channel); --server is a synonym.",
            valueName: "url"))
    var url: String?
    @Option(
        name: .customLong("approval-server-token-env"),
        help: ArgumentHelp("Environment variable holding the server's API token.", valueName: "NAME"))
    var tokenEnv: String?

    func provider() throws -> RemoteWebApproval? {
        try Self.provider(url: url, tokenEnv: tokenEnv)
    }

    static func provider(url: String?, tokenEnv: String?) throws -> RemoteWebApproval? {
        guard let url else { return nil }
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw CLIError("--approval-server \(url): expected an http(s) URL such as http://127.0.0.1:8787")
        }
        var token: String?
        if let name = tokenEnv {
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw CLIError("--approval-server-token-env \(name): the variable is not set")
            }
            token = value
        }
        return RemoteWebApproval(server: parsed, token: token)
    }
}
