import CountersignCore
import Foundation

extension ReceiptStore {
    /// Everything `countersign verify LEDGER` checks: the chain (`verify(trust:)`), then the signed
    /// checkpoint the ledger must extend — `checkpoint` when given (an anchor the verifier kept), else the
    /// one its writers keep beside it (`<ledger>.checkpoint`) — and the witnesses that must have cosigned it.
    ///
    /// A non-empty ledger with no checkpoint beside it fails: every writer keeps one, so it was removed
    /// and a cut tail could not be seen. `allowEmpty`: a ledger with no receipts and no checkpoint is a new
    /// one (a server that just started), not a failure.
    public func verifyLedger(
        trust: TrustedSigners, checkSignatures: Bool = true, checkpoint: String? = nil,
        witnesses: [PublicKey] = [], quorum: Int? = nil, allowEmpty: Bool = false
    ) throws -> VerificationReport {
        var report = try verify(trust: trust, checkSignatures: checkSignatures)
        // A whole ledger deleted and started over (or another put in its place) has a new origin; the
        // user's record of which log lived at this path says so.
        var first = ReceiptQuery()
        first.limit = 1
        let origin = try query(first).first.flatMap { $0.seq == 1 ? LedgerLog.origin(firstReceiptHash: $0.hash) : nil }
        if report.firstSeq ?? 1 <= 1, let replaced = RememberedCheckpoints.replacement(at: path, origin: origin) {
            report.fail(replaced)
        }
        let given = checkpoint != nil
        let file = checkpoint ?? LedgerLog.checkpointPath(forLedger: path)
        let pruned = (report.firstSeq ?? 1) > 1 || !report.pruned.isEmpty
        guard FileManager.default.fileExists(atPath: file) else {
            if given || !witnesses.isEmpty {
                report.fail("no checkpoint at \(file): cosignatures need one (countersign checkpoint --witness URL)")
            } else if report.receipts == 0 && allowEmpty {
                report.failures.removeAll { $0.reason.contains("holds no receipts") }
            } else if pruned {
                report.warnings.append(
                    "the ledger was pruned and has no checkpoint beside it: a cut tail cannot be detected")
            } else if report.receipts > 0 {
                report.fail(
                    "no checkpoint at \(file): every writer keeps one, so it was removed (or this ledger predates checkpoints: then run 'countersign checkpoint --ledger \(path)' once); without it a cut tail cannot be detected"
                )
            }
            return report
        }
        if !given && pruned {
            report.warnings.append("the ledger was pruned: the checkpoint beside it cannot be checked against it")
            return report
        }
        let signed = try SignedCheckpoint.read(file)
        // The log's key is one that signed this ledger's receipts — not any key the verifier trusts (a
        // checkpoint of another ledger signed by another pinned key proves nothing about this one).
        var logKeys = Array(trust.keys.values).filter { report.signers[$0.keyID] != nil } + report.rotatedKeys
        if trust.isEmpty {
            // Unpinned: the keys the ledger's own receipts name.
            var first = ReceiptQuery()
            first.limit = 1
            var last = first
            last.descending = true
            for receipt in try query(first) + query(last) {
                if let hex = receipt.body["signer_public_key"]?.stringValue, let key = try? PublicKey(hex: hex) {
                    logKeys.append(key)
                }
            }
        }
        do {
            let (tree, origin) = try LedgerLog.load(self)
            AnchorCheck(checkpoint: signed, logKeys: logKeys, witnesses: witnesses, quorum: quorum)
                .apply(to: &report, tree: tree, origin: origin, given: given)
            // The copy this user's writers keep outside the project: a ledger rolled back together with
            // the checkpoint beside it no longer extends it.
            if let remembered = RememberedCheckpoints.read(origin: origin),
                !remembered.logSigners(among: logKeys).isEmpty
            {
                for problem in LedgerLog.problems(extending: remembered.checkpoint, tree: tree, origin: origin) {
                    report.fail(
                        "\(problem) (the checkpoint you last saw for this ledger: \(RememberedCheckpoints.path(origin: origin!)))"
                    )
                }
            }
        } catch {
            report.fail("\(error)")
        }
        return report
    }
}
