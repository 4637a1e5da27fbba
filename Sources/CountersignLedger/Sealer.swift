import CountersignCore

/// Turns drafts into receipts: adds the chain fields, hashes, signs. Used by stores inside their
/// append lock, so `seq` and `prev` always come from the receipt actually before it on disk.
public struct Sealer: Sendable {
    public let key: SigningKey
    public let redactor: Redactor

    public init(key: SigningKey, redactor: Redactor = Redactor()) {
        self.key = key
        self.redactor = redactor
    }

    public func seal(_ draft: ReceiptDraft, seq: Int64, prev: String) -> Receipt {
        var body = draft.fields(redactor: redactor)
        body["seq"] = .int(seq)
        body["id"] = .string(Self.newID())
        body["prev"] = .string(prev)
        body["signer"] = .string(key.keyID)
        body["signer_public_key"] = .string(key.publicKey.hex)
        let hash = Digest.canonicalHash(.object(body))
        body["hash"] = .string(hash)
        body["signature"] = .string(key.sign(hash))
        return Receipt(body: body)
    }

    /// Seals a batch in chain order after the receipt (`seq`, `hash`) that precedes it.
    public func seal(_ drafts: [ReceiptDraft], after tail: ChainTail) -> [Receipt] {
        var previous = tail
        var sealed: [Receipt] = []
        sealed.reserveCapacity(drafts.count)
        for draft in drafts {
            let receipt = seal(draft, seq: previous.seq + 1, prev: previous.hash)
            sealed.append(receipt)
            previous = ChainTail(seq: receipt.seq, hash: receipt.hash)
        }
        return sealed
    }

    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let a = generator.next() as UInt64
        return "rcpt_" + String(a, radix: 16).leftPadded(to: 16)
    }
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
