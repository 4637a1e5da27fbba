import ArgumentParser
import CountersignCore
import CountersignLedger
import Foundation

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Generate, show, trust and rotate the Ed25519 key that signs receipts.",
        discussion: """
            Receipts are signed with an Ed25519 key; there is no built-in key. 'countersign init', 'demo', \
            'serve' and 'keys generate' create one when there is none, and pin its public key in your trust \
            file (\(UserTrust.path); set COUNTERSIGN_TRUST_FILE to move it), outside any project, like SSH's \
            known_hosts. 'verify' trusts the keys pinned there; hooks and the MCP proxy never create a key \
            and refuse an unpinned key found in the working directory. Give auditors the public key \
            (countersign keys show) so 'verify --trusted-key' pins it on their side.
            """,
        subcommands: [Generate.self, Show.self, Trust.self, Rotate.self, VerifyRotation.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new signing key (mode 0600) and pin its public key in your trust file.")
        @Option(
            name: .long,
            help: ArgumentHelp("Where to write it (default: the state home's signing-key).", valueName: "path"))
        var out: String?
        @Flag(name: .long, help: "Replace an existing key file.") var force = false
        @Flag(name: .long, help: "Do not pin the new key in your trust file.") var noPin = false

        func run() throws {
            try reportingErrors {
                let path = out ?? StateDirectory.path + "/signing-key"
                let key = SigningKey.generate()
                try KeyFile.write(key, to: path, overwrite: force)
                var pinned = "not pinned (--no-pin)"
                if !noPin {
                    try UserTrust.pin(key.publicKey, label: KeyResolver.absolute(path))
                    pinned = "pinned in \(UserTrust.path)"
                }
                try Terminal.write(
                    "wrote \(path) (mode 0600)\nkey id: \(key.keyID)\npublic key: \(key.publicKey.hex)\ntrust: \(pinned)\n"
                )
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the public key and key id (never the private key), and whether it is pinned.")
        @Option(name: .long, help: ArgumentHelp("The key file.", valueName: "path")) var key: String?
        @Option(name: .long, help: "text or json") var format: OutputFormat = .text

        func run() throws {
            try reportingErrors {
                let path = key ?? StateDirectory.path + "/signing-key"
                let loaded = try KeyFile.read(path)
                let pinned = UserTrust.isPinned(loaded.publicKey)
                switch format {
                case .text:
                    try Terminal.write(
                        "key file: \(path)\nalgorithm: ed25519\nkey id: \(loaded.keyID)\npublic key: \(loaded.publicKey.hex)\npinned: \(pinned ? "yes" : "no") (\(UserTrust.path))\n"
                    )
                case .json:
                    try Terminal.write(
                        Terminal.prettyJSON([
                            "path": .string(path), "algorithm": "ed25519", "key_id": .string(loaded.keyID),
                            "public_key": .string(loaded.publicKey.hex), "pinned": .bool(pinned),
                            "trust_file": .string(UserTrust.path),
                        ]))
                }
            }
        }
    }

    struct Trust: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pin a public key in your trust file (after checking it out of band).",
            discussion: """
                Use it for a key you did not create here: an auditor pinning the operator's public key, or \
                an existing key file you decided to keep using. A key file found in a project is never \
                trusted on its own.
                """)
        @Option(name: .long, help: ArgumentHelp("A key file whose public key to pin.", valueName: "path"))
        var key: String?
        @Option(name: .long, help: ArgumentHelp("A public key (hex) to pin.", valueName: "hex")) var publicKey: String?
        @Option(name: .long, help: "A label saying whose key it is.") var label: String?

        func validate() throws {
            if (key == nil) == (publicKey == nil) { throw ValidationError("pass exactly one of --key or --public-key") }
        }

        func run() throws {
            try reportingErrors {
                let pinned: PublicKey
                if let key { pinned = try KeyFile.read(key).publicKey } else { pinned = try PublicKey(hex: publicKey!) }
                try UserTrust.pin(pinned, label: label ?? key.map(KeyResolver.absolute) ?? "pinned by hand")
                try Terminal.write("pinned \(pinned.keyID) in \(UserTrust.path)\n")
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the key; the old key signs the hand-over and its private half is deleted.",
            discussion: """
                Writes a rotation manifest (countersign.key-rotation.v1) signed by the old key and records it \
                in the ledger as a 'key_rotated' event, also signed by the old key, so 'verify' follows the \
                chain: whoever trusts the old key trusts the new one from that receipt on. When the old key \
                is pinned in your trust file, the new one is pinned too. The old private key is deleted \
                (receipts stay verifiable with its public key).
                """)
        @Option(name: .long, help: ArgumentHelp("The key file to rotate.", valueName: "path")) var key: String?
        @Option(
            name: .long,
            help: ArgumentHelp(
                "The ledger to record the rotation in (default: the state home's; skipped when it does not exist).",
                valueName: "path"))
        var ledger: String?
        @Option(name: .long, help: ArgumentHelp("Where to write the rotation manifest.", valueName: "path"))
        var manifest: String?

        func run() throws {
            try reportingErrors {
                let path = key ?? KeyResolver.defaultPath(ledger: ledger, stateDirectory: StateDirectory.path)
                let old = try KeyFile.read(path)
                let next = SigningKey.generate()
                let document = KeyRotation.manifest(from: old, to: next)
                let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
                let manifestPath =
                    manifest
                    ?? directory.appendingPathComponent(
                        "rotation-\(next.keyID.replacingOccurrences(of: ":", with: "-")).json"
                    ).path
                try Terminal.write(Terminal.prettyJSON(document), to: manifestPath)
                // The hand-over is recorded, signed by the old key, before the new key signs anything.
                let ledgerPath = ledger ?? StateDirectory.defaultLedger
                var recorded = "no ledger at \(ledgerPath); the manifest is the only record"
                if FileManager.default.fileExists(atPath: ledgerPath) {
                    let store = try ReceiptStores.open(path: ledgerPath)
                    var draft = ReceiptDraft(kind: .event, status: "key_rotated")
                    draft.extra["rotation"] = document
                    let receipts = try store.append(
                        [draft], sealer: Sealer(key: old, redactor: Redactor(enabled: false)))
                    _ = try? LedgerCheckpoints.advance(store: store, key: old)
                    recorded = "recorded as receipt #\(receipts.first?.seq ?? 0) in \(ledgerPath)"
                }
                let wasPinned = UserTrust.isPinned(old.publicKey)
                if wasPinned {
                    try UserTrust.pin(
                        next.publicKey, label: "rotated from \(old.keyID) (\(KeyResolver.absolute(path)))")
                }
                try KeyFile.write(next, to: path, overwrite: true)
                let retired = directory.appendingPathComponent("retired-keys").path
                var deleted = ""
                if FileManager.default.fileExists(atPath: retired) {
                    try FileManager.default.removeItem(atPath: retired)
                    deleted = "; deleted the retired private keys kept by older versions in \(retired)"
                }
                try Terminal.write(
                    """
                    rotated \(path)
                    old key id: \(old.keyID) (private key deleted\(deleted))
                    new key id: \(next.keyID)
                    manifest: \(manifestPath)
                    ledger: \(recorded)
                    trust: \(wasPinned ? "new key pinned in \(UserTrust.path)" : "the old key was not pinned in \(UserTrust.path), so neither is the new one")

                    """)
            }
        }
    }

    struct VerifyRotation: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-rotation",
            abstract: "Check a rotation manifest: its hash, and a signature by an already trusted key.",
            discussion: """
                The previous key must be trusted: --trusted-key, else your trust file. A manifest signed only \
                by the new key, or by a key nobody pinned, proves nothing.
                Exit codes: 0 valid, 1 invalid, 3 unverified (no trusted key to check it against).
                """)
        @Argument(help: "The rotation manifest.") var manifest: String
        @Option(name: .long, help: "A trusted public key (hex); repeatable. Default: your trust file.")
        var trustedKey: [String] = []

        func run() throws {
            try reportingErrors {
                guard let data = FileManager.default.contents(atPath: manifest) else {
                    throw CLIError("cannot read \(manifest)")
                }
                var trust = TrustedSigners(keys: try trustedKey.map { try PublicKey(hex: $0) }, source: "--trusted-key")
                if trust.isEmpty { trust = try UserTrust.load() }
                let parsed = try JSONValue.parse(data)
                if let problem = KeyRotation.verify(parsed, trusted: nil) {
                    Terminal.error("invalid rotation manifest: \(problem)")
                    throw ExitCode(1)
                }
                if trust.isEmpty {
                    Terminal.error("UNVERIFIED (no trusted key): pass --trusted-key or pin the previous key")
                    throw ExitCode(3)
                }
                if let problem = KeyRotation.verify(parsed, trusted: trust) {
                    Terminal.error("invalid rotation manifest: \(problem)")
                    throw ExitCode(1)
                }
                try Terminal.write("valid: signed by the trusted key \(parsed["previous_key_id"]?.stringValue ?? "")\n")
            }
        }
    }
}
