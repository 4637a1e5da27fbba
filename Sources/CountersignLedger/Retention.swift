import CountersignCore

/// Pruning old receipts without silently rewriting history: a signed checkpoint receipt records the
/// pruned range and the hash of its last receipt, so the remaining chain still verifies and `verify`
/// shows what was removed.
public enum Retention {
    public struct Result: Sendable {
        public let pruned: Int64
        public let checkpoint: Receipt?
    }

    /// Keeps the newest `keepLast` receipts and/or those newer than `olderThan` (RFC 3339), whichever keeps more.
    public static func prune(
        _ store: any ReceiptStore, sealer: Sealer, keepLast: Int? = nil, olderThan cutoff: String? = nil
    ) throws -> Result {
        var all: [(seq: Int64, hash: String, time: String)] = []
        try store.scan { record in
            if let r = record.receipt { all.append((r.seq, r.hash, r.time)) }
        }
        guard let first = all.first else { return Result(pruned: 0, checkpoint: nil) }
        var lastPruned = -1
        if let keepLast { lastPruned = max(lastPruned, all.count - max(1, keepLast) - 1) }
        if let cutoff {
            if let lastOld = all.lastIndex(where: { $0.time < cutoff }) {
                lastPruned = max(lastPruned, min(lastOld, all.count - 2))
            }
        }
        guard lastPruned >= 0 else { return Result(pruned: 0, checkpoint: nil) }
        let through = all[lastPruned]
        let draft = ReceiptDraft(
            kind: .checkpoint, status: "pruned",
            extra: [
                "pruned": .object([
                    "from_seq": .int(first.seq), "to_seq": .int(through.seq), "count": .int(Int64(lastPruned + 1)),
                    "last_hash": .string(through.hash), "first_time": .string(first.time),
                    "last_time": .string(through.time),
                    "reason": .string(describe(keepLast: keepLast, cutoff: cutoff)),
                ])
            ])
        // Checkpoint first: a crash before the delete leaves extra receipts, never an unexplained gap.
        let checkpoint = try store.append([draft], sealer: sealer).first
        try store.delete(throughSeq: through.seq)
        return Result(pruned: Int64(lastPruned + 1), checkpoint: checkpoint)
    }

    static func describe(keepLast: Int?, cutoff: String?) -> String {
        var parts: [String] = []
        if let keepLast { parts.append("keep the newest \(keepLast)") }
        if let cutoff { parts.append("drop receipts older than \(cutoff)") }
        return parts.joined(separator: "; ")
    }
}
