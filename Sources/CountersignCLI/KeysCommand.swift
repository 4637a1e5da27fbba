import ArgumentParser
import CountersignCore
import CountersignLedger
import Foundation

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Generate, show and rotate the Ed25519 key that signs receipts.",
        discussion: """
            Receipts are signed with an Ed25519 key. With none configured, the first command that writes a \
            receipt generates one in .countersign/signing-key (mode 0600) and says so once; there is no \
            built-in key. Give auditors the public key (countersign keys show) so 'verify --trusted-key' pins it.
            """,
        subcommands: [Generate.self, Show.self, Rotate.self, VerifyRotation.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a new signing key (mode 0600).")
        @Option(name: .long, help: ArgumentHelp("Where to write it.", valueName: "path")) var out: String?
        @Flag(name: .long, help: "Replace an existing key file.") var force = false

        func run() throws {
            try reportingErrors {
                let path = out ?? StateDirectory.path + "/signing-key"
                let key = SigningKey.generate()
                try KeyFile.write(key, to: path, overwrite: force)
                try Terminal.write(
                    "wrote \(path) (mode 0600)\nkey id: \(key.keyID)\npublic key: \(key.publicKey.hex)\n")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the public key and key id (never the private key).")
        @Option(name: .long, help: ArgumentHelp("The key file.", valueName: "path")) var key: String?
        @Option(name: .long, help: "text or json") var format: OutputFormat = .text

        func run() throws {
            try reportingErrors {
                let path = key ?? StateDirectory.path + "/signing-key"
                let loaded = try KeyFile.read(path)
                switch format {
                case .text:
                    try Terminal.write(
                        "key file: \(path)\nalgorithm: ed25519\nkey id: \(loaded.keyID)\npublic key: \(loaded.publicKey.hex)\n"
                    )
                case .json:
                    try Terminal.write(
                        Terminal.prettyJSON([
                            "path": .string(path), "algorithm": "ed25519", "key_id": .string(loaded.keyID),
                            "public_key": .string(loaded.publicKey.hex),
                        ]))
                }
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the key, keeping the old one, with a rotation manifest the old key signs.",
            discussion:
                "The manifest names both public keys and is signed by the old key, so anyone who trusted it can trust the new one."
        )
        @Option(name: .long, help: ArgumentHelp("The key file to rotate.", valueName: "path")) var key: String?
        @Option(name: .long, help: ArgumentHelp("Where to write the rotation manifest.", valueName: "path"))
        var manifest: String?

        func run() throws {
            try reportingErrors {
                let path = key ?? StateDirectory.path + "/signing-key"
                let old = try KeyFile.read(path)
                let next = SigningKey.generate()
                let retired = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(
                    "retired-keys"
                ).path
                try KeyFile.write(
                    old, to: "\(retired)/\(old.keyID.replacingOccurrences(of: ":", with: "-"))", overwrite: true)
                let document = KeyRotation.manifest(from: old, to: next)
                let manifestPath =
                    manifest
                    ?? URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(
                        "rotation-\(next.keyID.replacingOccurrences(of: ":", with: "-")).json"
                    ).path
                try Terminal.write(Terminal.prettyJSON(document), to: manifestPath)
                try KeyFile.write(next, to: path, overwrite: true)
                try Terminal.write(
                    "rotated \(path)\nold key id: \(old.keyID) (kept in \(retired))\nnew key id: \(next.keyID)\nmanifest: \(manifestPath)\n"
                )
            }
        }
    }

    struct VerifyRotation: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-rotation", abstract: "Check a rotation manifest's signature and hash.")
        @Argument(help: "The rotation manifest.") var manifest: String
        @Option(name: .long, help: "Also require the old key to be this public key (hex).") var trustedKey: String?

        func run() throws {
            try reportingErrors {
                guard let data = FileManager.default.contents(atPath: manifest) else {
                    throw CLIError("cannot read \(manifest)")
                }
                let result = KeyRotation.verify(try JSONValue.parse(data), trustedPrevious: trustedKey)
                if let problem = result {
                    Terminal.error("invalid rotation manifest: \(problem)")
                    throw ExitCode(1)
                }
                try Terminal.write("valid: signed by the previous key; payload hash matches\n")
            }
        }
    }
}

/// Signed statements that one key replaces another.
enum KeyRotation {
    static func manifest(from old: SigningKey, to next: SigningKey) -> JSONValue {
        var payload: [String: JSONValue] = [
            "format": "countersign.key-rotation.v1", "algorithm": "ed25519", "previous_key_id": .string(old.keyID),
            "previous_public_key": .string(old.publicKey.hex), "next_key_id": .string(next.keyID),
            "next_public_key": .string(next.publicKey.hex), "rotated_at": .string(Timestamp.now()),
        ]
        let hash = Digest.canonicalHash(.object(payload))
        payload["payload_hash"] = .string(hash)
        payload["signature"] = .string(old.sign(hash))
        return .object(payload)
    }

    /// nil when valid, else the problem.
    static func verify(_ manifest: JSONValue, trustedPrevious: String?) -> String? {
        guard case .object(var payload) = manifest else { return "not a JSON object" }
        let hash = payload.removeValue(forKey: "payload_hash")?.stringValue ?? ""
        let signature = payload.removeValue(forKey: "signature")?.stringValue ?? ""
        guard payload["algorithm"]?.stringValue == "ed25519" else { return "unsupported algorithm" }
        guard Digest.canonicalHash(.object(payload)) == hash else {
            return "payload hash mismatch (the manifest was edited)"
        }
        guard let previous = payload["previous_public_key"]?.stringValue, let key = try? PublicKey(hex: previous) else {
            return "bad previous_public_key"
        }
        guard key.keyID == payload["previous_key_id"]?.stringValue else {
            return "previous_key_id does not match previous_public_key"
        }
        if let next = payload["next_public_key"]?.stringValue,
            (try? PublicKey(hex: next))?.keyID != payload["next_key_id"]?.stringValue
        {
            return "next_key_id does not match next_public_key"
        }
        if let trustedPrevious, trustedPrevious.lowercased() != previous.lowercased() {
            return "signed by a key other than the trusted one"
        }
        guard key.verify(signatureHex: signature, message: hash) else { return "bad signature" }
        return nil
    }
}
