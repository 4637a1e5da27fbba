import CountersignCore
import Dispatch
import Foundation

/// Which signers a verification accepts. Empty: any signer whose signature checks (reported as unpinned).
public struct TrustedSigners: Sendable {
    public var keys: [String: PublicKey]
    public var labels: [String: String]
    /// Where the trust came from, for reports.
    public var source: String

    public init(keys: [PublicKey] = [], labels: [String: String] = [:], source: String = "none") {
        self.keys = Dictionary(keys.map { ($0.keyID, $0) }, uniquingKeysWith: { a, _ in a })
        self.labels = labels
        self.source = source
    }

    public var isEmpty: Bool { keys.isEmpty }

    /// A trusted-signers file: `{version: 1, trusted_keys: [{public_key: HEX, label: NAME}]}` (JSON or YAML-flavoured JSON).
    public static func load(path: String, allowEmpty: Bool = false) throws -> TrustedSigners {
        guard let data = FileManager.default.contents(atPath: path) else { throw LedgerError("cannot read \(path)") }
        let document: JSONValue
        do {
            document = try JSONValue.parse(data)
        } catch {
            throw LedgerError("\(path): \(error)")
        }
        guard let entries = document["trusted_keys"]?.arrayValue, allowEmpty || !entries.isEmpty else {
            throw LedgerError(
                "\(path): expected {\"version\": 1, \"trusted_keys\": [{\"public_key\": \"<hex>\", \"label\": \"...\"}]}"
            )
        }
        var keys: [PublicKey] = []
        var labels: [String: String] = [:]
        for (index, entry) in entries.enumerated() {
            guard let hex = entry["public_key"]?.stringValue else {
                throw LedgerError("\(path): trusted_keys[\(index)] has no public_key")
            }
            do {
                let key = try PublicKey(hex: hex)
                keys.append(key)
                labels[key.keyID] = entry["label"]?.stringValue
            } catch {
                throw LedgerError("\(path): trusted_keys[\(index)]: \(error)")
            }
        }
        return TrustedSigners(keys: keys, labels: labels, source: path)
    }
}

/// The result of verifying a ledger or bundle.
public struct VerificationReport: Sendable {
    public struct Failure: Sendable {
        /// 1-based position in the file, table or bundle.
        public let position: Int
        public let seq: Int64?
        public let receiptID: String?
        public let reason: String
    }

    public var source: String
    public var kind: String
    public var receipts = 0
    public var firstSeq: Int64?
    public var lastSeq: Int64?
    public var headHash = Receipt.genesis
    public var signers: [String: Int] = [:]
    /// How far each receipt's caller was from the signer (`same-user`, `separate-user`, `remote`), as the
    /// writer measured it; `unrecorded` for receipts from before callers were recorded.
    public var isolation: [String: Int] = [:]
    public var trust = "unpinned"
    public var pruned: [(from: Int64, to: Int64, count: Int64, checkpointSeq: Int64)] = []
    public var failures: [Failure] = []
    public var warnings: [String] = []
    public var bundleFiles: [(name: String, valid: Bool)] = []
    /// Set when a checkpoint was checked (an anchor, or a bundle's own).
    public var checkpointSize: Int?
    /// A checkpoint given by the verifier was checked: the ledger must extend it.
    public var anchorChecked = false
    public var checkpointOrigin: String?
    public var witnessesCosigned = 0
    public var witnessesTotal = 0
    public var witnessQuorum: Int?
    /// Bundles: receipts whose inclusion proof against the bundle's checkpoint verified.
    public var inclusionProofsVerified: Int?

    public var valid: Bool { failures.isEmpty }
    /// Valid and signed only by trusted keys (pinned, or reached through a rotation a pinned key signed).
    public var verified: Bool { valid && signaturesChecked && trust.hasPrefix("pinned") }
    /// False under `--chain-only`: nothing was authenticated, so nothing is verified.
    public var signaturesChecked = true
    /// Keys trusted because a trusted key signed their rotation in the ledger (key id → rotating receipt seq).
    public var rotations: [(from: String, to: String, seq: Int64)] = []
    /// The keys those rotations handed over to.
    public var rotatedKeys: [PublicKey] = []
    /// `VALID`, `INVALID`, or `UNVERIFIED (no trusted key)` when the chain holds but no signer was pinned.
    public var status: String {
        !valid
            ? "INVALID"
            : verified
                ? "VALID" : signaturesChecked ? "UNVERIFIED (no trusted key)" : "UNVERIFIED (signatures not checked)"
    }
    public var firstFailure: Failure? { failures.min { $0.position < $1.position } }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "source": .string(source), "kind": .string(kind), "valid": .bool(valid), "verified": .bool(verified),
            "status": .string(status), "receipts": .int(Int64(receipts)),
            "rotations": .array(
                rotations.map { .object(["from": .string($0.from), "to": .string($0.to), "seq": .int($0.seq)]) }),
            "first_seq": firstSeq.map(JSONValue.int) ?? .null, "last_seq": lastSeq.map(JSONValue.int) ?? .null,
            "head_hash": .string(headHash), "trust": .string(trust),
            "signers": .object(signers.mapValues { .int(Int64($0)) }),
            "isolation": .object(isolation.mapValues { .int(Int64($0)) }),
            "pruned": .array(
                pruned.map {
                    .object([
                        "from_seq": .int($0.from), "to_seq": .int($0.to), "count": .int($0.count),
                        "checkpoint_seq": .int($0.checkpointSeq),
                    ])
                }),
            "warnings": .array(warnings.map(JSONValue.string)),
            "failures": .array(
                failures.sorted { $0.position < $1.position }.map {
                    .object([
                        "position": .int(Int64($0.position)), "seq": $0.seq.map(JSONValue.int) ?? .null,
                        "receipt_id": $0.receiptID.map(JSONValue.string) ?? .null, "reason": .string($0.reason),
                    ])
                }),
        ]
        object["assurance"] = .string(assurance)
        if let checkpointSize {
            object["checkpoint"] = .object([
                "size": .int(Int64(checkpointSize)), "origin": checkpointOrigin.map(JSONValue.string) ?? .null,
            ])
        }
        if witnessQuorum != nil || witnessesTotal > 0 {
            object["witnesses"] = .object([
                "cosigned": .int(Int64(witnessesCosigned)), "total": .int(Int64(witnessesTotal)),
                "quorum": .int(Int64(witnessQuorum ?? 0)),
            ])
        }
        if let inclusionProofsVerified { object["inclusion_proofs_verified"] = .int(Int64(inclusionProofsVerified)) }
        if !bundleFiles.isEmpty {
            object["bundle_files"] = .object(
                Dictionary(uniqueKeysWithValues: bundleFiles.map { ($0.name, JSONValue.bool($0.valid)) }))
        }
        return .object(object)
    }
}

/// Checks a chain of receipts: order, links, hashes, signatures and signers.
///
/// The chain is checked in one pass (hashing is cheap); signatures are checked in parallel batches on
/// every core. It stops collecting after the first few failures: the first one is what matters.
public struct ChainVerifier {
    /// Grows along the ledger's rotation chain (a `key_rotated` event signed by a trusted key).
    public private(set) var trust: TrustedSigners
    /// Whether receipts must form one contiguous chain (a ledger) or may skip seqs (a filtered bundle).
    public let contiguous: Bool
    var report: VerificationReport
    private var expectedSeq: Int64 = 1
    private var previousHash = Receipt.genesis
    private var startsAfterPruning: (seq: Int64, prev: String)?
    private var pending: [(position: Int, seq: Int64, id: String, key: PublicKey, signature: String, hash: String)] = []
    private var keyCache: [String: PublicKey] = [:]
    static let batchSize = 4096
    static let maximumFailures = 20

    /// Skip signature checks (hashes and links only): for measuring the chain; it does not authenticate.
    public var checkSignatures = true
    /// Stored text must be exactly the canonical encoding that was hashed (ledgers: anything else could make
    /// the text a reader sees differ from what was signed).
    public var requireCanonical = false

    public init(source: String, kind: String, trust: TrustedSigners, contiguous: Bool = true) {
        self.trust = trust
        self.contiguous = contiguous
        report = VerificationReport(source: source, kind: kind)
        report.trust = trust.isEmpty ? "unpinned" : "pinned (\(trust.source))"
        if trust.isEmpty {
            report.warnings.append(
                "no trusted key: signatures were checked against each receipt's own public key, which anyone can make; pin the signer with --trusted-key or --trusted-keys (or your trust file, \(UserTrust.path))"
            )
        }
    }

    mutating func fail(_ position: Int, _ receipt: Receipt?, _ reason: String) {
        guard report.failures.count < Self.maximumFailures else { return }
        report.failures.append(.init(position: position, seq: receipt?.seq, receiptID: receipt?.id, reason: reason))
    }

    /// Checks one stored line quickly from its text; falls back to a full parse when needed.
    public mutating func add(position: Int, text: String) {
        guard let f = ReceiptScanner.fields(of: text), !f.hasPruned, let seq = f.seq, let hash = f.hash,
            let prev = f.prev,
            let signature = f.signature, let signer = f.signer, let keyHex = f.signerPublicKey
        else {
            let receipt = try? Receipt.parse(text)
            add(
                StoredRecord(
                    position: position, receipt: receipt,
                    problem: receipt == nil ? "record \(position) is not a JSON receipt" : nil, text: text))
            return
        }
        report.receipts += 1
        if report.firstSeq == nil {
            report.firstSeq = seq
            if seq > 1 && contiguous { startsAfterPruning = (seq, prev) }
            if !contiguous || seq > 1 {
                expectedSeq = seq
                previousHash = prev
            }
        }
        let light = LightReceipt(seq: seq, id: f.id ?? "", prev: prev)
        if f.schema != Receipt.schema { failLight(position, light, "unknown schema \(f.schema ?? "none")") }
        if contiguous {
            if seq != expectedSeq {
                let what =
                    seq < expectedSeq
                    ? "out of order or duplicated" : "missing receipts \(expectedSeq)…\(seq - 1) (deleted?)"
                failLight(position, light, "seq \(seq) where \(expectedSeq) was expected: \(what)")
            } else if prev != previousHash {
                failLight(
                    position, light,
                    "prev does not match the hash of receipt \(seq - 1): a receipt was inserted, removed or replaced")
            }
        }
        if Receipt.hashOfStoredText(text, hash: hash, signature: signature) != hash {
            // Not canonical as stored: decide on the parsed body (edits still fail there).
            if (try? Receipt.parse(text))?.computedHash != hash {
                failLight(position, light, "hash mismatch: the receipt was edited after it was signed")
            } else if requireCanonical {
                failLight(
                    position, light,
                    "the stored text is not the canonical encoding that was signed (re-spaced or re-ordered after signing)"
                )
            }
        }
        if f.kind == "event", text.contains("\"key_rotated\""), let receipt = try? Receipt.parse(text) {
            followRotation(receipt, signer: signer)
        }
        report.isolation[f.isolation ?? "unrecorded", default: 0] += 1
        checkSigner(
            position: position, seq: seq, id: f.id ?? "", signer: signer, keyHex: keyHex, signature: signature,
            hash: hash)
        expectedSeq = seq + 1
        previousHash = hash
        report.lastSeq = seq
        report.headHash = hash
    }

    struct LightReceipt {
        let seq: Int64
        let id: String
        let prev: String
    }

    mutating func failLight(_ position: Int, _ r: LightReceipt, _ reason: String) {
        guard report.failures.count < Self.maximumFailures else { return }
        report.failures.append(.init(position: position, seq: r.seq, receiptID: r.id, reason: reason))
    }

    mutating func checkSigner(
        position: Int, seq: Int64, id: String, signer: String, keyHex: String, signature: String, hash: String
    ) {
        var key = keyCache[keyHex]
        if key == nil, let parsed = try? PublicKey(hex: keyHex) {
            key = parsed
            keyCache[keyHex] = parsed
        }
        report.signers[signer, default: 0] += 1
        if !Self.isCanonicalSignature(signature) {
            failLight(
                position, LightReceipt(seq: seq, id: id, prev: ""),
                "the signature is not in canonical form (128 lower-case hex digits): the stored text was changed")
        }
        guard let key, key.keyID == signer else {
            failLight(
                position, LightReceipt(seq: seq, id: id, prev: ""),
                "the signer's public key does not match its key id \(signer)")
            return
        }
        if !trust.isEmpty && trust.keys[signer] == nil {
            failLight(
                position, LightReceipt(seq: seq, id: id, prev: ""), "signed by \(signer), which is not a trusted signer"
            )
        } else if checkSignatures {
            pending.append((position, seq, id, key, signature, hash))
            if pending.count >= Self.batchSize { flushSignatures() }
        }
    }

    public mutating func add(_ record: StoredRecord) {
        guard let receipt = record.receipt else {
            fail(record.position, nil, record.problem ?? "unreadable record")
            return
        }
        if let problem = record.problem { fail(record.position, receipt, problem) }
        report.receipts += 1
        let seq = receipt.seq
        if report.firstSeq == nil {
            report.firstSeq = seq
            if seq > 1 && contiguous { startsAfterPruning = (seq, receipt.prev) }
            if !contiguous || seq > 1 {
                expectedSeq = seq
                previousHash = receipt.prev
            }
        }
        if receipt.body["schema"]?.stringValue != Receipt.schema {
            fail(
                record.position, receipt, "unknown schema \(receipt.body["schema"].map(CanonicalJSON.string) ?? "none")"
            )
        }
        if contiguous {
            if seq != expectedSeq {
                let what =
                    seq < expectedSeq
                    ? "out of order or duplicated" : "missing receipts \(expectedSeq)…\(seq - 1) (deleted?)"
                fail(record.position, receipt, "seq \(seq) where \(expectedSeq) was expected: \(what)")
            } else if receipt.prev != previousHash {
                fail(
                    record.position, receipt,
                    "prev does not match the hash of receipt \(seq - 1): a receipt was inserted, removed or replaced")
            }
        } else if seq == expectedSeq && receipt.prev != previousHash && report.receipts > 1 {
            fail(record.position, receipt, "prev does not match the hash of receipt \(seq - 1)")
        } else if seq < expectedSeq && report.receipts > 1 {
            fail(record.position, receipt, "seq \(seq) is out of order")
        }
        // Canonical text (what Countersign writes) is hashed as stored; anything else is re-encoded.
        let storedTextHash = record.text.flatMap {
            Receipt.hashOfStoredText($0, hash: receipt.hash, signature: receipt.signature)
        }
        if storedTextHash != receipt.hash && receipt.computedHash != receipt.hash {
            fail(record.position, receipt, "hash mismatch: the receipt was edited after it was signed")
        } else if storedTextHash != receipt.hash && requireCanonical {
            fail(
                record.position, receipt,
                "the stored text is not the canonical encoding that was signed (re-spaced or re-ordered after signing)")
        }
        if !Self.isCanonicalSignature(receipt.signature) {
            fail(
                record.position, receipt,
                "the signature is not in canonical form (128 lower-case hex digits): the stored text was changed")
        }
        // The signer: its public key must be the one its id names, and trusted when trust is pinned.
        let signer = receipt.signer
        if let keyHex = receipt.body["signer_public_key"]?.stringValue {
            var key = keyCache[keyHex]
            if key == nil, let parsed = try? PublicKey(hex: keyHex) {
                key = parsed
                keyCache[keyHex] = parsed
            }
            if let key, key.keyID == signer {
                if !trust.isEmpty && trust.keys[signer] == nil {
                    fail(record.position, receipt, "signed by \(signer), which is not a trusted signer")
                } else {
                    if checkSignatures {
                        pending.append((record.position, seq, receipt.id, key, receipt.signature, receipt.hash))
                        if pending.count >= Self.batchSize { flushSignatures() }
                    }
                }
            } else {
                fail(record.position, receipt, "the signer's public key does not match its key id \(signer)")
            }
        } else {
            fail(record.position, receipt, "no signer public key")
        }
        report.signers[signer, default: 0] += 1
        report.isolation[receipt.body["caller"]?["isolation"]?.stringValue ?? "unrecorded", default: 0] += 1
        if receipt.kind == "event", receipt.status == "key_rotated" { followRotation(receipt, signer: signer) }
        if receipt.kind == "checkpoint", let pruned = receipt.body["pruned"],
            case .int(let from)? = pruned["from_seq"], case .int(let to)? = pruned["to_seq"],
            case .int(let count)? = pruned["count"]
        {
            report.pruned.append((from, to, count, seq))
            if let start = startsAfterPruning, to == start.seq - 1, pruned["last_hash"]?.stringValue == start.prev {
                startsAfterPruning = nil
            }
        }
        expectedSeq = seq + 1
        previousHash = receipt.hash
        report.lastSeq = seq
        report.headHash = receipt.hash
    }

    /// A `key_rotated` event names the next key in a manifest the previous key signed. When that previous
    /// key is trusted and is this receipt's signer, the next key is trusted from here on: verify follows
    /// the rotation chain instead of failing the operator's later receipts.
    mutating func followRotation(_ receipt: Receipt, signer: String) {
        guard !trust.isEmpty, trust.keys[signer] != nil, let manifest = receipt.body["rotation"],
            KeyRotation.verify(manifest, trusted: trust) == nil,
            manifest["previous_key_id"]?.stringValue == signer,
            let nextHex = manifest["next_public_key"]?.stringValue, let next = try? PublicKey(hex: nextHex)
        else { return }
        if trust.keys[next.keyID] == nil {
            trust.keys[next.keyID] = next
            report.rotations.append((signer, next.keyID, receipt.seq))
            report.rotatedKeys.append(next)
        }
    }

    /// What the sealer writes: Ed25519's 64 bytes as lower-case hex. Any other spelling verifies the same
    /// signature but is not the text that was written.
    static func isCanonicalSignature(_ text: String) -> Bool {
        text.utf8.count == 128 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    private mutating func flushSignatures() {
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        guard !batch.isEmpty else { return }
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let chunk = (batch.count + workers - 1) / workers
        let bad = BadSignatures()
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let start = worker * chunk
            let end = min(batch.count, start + chunk)
            guard start < end else { return }
            for index in start..<end
            where !batch[index].key.verify(signatureHex: batch[index].signature, message: batch[index].hash) {
                bad.add(index)
            }
        }
        for index in bad.indices.sorted() {
            let item = batch[index]
            guard report.failures.count < Self.maximumFailures else { break }
            report.failures.append(
                .init(position: item.position, seq: item.seq, receiptID: item.id, reason: "bad signature"))
        }
    }

    public mutating func finish() -> VerificationReport {
        flushSignatures()
        if let start = startsAfterPruning {
            fail(
                1, nil,
                "the ledger starts at seq \(start.seq) but no signed checkpoint accounts for receipts 1…\(start.seq - 1) (truncated from the front?)"
            )
        }
        return report
    }
}

/// Collects failing indexes from concurrent workers.
final class BadSignatures: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var indices: [Int] = []
    func add(_ index: Int) {
        lock.lock()
        indices.append(index)
        lock.unlock()
    }
}

extension ReceiptStore {
    /// Verifies the whole store.
    public func verify(trust: TrustedSigners, checkSignatures: Bool = true) throws -> VerificationReport {
        var verifier = ChainVerifier(source: path, kind: backend, trust: trust)
        verifier.checkSignatures = checkSignatures
        verifier.requireCanonical = true
        if !checkSignatures {
            verifier.report.warnings.append("signatures were not checked (--chain-only)")
            verifier.report.signaturesChecked = false
        }
        try scanText { position, text, problem in
            if let text, problem == nil {
                verifier.add(position: position, text: text)
            } else {
                let receipt = text.flatMap { try? Receipt.parse($0) }
                verifier.add(
                    StoredRecord(
                        position: position, receipt: receipt, problem: problem ?? "unreadable record", text: text))
            }
        }
        var report = verifier.finish()
        if let sqlite = self as? SQLiteStore {
            for problem in sqlite.structuralProblems() { report.fail(problem) }
        }
        if report.receipts == 0 && report.failures.isEmpty {
            report.fail("the ledger holds no receipts: it was emptied, or nothing was recorded in it yet")
        }
        return report
    }
}
