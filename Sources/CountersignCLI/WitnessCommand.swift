import ArgumentParser
import CountersignCore
import CountersignLedger
import CountersignWitness
import Foundation
import Logging

/// `countersign witness`: run a tlog-witness that cosigns ledgers' checkpoints.
struct WitnessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: "Run a transparency-log witness for ledgers' checkpoints (C2SP tlog-witness).",
        subcommands: [WitnessServeCommand.self]
    )
}

struct WitnessServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Cosign checkpoints that consistently extend the last one cosigned, per log.",
        discussion: """
            Serves POST /add-checkpoint (c2sp.org/tlog-witness). For each log origin it keeps the latest \
            checkpoint it cosigned (in --state); it cosigns a new checkpoint only when one of the --log-key \
            keys signed it and an RFC 6962 consistency proof leads from the kept one to it. A rewritten, forked \
            or truncated log is refused (409 or 422) even when it is signed by the log's own key. The answer is \
            a timestamped Ed25519 cosignature (c2sp.org/tlog-cosignature).

            countersign witness serve --key witness-key --listen 127.0.0.1:7380 --log-key <log public key hex>

            Give verifiers the witness's public key (countersign keys show --key witness-key) for \
            'countersign verify --witness HEX'. Port 0 picks a free port; the bound address is printed.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The witness's Ed25519 key file.", valueName: "path")) var key: String
    @Option(name: .long, help: ArgumentHelp("Address to listen on.", valueName: "host:port")) var listen =
        "127.0.0.1:7380"
    @Option(
        name: .long,
        help: ArgumentHelp("A log public key (hex) whose checkpoints to accept; repeatable.", valueName: "hex"))
    var logKey: [String] = []
    @Option(
        name: .long,
        help: ArgumentHelp(
            "State directory: the latest cosigned checkpoint per log (default .countersign/witness).",
            valueName: "path"))
    var state: String?
    @Option(name: .long, help: ArgumentHelp("The witness name (default countersign.dev/witness/<key hash>).")) var name:
        String?

    func validate() throws {
        if logKey.isEmpty {
            throw ValidationError("name the logs to witness with --log-key HEX (the log's 'countersign keys show')")
        }
    }

    func run() async throws {
        try await reportingErrorsAsync {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                (0...65535).contains(port)
            else { throw CLIError("--listen \(listen): expected host:port, e.g. 127.0.0.1:7380") }
            let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            let signingKey = try KeyFile.read(key)
            let logs = try logKey.map { hex in
                let publicKey = try PublicKey(hex: hex)
                return try NoteKey(name: publicKey.keyID, publicKey: publicKey)
            }
            let core = try WitnessCore(
                key: signingKey, name: name, directory: state ?? StateDirectory.path + "/witness", logKeys: logs)
            var logger = Logger(label: "countersign.witness")
            logger.logLevel = .warning
            let server = WitnessServer(core: core, host: host, port: port)
            let witnessName = core.name
            let publicKey = signingKey.publicKey.hex
            try await server.run(logger: logger) { bound in
                let line =
                    "countersign witness: listening on http://\(host):\(bound) as \(witnessName) (public key \(publicKey))\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
        }
    }
}
