import CountersignCore
import Foundation

/// Signed statements that one signing key replaces another: `countersign.key-rotation.v1`, signed by the
/// previous key. A rotation is trusted only when its previous key is already trusted, so trust moves along
/// a chain that starts at a pinned key; a manifest signed by the new key alone proves nothing.
public enum KeyRotation {
    public static let format = "countersign.key-rotation.v1"

    public static func manifest(from old: SigningKey, to next: SigningKey, at time: String = Timestamp.now())
        -> JSONValue
    {
        var payload: [String: JSONValue] = [
            "format": .string(format), "algorithm": "ed25519", "previous_key_id": .string(old.keyID),
            "previous_public_key": .string(old.publicKey.hex), "next_key_id": .string(next.keyID),
            "next_public_key": .string(next.publicKey.hex), "rotated_at": .string(time),
        ]
        let hash = Digest.canonicalHash(.object(payload))
        payload["payload_hash"] = .string(hash)
        payload["signature"] = .string(old.sign(hash))
        return .object(payload)
    }

    /// nil when the manifest is well formed, signed by its previous key, and that key is trusted (or, with
    /// `trusted: nil`, when only its own signature is checked); else the problem.
    public static func verify(_ manifest: JSONValue, trusted: TrustedSigners?) -> String? {
        guard case .object(var payload) = manifest else { return "not a JSON object" }
        let hash = payload.removeValue(forKey: "payload_hash")?.stringValue ?? ""
        let signature = payload.removeValue(forKey: "signature")?.stringValue ?? ""
        guard payload["format"]?.stringValue == format else { return "not a \(format) manifest" }
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
        guard let next = payload["next_public_key"]?.stringValue, let nextKey = try? PublicKey(hex: next),
            nextKey.keyID == payload["next_key_id"]?.stringValue
        else { return "next_key_id does not match next_public_key" }
        guard nextKey != key else { return "the manifest rotates a key to itself" }
        guard key.verify(signatureHex: signature, message: hash) else {
            return "bad signature: not signed by the previous key \(key.keyID)"
        }
        if let trusted, trusted.keys[key.keyID] == nil {
            return "the previous key \(key.keyID) is not a trusted key, so this rotation proves nothing"
        }
        return nil
    }
}
