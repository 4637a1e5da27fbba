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

    /// Writes the bundle; `reports` are extra files (name → text), e.g. report.md and timeline.txt.
    public static func export(
        _ receipts: [Receipt], to directory: String, source: String, query: JSONValue, reports: [String: String],
        key: SigningKey
    ) throws {
        let url = URL(fileURLWithPath: directory)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
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

    public static func isBundle(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        if path.hasSuffix(manifestFile) { return true }
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    public static func verify(_ path: String, trust: TrustedSigners) -> VerificationReport {
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
        // The receipts themselves: hashes, signatures, order, and exactly the listed set.
        var verifier = ChainVerifier(source: directory.path, kind: "bundle", trust: trust, contiguous: false)
        let store = try? JSONLStore(path: directory.appendingPathComponent(receiptsFile).path)
        var listed: [JSONValue] = []
        try? store?.scan { record in
            verifier.add(record)
            if let r = record.receipt { listed.append(.array([.int(r.seq), .string(r.hash)])) }
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
        if listed != (manifest["receipts"]?.arrayValue ?? []) {
            report.failures.append(
                .init(
                    position: 0, seq: nil, receiptID: nil,
                    reason: "the receipts differ from the manifest's list (added, removed or reordered)"))
        }
        return report
    }
}
