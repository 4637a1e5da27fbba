import CountersignCore
import Foundation

/// What verification checked beyond the chain: a checkpoint the ledger must extend (an anchor) and the
/// witnesses that must have cosigned it. Its outcome is the `assurance` a report states.
public struct AnchorCheck: Sendable {
    public var checkpoint: SignedCheckpoint
    /// Keys whose signature makes the checkpoint the log's own (the pinned signers, or the ledger's).
    public var logKeys: [PublicKey]
    public var witnesses: [PublicKey]
    public var quorum: Int

    public init(checkpoint: SignedCheckpoint, logKeys: [PublicKey], witnesses: [PublicKey] = [], quorum: Int? = nil) {
        self.checkpoint = checkpoint
        self.logKeys = logKeys
        self.witnesses = witnesses
        self.quorum = quorum ?? witnesses.count
    }

    /// Checks the signatures, the cosignatures and (with a tree) that the ledger extends the checkpoint;
    /// records failures and the assurance reached in `report`.
    /// `given`: the checkpoint came from the verifier (an anchor), not from what is being verified.
    public func apply(to report: inout VerificationReport, tree: MerkleTree?, origin: String?, given: Bool = false) {
        var problems: [String] = []
        let body = checkpoint.checkpoint
        if checkpoint.logSigners(among: logKeys).isEmpty {
            let names = checkpoint.note.signatures.map(\.name).joined(separator: ", ")
            problems.append(
                "the checkpoint is not signed by the log's key (\(logKeys.map(\.keyID).joined(separator: ", "))); its signatures: \(names)"
            )
        }
        var cosigned = 0
        for witness in witnesses where Cosignature.verified(in: checkpoint.note, publicKey: witness) != nil {
            cosigned += 1
        }
        if cosigned < quorum {
            problems.append(
                "only \(cosigned) of \(witnesses.count) witnesses cosigned checkpoint \(body.size) (\(quorum) required): a checkpoint the witnesses did not see, or a log they refused"
            )
        }
        if let tree { problems += LedgerLog.problems(extending: body, tree: tree, origin: origin) }
        for problem in problems {
            report.failures.append(.init(position: 0, seq: nil, receiptID: nil, reason: problem))
        }
        report.anchorChecked = given
        report.checkpointSize = body.size
        report.checkpointOrigin = body.origin
        report.witnessesCosigned = cosigned
        report.witnessesTotal = witnesses.count
        report.witnessQuorum = witnesses.isEmpty ? nil : quorum
    }
}

extension VerificationReport {
    /// Records a failure of the whole ledger or bundle (not of one receipt).
    public mutating func fail(_ reason: String) {
        failures.append(.init(position: 0, seq: nil, receiptID: nil, reason: reason))
    }

    /// The strongest statement the checks support: `witnessed` (a quorum of witnesses cosigned a
    /// checkpoint the ledger extends), `anchored` (a given checkpoint the ledger extends), `pinned` (the
    /// signers are trusted keys), `unpinned` (signatures check against the receipts' own keys), or
    /// `none` when verification failed.
    public var assurance: String {
        guard valid else { return "none" }
        if checkpointSize != nil, let quorum = witnessQuorum, witnessesCosigned >= quorum { return "witnessed" }
        if anchorChecked { return "anchored" }
        return trust.hasPrefix("pinned") && signaturesChecked ? "pinned" : "unpinned"
    }

    /// The assurance as a line for people.
    public var assuranceLine: String {
        switch assurance {
        case "witnessed":
            return
                "witnessed (\(witnessesCosigned) of \(witnessesTotal) witnesses cosigned checkpoint \(checkpointSize ?? 0); \(witnessQuorum ?? 0) required)"
        case "anchored": return "anchored (the ledger extends checkpoint \(checkpointSize ?? 0))"
        default: return assurance
        }
    }
}
