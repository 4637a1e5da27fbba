import CountersignCore
import Crypto
import Foundation

/// A signed note (c2sp.org/signed-note): UTF-8 text ending in a newline, a blank line, then one or more
/// signature lines `— <key name> <base64(4-byte key ID ‖ signature)>`.
public struct SignedNote: Sendable, Hashable {
    /// The signed text, including its final newline.
    public let text: String
    public var signatures: [NoteSignature]

    /// More signatures than any honest note carries (the spec asks verifiers to accept at least 16).
    public static let maximumSignatures = 100
    public static let maximumSize = 1 << 20

    public init(text: String, signatures: [NoteSignature]) {
        self.text = text
        self.signatures = signatures
    }

    /// The note as text: the signed text, a blank line, the signature lines.
    public var serialized: String { text + "\n" + signatures.map(\.line).joined() }

    public static func parse(_ data: Data) throws(NoteError) -> SignedNote {
        guard let text = String(data: data, encoding: .utf8) else { throw NoteError("the note is not valid UTF-8") }
        return try parse(text)
    }

    public static func parse(_ note: String) throws(NoteError) -> SignedNote {
        guard note.utf8.count <= maximumSize else { throw NoteError("the note is larger than \(maximumSize) bytes") }
        if let bad = note.unicodeScalars.first(where: { $0.value < 0x20 && $0 != "\n" }) {
            throw NoteError("the note contains the control character U+\(String(format: "%04X", bad.value))")
        }
        guard note.hasSuffix("\n") else { throw NoteError("the note does not end in a newline") }
        // The text is separated from the signatures by the last blank line.
        let bytes = Array(note.utf8)
        var split: Int?
        var index = bytes.count - 2
        while index >= 0 {
            if bytes[index] == 0x0A && bytes[index + 1] == 0x0A {
                split = index
                break
            }
            index -= 1
        }
        guard let split else { throw NoteError("the note has no blank line before its signatures") }
        let text = String(decoding: bytes[...split], as: UTF8.self)
        let block = String(decoding: bytes[(split + 2)...], as: UTF8.self)
        var signatures: [NoteSignature] = []
        for line in block.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            guard signatures.count < maximumSignatures else {
                throw NoteError("the note has more than \(maximumSignatures) signatures")
            }
            signatures.append(try NoteSignature.parse(String(line)))
        }
        guard !signatures.isEmpty else { throw NoteError("the note has no signature lines") }
        return SignedNote(text: text, signatures: signatures)
    }
}

/// One signature line of a note.
public struct NoteSignature: Sendable, Hashable {
    public let name: String
    /// The key ID, big-endian, as the first four bytes of the signature blob.
    public let keyID: [UInt8]
    /// What follows the key ID: the signature (for cosignatures, the timestamp and the signature).
    public let signature: [UInt8]

    public init(name: String, keyID: [UInt8], signature: [UInt8]) {
        self.name = name
        self.keyID = keyID
        self.signature = signature
    }

    public var line: String { "— \(name) \(Data(keyID + signature).base64EncodedString())\n" }

    public static func parse(_ line: String) throws(NoteError) -> NoteSignature {
        guard line.hasPrefix("— ") else {
            throw NoteError("a signature line must start with an em dash and a space: \(line.prefix(40))")
        }
        let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 2, let blob = Data(base64Encoded: String(fields[1])), blob.count > 4 else {
            throw NoteError("a signature line must be '— <key name> <base64 signature>': \(line.prefix(60))")
        }
        let name = String(fields[0])
        guard KeyName.isValid(name) else { throw NoteError("invalid key name '\(name)'") }
        let bytes = Array(blob)
        return NoteSignature(name: name, keyID: Array(bytes[..<4]), signature: Array(bytes[4...]))
    }
}

public enum KeyName {
    /// Non-empty, no Unicode spaces, no `+` (c2sp.org/signed-note).
    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("+")
            && !name.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 }
    }

    /// `SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]`.
    public static func keyID(name: String, type: UInt8, publicKey: some DataProtocol) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Array(name.utf8) + [0x0A, type])
        hasher.update(data: publicKey)
        return Array(hasher.finalize().prefix(4))
    }
}

/// An Ed25519 note key (signature type 0x01): signs notes, and verifies them for a (name, public key).
public struct NoteKey: Sendable {
    public static let ed25519: UInt8 = 0x01
    public let name: String
    public let publicKey: PublicKey

    public init(name: String, publicKey: PublicKey) throws(NoteError) {
        guard KeyName.isValid(name) else { throw NoteError("invalid key name '\(name)'") }
        self.name = name
        self.publicKey = publicKey
    }

    public var keyID: [UInt8] { KeyName.keyID(name: name, type: Self.ed25519, publicKey: publicKey.raw) }

    /// The verifier key string `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`.
    public var vkey: String {
        "\(name)+\(Digest.hex(Data(keyID)))+\(Data([Self.ed25519] + Array(publicKey.raw)).base64EncodedString())"
    }

    public static func parse(vkey: String) throws(NoteError) -> NoteKey {
        // The name and the hex key ID hold no '+'; the base64 key may.
        let parts = vkey.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let blob = Data(base64Encoded: String(parts[2])), blob.count == 33,
            blob.first == ed25519, let publicKey = try? PublicKey(hex: Digest.hex(blob.dropFirst()))
        else { throw NoteError("'\(vkey)' is not an Ed25519 verifier key <name>+<hex id>+<base64 key>") }
        let key = try NoteKey(name: String(parts[0]), publicKey: publicKey)
        guard Digest.hex(Data(key.keyID)) == parts[1].lowercased() else {
            throw NoteError("'\(vkey)': the key ID does not match the name and key")
        }
        return key
    }

    public static func sign(_ text: String, name: String, with key: SigningKey) throws(NoteError) -> NoteSignature {
        let note = try NoteKey(name: name, publicKey: key.publicKey)
        let signature = try! key.privateKey.signature(for: Data(text.utf8))
        return NoteSignature(name: name, keyID: note.keyID, signature: Array(signature))
    }

    /// The signatures on the note that match this key's name and key ID.
    public func matching(_ note: SignedNote) -> [NoteSignature] {
        note.signatures.filter { $0.name == name && $0.keyID == keyID }
    }

    /// True when the note carries a signature by this key and every one that claims to be by it verifies.
    public func verify(_ note: SignedNote) -> Bool {
        let mine = matching(note)
        return !mine.isEmpty
            && mine.allSatisfy { publicKey.key.isValidSignature($0.signature, for: Data(note.text.utf8)) }
    }
}

/// A witness cosignature (c2sp.org/tlog-cosignature, Ed25519, signature type 0x04): the key signs
/// `cosignature/v1\ntime <unix seconds>\n` followed by the checkpoint's note text, and the signature blob is
/// the 8-byte big-endian timestamp followed by the 64-byte Ed25519 signature.
public enum Cosignature {
    public static let type: UInt8 = 0x04

    public static func keyID(name: String, publicKey: PublicKey) -> [UInt8] {
        KeyName.keyID(name: name, type: type, publicKey: publicKey.raw)
    }

    static func message(_ text: String, time: UInt64) -> Data {
        Data("cosignature/v1\ntime \(time)\n\(text)".utf8)
    }

    public static func sign(
        _ checkpointText: String, name: String, key: SigningKey, time: UInt64 = UInt64(Date().timeIntervalSince1970)
    ) throws(NoteError) -> NoteSignature {
        guard KeyName.isValid(name) else { throw NoteError("invalid key name '\(name)'") }
        let signature = try! key.privateKey.signature(for: message(checkpointText, time: time))
        var stamp = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { stamp[i] = UInt8(truncatingIfNeeded: time >> (56 - 8 * UInt64(i))) }
        return NoteSignature(
            name: name, keyID: keyID(name: name, publicKey: key.publicKey), signature: stamp + Array(signature))
    }

    /// The cosignature by `publicKey` on the note, whatever name the witness signs with: the signature
    /// line's own name must produce its key ID with this key. Nil when there is none that verifies.
    public static func verified(in note: SignedNote, publicKey: PublicKey) -> (name: String, time: UInt64)? {
        for signature in note.signatures
        where signature.keyID == keyID(name: signature.name, publicKey: publicKey) && signature.signature.count == 72 {
            let time = signature.signature.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard time < 1 << 63 else { continue }
            if publicKey.key.isValidSignature(
                Data(signature.signature.dropFirst(8)), for: message(note.text, time: time))
            {
                return (signature.name, time)
            }
        }
        return nil
    }
}

public struct NoteError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
