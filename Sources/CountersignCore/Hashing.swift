import Crypto

/// SHA-256 helpers that print digests the way every Countersign artefact spells them: `sha256:<hex>`.
public enum Digest {
    public static func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
        hex(SHA256.hash(data: Array(bytes)))
    }

    public static func sha256Hex(_ text: String) -> String {
        sha256Hex(text.utf8)
    }

    /// `sha256:` followed by the hex SHA-256 of the value's canonical (JCS) encoding.
    public static func canonicalHash(_ value: JSONValue) -> String {
        "sha256:" + sha256Hex(CanonicalJSON.string(value).utf8)
    }

    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let table = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(table[Int(byte >> 4)])
            out.append(table[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
