import CountersignCore
import Dispatch
import Foundation

/// Turns drafts into receipts: adds the chain fields, hashes, signs. Used by stores inside their
/// append lock, so `seq` and `prev` always come from the receipt actually before it on disk.
public struct Sealer: Sendable {
    public let key: SigningKey
    public let redactor: Redactor

    public init(key: SigningKey, redactor: Redactor = Redactor()) {
        self.key = key
        self.redactor = redactor.keyed(by: key)
    }

    public func seal(_ draft: ReceiptDraft, seq: Int64, prev: String) -> Receipt {
        let (body, pieces, hash) = chain(draft, seq: seq, prev: prev)
        return sign(body, pieces, hash)
    }

    /// The body, its encoded members and its hash: the part of sealing that must run in chain order.
    private func chain(_ draft: ReceiptDraft, seq: Int64, prev: String) -> (
        [String: JSONValue], [(key: String, text: String)], String
    ) {
        var body = draft.fields(redactor: redactor)
        body["seq"] = .int(seq)
        body["id"] = .string(Self.newID())
        body["prev"] = .string(prev)
        body["signer"] = .string(key.keyID)
        body["signer_public_key"] = .string(key.publicKey.hex)
        // Encode every member once; the hashed text and the stored text share the pieces.
        var pieces: [(key: String, text: String)] = []
        pieces.reserveCapacity(body.count + 2)
        for key in CanonicalJSON.sortedKeys(body) {
            var text = ""
            CanonicalJSON.writeString(key, into: &text)
            text += ":"
            CanonicalJSON.write(body[key]!, into: &text)
            pieces.append((key, text))
        }
        let hashed = "{" + pieces.map(\.text).joined(separator: ",") + "}"
        return (body, pieces, "sha256:" + Digest.sha256Hex(hashed.utf8))
    }

    /// Signs a chained body; independent of other receipts, so batches sign in parallel.
    private func sign(_ chained: [String: JSONValue], _ encoded: [(key: String, text: String)], _ hash: String)
        -> Receipt
    {
        var body = chained
        var pieces = encoded
        let signature = key.sign(hash)
        body["hash"] = .string(hash)
        body["signature"] = .string(signature)
        pieces.append(("hash", "\"hash\":\"\(hash)\""))
        pieces.append(("signature", "\"signature\":\"\(signature)\""))
        pieces.sort { CanonicalJSON.utf16Precedes($0.key, $1.key) }
        return Receipt(body: body, canonicalText: "{" + pieces.map(\.text).joined(separator: ",") + "}")
    }

    /// Seals a batch in chain order after the receipt (`seq`, `hash`) that precedes it.
    public func seal(_ drafts: [ReceiptDraft], after tail: ChainTail) -> [Receipt] {
        var previous = tail
        var chained: [([String: JSONValue], [(key: String, text: String)], String)] = []
        chained.reserveCapacity(drafts.count)
        for draft in drafts {
            let link = chain(draft, seq: previous.seq + 1, prev: previous.hash)
            chained.append(link)
            previous = ChainTail(seq: previous.seq + 1, hash: link.2)
        }
        guard chained.count >= 8 else { return chained.map { sign($0.0, $0.1, $0.2) } }
        let links = chained
        // Ed25519 signing dominates a large group commit: spread it over every core.
        let results = SealedBatch(count: chained.count)
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var index = worker
            while index < links.count {
                results.set(index, sign(links[index].0, links[index].1, links[index].2))
                index += workers
            }
        }
        return results.receipts
    }

    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let a = generator.next() as UInt64
        return "rcpt_" + String(a, radix: 16).leftPadded(to: 16)
    }
}

/// Receipts signed by concurrent workers, each writing its own slots.
final class SealedBatch: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Receipt?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ receipt: Receipt) { lock.withLock { slots[index] = receipt } }
    var receipts: [Receipt] { lock.withLock { slots.map { $0! } } }
}

/// The last receipt of a chain: where the next one attaches.
public struct ChainTail: Sendable, Hashable {
    public var seq: Int64
    public var hash: String
    public static let empty = ChainTail(seq: 0, hash: Receipt.genesis)

    public init(seq: Int64, hash: String) {
        self.seq = seq
        self.hash = hash
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
