import CountersignCore
import Foundation

/// An audit bundle: a directory with the selected receipts, readable reports and a signed manifest.
///
/// `manifest.json` lists every file's SHA-256 and every receipt's seq and hash, and is signed by the
/// exporting key, so a changed, added or removed receipt or file is caught whatever the selection
/// (one trace, a time window, a filter that skips seqs).
public enum AuditBundle {
    public static let format = "countersign.bundle.v1"
    public static let receiptsFile = "receipts.jsonl"
    public static let manifestFile = "manifest.json"
    /// The Merkle evidence a bundle carries (docs/receipts.md, *Bundles*): the signed checkpoint and one
    /// RFC 6962 inclusion proof per receipt against it.
    public static let checkpointFile = "checkpoint"
    public static let proofsFile = "inclusion-proofs.json"

    /// The evidence files for `receipts` from the ledger's tree: each receipt's inclusion proof against
    /// `checkpoint` (which must cover them all and be the tree's own root at its size).
    public static func evidence(
        for receipts: [Receipt], tree: MerkleTree, checkpoint: SignedCheckpoint
    ) throws -> [String: String] {
        let size = checkpoint.checkpoint.size
        guard try tree.root(size: size) == checkpoint.checkpoint.rootHash else {
            throw LedgerError("the ledger does not extend its checkpoint; run 'countersign verify'")
        }
        var proofs: [JSONValue] = []
        for receipt in receipts {
            let index = Int(receipt.seq) - 1
            guard index >= 0, index < size else {
                throw LedgerError("receipt \(receipt.seq) is not covered by checkpoint \(size)")
            }
            let path = try tree.inclusionProof(index: index, size: size)
            proofs.append(
                .object([
                    "seq": .int(receipt.seq), "leaf_index": .int(Int64(index)),
                    "hashes": .array(path.map { .string(Digest.hex($0)) }),
                ]))
        }
        let document: JSONValue = .object([
            "tree_size": .int(Int64(size)), "root_hash": .string(Digest.hex(checkpoint.checkpoint.rootHash)),
            "proofs": .array(proofs),
        ])
        return [checkpointFile: checkpoint.note.serialized, proofsFile: CanonicalJSON.string(document) + "\n"]
    }

    /// Writes the bundle; `reports` are extra files (name → text), e.g. report.md and timeline.txt.
    public static func export(
        _ receipts: [Receipt], to directory: String, source: String, query: JSONValue, reports: [String: String],
        key: SigningKey
    ) throws {
        let url = URL(fileURLWithPath: directory)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try clearPreviousBundle(at: url)
        var files = reports
        files[receiptsFile] = receipts.map { $0.canonicalText + "\n" }.joined()
        var hashes: [String: JSONValue] = [:]
        for (name, text) in files {
            try Data(text.utf8).write(to: url.appendingPathComponent(name), options: .atomic)
            hashes[name] = .string("sha256:" + Digest.sha256Hex(text))
        }
        var manifest: [String: JSONValue] = [
            "format": .string(format), "generated_at": .string(Timestamp.now()), "source": .string(source),
            "query": query, "receipt_count": .int(Int64(receipts.count)), "files": .object(hashes),
            "receipts": .array(receipts.map { .array([.int($0.seq), .string($0.hash)]) }),
            "signer": .string(key.keyID), "signer_public_key": .string(key.publicKey.hex),
        ]
        let hash = Digest.canonicalHash(.object(manifest))
        manifest["manifest_hash"] = .string(hash)
        manifest["signature"] = .string(key.sign(hash))
        try Data((CanonicalJSON.string(.object(manifest)) + "\n").utf8)
            .write(to: url.appendingPathComponent(manifestFile), options: .atomic)
    }

    /// A bundle holds exactly what its manifest lists, so it is written into an empty directory or over a
    /// previous bundle (whose listed files are removed first); anything else is refused.
    static func clearPreviousBundle(at url: URL) throws {
        let present = try FileManager.default.contentsOfDirectory(atPath: url.path)
        guard !present.isEmpty else { return }
        let manifestURL = url.appendingPathComponent(manifestFile)
        guard present.contains(manifestFile), let data = FileManager.default.contents(atPath: manifestURL.path),
            let old = try? JSONValue.parse(data)
        else {
            throw LedgerError(
                "\(url.path) is not empty and holds no bundle: write a bundle into a new or empty directory")
        }
        for name in (old["files"]?.objectValue ?? [:]).keys where !name.contains("/") && name != ".." {
            try? FileManager.default.removeItem(at: url.appendingPathComponent(name))
        }
        try FileManager.default.removeItem(at: manifestURL)
    }

    public static func isBundle(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        if path.hasSuffix(manifestFile) { return true }
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// `anchor`: witnesses (and quorum) whose cosignatures the bundle's checkpoint must carry.
    public static func verify(
        _ path: String, trust: TrustedSigners, anchor: (witnesses: [PublicKey], quorum: Int)? = nil
    ) -> VerificationReport {
        let directory =
            path.hasSuffix(manifestFile)
            ? URL(fileURLWithPath: path).deletingLastPathComponent() : URL(fileURLWithPath: path)
        var report = VerificationReport(source: directory.path, kind: "bundle")
        func failure(_ reason: String) -> VerificationReport {
            report.failures.append(.init(position: 0, seq: nil, receiptID: nil, reason: reason))
            return report
        }
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(manifestFile).path)
        else {
            return failure("no \(manifestFile) in \(directory.path)")
        }
        guard case .object(var manifest)? = try? JSONValue.parse(data) else {
            return failure("\(manifestFile) is not a JSON object")
        }
        guard manifest["format"]?.stringValue == format else { return failure("\(manifestFile): unknown format") }
        let claimedHash = manifest["manifest_hash"]?.stringValue ?? ""
        let signature = manifest["signature"]?.stringValue ?? ""
        manifest["manifest_hash"] = nil
        manifest["signature"] = nil
        if Digest.canonicalHash(.object(manifest)) != claimedHash {
            report.failures.append(
                .init(
                    position: 0, seq: nil, receiptID: nil,
                    reason: "the manifest was changed after export (hash mismatch)"))
        }
        let signer = manifest["signer"]?.stringValue ?? ""
        if let keyHex = manifest["signer_public_key"]?.stringValue, let key = try? PublicKey(hex: keyHex),
            key.keyID == signer
        {
            if !key.verify(signatureHex: signature, message: claimedHash) {
                report.failures.append(.init(position: 0, seq: nil, receiptID: nil, reason: "bad manifest signature"))
            }
            if !trust.isEmpty && trust.keys[signer] == nil {
                report.failures.append(
                    .init(
                        position: 0, seq: nil, receiptID: nil,
                        reason: "the manifest is signed by \(signer), which is not a trusted signer"))
            }
        } else {
            report.failures.append(
                .init(
                    position: 0, seq: nil, receiptID: nil, reason: "the manifest's signer key does not match its key id"
                ))
        }
        // Every listed file must be present and unchanged.
        for (name, expected) in (manifest["files"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            let fileData = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path)
            let ok = fileData.map { "sha256:" + Digest.sha256Hex($0) == expected.stringValue } ?? false
            report.bundleFiles.append((name, ok))
            if !ok {
                report.failures.append(
                    .init(
                        position: 0, seq: nil, receiptID: nil,
                        reason: fileData == nil ? "\(name) is missing" : "\(name) was changed after export"))
            }
        }
        // A bundle holds exactly what its manifest names: anything else was planted.
        let listedFiles = Set((manifest["files"]?.objectValue ?? [:]).keys).union([manifestFile])
        let present = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in present.sorted() where !listedFiles.contains(name) {
            report.failures.append(
                .init(
                    position: 0, seq: nil, receiptID: nil,
                    reason: "\(name) is not listed in the manifest (added after export)"))
        }
        // The receipts themselves: hashes, signatures, order, and exactly the listed set.
        var verifier = ChainVerifier(source: directory.path, kind: "bundle", trust: trust, contiguous: false)
        let store = try? JSONLStore(path: directory.appendingPathComponent(receiptsFile).path)
        var listed: [JSONValue] = []
        var bundled: [Receipt] = []
        try? store?.scan { record in
            verifier.add(record)
            if let r = record.receipt {
                listed.append(.array([.int(r.seq), .string(r.hash)]))
                bundled.append(r)
            }
        }
        let chain = verifier.finish()
        report.receipts = chain.receipts
        report.firstSeq = chain.firstSeq
        report.lastSeq = chain.lastSeq
        report.headHash = chain.headHash
        report.signers = chain.signers
        report.pruned = chain.pruned
        report.trust = chain.trust
        report.warnings += chain.warnings
        report.failures += chain.failures
        if manifest["files"]?[checkpointFile] != nil {
            checkEvidence(
                in: directory, receipts: bundled, manifestSigner: manifest["signer_public_key"]?.stringValue,
                trust: trust, anchor: anchor, report: &report)
        } else if anchor != nil {
            report.failures.append(
                .init(
                    position: 0, seq: nil, receiptID: nil,
                    reason: "the bundle carries no checkpoint, so no witness cosignature can be checked"))
        }
        if listed != (manifest["receipts"]?.arrayValue ?? []) {
            report.failures.append(
                .init(
                    position: 0, seq: nil, receiptID: nil,
                    reason: "the receipts differ from the manifest's list (added, removed or reordered)"))
        }
        return report
    }

    /// The checkpoint's log signature (by a trusted signer, or by the bundle's signers when unpinned) and
    /// every receipt's inclusion proof against it.
    static func checkEvidence(
        in directory: URL, receipts: [Receipt], manifestSigner: String?, trust: TrustedSigners,
        anchor: (witnesses: [PublicKey], quorum: Int)?, report: inout VerificationReport
    ) {
        func fail(_ reason: String) {
            report.failures.append(.init(position: 0, seq: nil, receiptID: nil, reason: reason))
        }
        let signed: SignedCheckpoint
        do {
            signed = try SignedCheckpoint.read(directory.appendingPathComponent(checkpointFile).path)
        } catch {
            return fail("the bundle's checkpoint is unreadable: \(error)")
        }
        var logKeys = Array(trust.keys.values)
        if trust.isEmpty {
            var seen = Set<String>()
            for hex in receipts.compactMap({ $0.body["signer_public_key"]?.stringValue })
                + [manifestSigner].compactMap({ $0 })
            where seen.insert(hex).inserted {
                if let key = try? PublicKey(hex: hex) { logKeys.append(key) }
            }
        }
        AnchorCheck(
            checkpoint: signed, logKeys: logKeys, witnesses: anchor?.witnesses ?? [], quorum: anchor?.quorum ?? 0
        ).apply(to: &report, tree: nil, origin: nil)
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(proofsFile).path),
            let document = try? JSONValue.parse(data), let entries = document["proofs"]?.arrayValue,
            case .int(let size)? = document["tree_size"], Int(size) == signed.checkpoint.size
        else {
            return fail("\(proofsFile) is missing, unreadable or for another tree size than the checkpoint's")
        }
        var proofs: [Int64: [[UInt8]]] = [:]
        for entry in entries {
            guard case .int(let seq)? = entry["seq"], let hashes = entry["hashes"]?.arrayValue else { continue }
            let decoded = hashes.compactMap { $0.stringValue.flatMap(Hex.decode).map { Array($0) } }
            if decoded.count == hashes.count { proofs[seq] = decoded }
        }
        var verified = 0
        for receipt in receipts {
            guard let proof = proofs[receipt.seq] else {
                fail("receipt #\(receipt.seq) has no inclusion proof")
                continue
            }
            guard let leaf = Merkle.receiptLeaf(receipt.hash),
                Merkle.verifyInclusion(
                    leafHash: leaf, index: Int(receipt.seq) - 1, size: signed.checkpoint.size, proof: proof,
                    root: signed.checkpoint.rootHash)
            else {
                fail("receipt #\(receipt.seq)'s inclusion proof does not lead to the checkpoint's root")
                continue
            }
            verified += 1
        }
        report.inclusionProofsVerified = verified
    }
}
