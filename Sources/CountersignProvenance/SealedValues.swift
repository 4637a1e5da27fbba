import CountersignCore
import Crypto
import Foundation

/// Keys the values of secret (confidentiality-labelled) output before they are written to the session
/// store, so `sessions.sqlite` never holds a secret in plain text: a stored value is `#` + 8 hex naming the
/// key + the first 128 bits of HMAC-SHA256(key, match key) in hex + `:` + its length. The key is derived
/// from the signing key by the process that owns the store; without it nobody can test guesses against the
/// hashes. A value sealed under another key (the signing key was rotated) cannot be compared, so its labels
/// are carried by every argument of the session (fail closed).
public struct ValueSealer: Sendable, Hashable {
    /// The HKDF info adapters derive the session key with from their signing key.
    public static let purpose = "countersign session values v1"
    let key: SymmetricKey

    public init(key: SymmetricKey) { self.key = key }

    /// A random key, for a store read only by this process (tests, one-off tools).
    public static func ephemeral() -> ValueSealer { ValueSealer(key: SymmetricKey(size: .bits256)) }

    public static func == (a: ValueSealer, b: ValueSealer) -> Bool { a.key == b.key }
    public func hash(into hasher: inout Hasher) {}  // equal keys hash alike; the key is never hashed out

    /// The stored form of a match key.
    func sealed(_ matchKey: String) -> String { "#" + check + digest(matchKey) + ":\(matchKey.utf8.count)" }

    /// Names the key (not secret: an HMAC of a fixed string).
    var check: String {
        Digest.hex(Data(HMAC<SHA256>.authenticationCode(for: Data("key check".utf8), using: key)).prefix(4))
    }

    func digest(_ matchKey: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(matchKey.utf8), using: key)
        return Digest.hex(Data(mac).prefix(16))
    }

    /// `(key check, digest, length)` of a stored sealed value; nil for a plain one (match keys hold only
    /// letters and digits, so `#` never starts one).
    static func parse(_ stored: String) -> (check: String, digest: String, length: Int)? {
        let bytes = Array(stored.utf8)
        guard bytes.count > 10, bytes[0] == UInt8(ascii: "#"), let colon = bytes.lastIndex(of: UInt8(ascii: ":")),
            colon > 9, let length = Int(String(decoding: bytes[(colon + 1)...], as: UTF8.self)), length > 0
        else { return nil }
        return (
            String(decoding: bytes[1..<9], as: UTF8.self), String(decoding: bytes[9..<colon], as: UTF8.self), length
        )
    }
}

/// Secret values read back from the store: known only by keyed digest and length. An argument carries
/// their labels when a run of its words (letters and digits between other characters, in match-key form)
/// has the digest of one — the secret appears in it delimited, whatever the punctuation or spacing; a
/// secret glued to other letters or digits is not recognised here (in the process that saw the output,
/// it is: values stay in memory in plain form until the process ends).
struct SealedValues: Sendable, Hashable {
    var byDigest: [String: (labels: LabelSet, trusted: Bool)] = [:]
    var lengths: Set<Int> = []
    var sealer: ValueSealer?
    /// Labels of values sealed under a key this process does not hold: every argument carries them.
    var unverifiable = LabelSet()
    /// Digest computations per argument before giving up and assuming every secret is in it.
    static let workLimit = 200_000

    var isEmpty: Bool { byDigest.isEmpty && unverifiable.isEmpty }

    mutating func add(check: String, digest: String, length: Int, labels: LabelSet, trusted: Bool) {
        guard check == sealer?.check else {
            unverifiable.formUnion(labels)
            return
        }
        let old = byDigest[digest]
        byDigest[digest] = ((old?.labels ?? LabelSet()).union(labels), (old?.trusted ?? false) || trusted)
        lengths.insert(length)
    }

    static func == (a: SealedValues, b: SealedValues) -> Bool {
        a.lengths == b.lengths && a.sealer == b.sealer && a.unverifiable == b.unverifiable
            && a.byDigest.count == b.byDigest.count
            && a.byDigest.allSatisfy { key, value in
                b.byDigest[key].map { $0.labels == value.labels && $0.trusted == value.trusted } ?? false
            }
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(lengths)
        hasher.combine(byDigest.count)
    }

    /// The labels of the sealed values found in `raw`.
    func labels(of raw: String, integrity: LabelSet) -> LabelSet {
        guard !isEmpty else { return LabelSet() }
        let all = byDigest.values.reduce(unverifiable) { $0.union($1.labels) }
        guard let sealer, let longest = lengths.max() else { return all }
        let runs = MatchKey.runs(of: raw)
        var result = unverifiable
        var work = 0
        for start in runs.indices {
            var window = ""
            for run in runs[start...] {
                window += run
                let length = window.utf8.count
                if length > longest { break }
                guard lengths.contains(length) else { continue }
                work += 1
                if work > Self.workLimit { return all }
                if let hit = byDigest[sealer.digest(window)] {
                    result.formUnion(hit.trusted ? hit.labels.subtracting(integrity) : hit.labels)
                }
            }
        }
        return result
    }
}
