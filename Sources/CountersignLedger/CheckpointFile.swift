import CountersignCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The signed checkpoint beside a ledger (`<ledger>.checkpoint`) and the rules every writer follows when
/// it replaces it: one writer at a time (a lock shared by processes), and never with a checkpoint the
/// ledger does not extend — a cut, rewritten or forked ledger leaves the old checkpoint in place as
/// evidence, and `verify` reports it.
public enum LedgerCheckpoints {
    /// The ledger does not extend its checkpoint: receipts were cut or rewritten.
    public struct Divergence: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Runs `body` holding the exclusive lock of the checkpoint at `path` (`<path>.lock`).
    static func withLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let fd = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LedgerError("cannot lock \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw LedgerError("cannot lock \(path): \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// The checkpoint at `path`; nil when there is none. A file that is there but unreadable is an error:
    /// it may be evidence, so nobody overwrites it.
    static func existing(at path: String) throws -> SignedCheckpoint? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try SignedCheckpoint.read(path)
        } catch {
            throw LedgerError(
                "\(error); it is kept as evidence and not overwritten (run 'countersign verify', then move it aside)")
        }
    }

    /// Why a ledger of `size` receipts with `origin` does not extend `checkpoint` (nil when it does).
    /// `root(n)` is the ledger's root at size n.
    static func divergence(
        from checkpoint: Checkpoint, origin: String, size: Int, root: (Int) throws -> [UInt8]
    ) -> String? {
        if checkpoint.origin != origin {
            return "the ledger's origin is \(origin) but its checkpoint's is \(checkpoint.origin)"
        }
        if checkpoint.size > size {
            return
                "the ledger has \(size) receipts but its checkpoint commits to \(checkpoint.size): receipts were cut"
        }
        guard (try? root(checkpoint.size)) == checkpoint.rootHash else {
            return "the ledger's first \(checkpoint.size) receipts are not the ones its checkpoint signed: rewritten"
        }
        return nil
    }

    /// Brings the checkpoint beside the ledger up to the ledger's size, signed by `key`, reading only the
    /// receipts appended since the last checkpoint (the frontier file makes that possible). For
    /// short-lived writers such as hook processes; long-running ones use `Checkpointer`. Returns the
    /// current checkpoint, nil while the ledger is empty.
    @discardableResult
    public static func advance(store: any ReceiptStore, key: SigningKey, path: String? = nil) throws
        -> SignedCheckpoint?
    {
        let checkpointPath = path ?? LedgerLog.checkpointPath(forLedger: store.path)
        let frontierPath = FrontierFile.path(forLedger: store.path)
        return try withLock(checkpointPath) {
            let existing = try existing(at: checkpointPath)
            var resumed = FrontierFile.read(frontierPath)
            if let saved = resumed, let existing, existing.checkpoint.size == saved.frontier.size,
                existing.checkpoint.rootHash != saved.frontier.root
            {
                resumed = nil
            }
            let state: FrontierFile
            if let saved = resumed, let extended = try extend(saved, from: store) {
                state = extended
                if let existing, existing.checkpoint.size != saved.frontier.size {
                    // The frontier does not describe the checkpoint: check against the whole tree.
                    return try advanceFromTree(
                        store: store, key: key, existing: existing, paths: (checkpointPath, frontierPath))
                }
            } else {
                return try advanceFromTree(
                    store: store, key: key, existing: existing, paths: (checkpointPath, frontierPath))
            }
            if let existing, existing.checkpoint.size == state.frontier.size { return existing }
            return try write(state, key: key, paths: (checkpointPath, frontierPath))
        }
    }

    /// The frontier extended by the receipts after it; nil when the ledger no longer holds the receipt the
    /// frontier ends with (cut or rewritten: the caller rebuilds from the whole ledger).
    static func extend(_ saved: FrontierFile, from store: any ReceiptStore) throws -> FrontierFile? {
        var state = saved
        var anchored = false
        let last = Int64(saved.frontier.size)
        try LedgerLog.leaves(of: store, after: saved.frontier.size - 1) { seq, hash in
            guard let leaf = Merkle.receiptLeaf(hash) else {
                throw LedgerError("receipt \(seq) has no valid sha256 hash")
            }
            if seq == last {
                anchored = leaf == saved.lastLeaf
                return
            }
            guard anchored else { return }
            guard seq == Int64(state.frontier.size) + 1 else {
                throw LedgerError("receipt \(seq) follows receipt \(state.frontier.size): the chain has a gap")
            }
            state.frontier.append(leafHash: leaf)
            state.lastLeaf = leaf
        }
        return anchored ? state : nil
    }

    /// Rebuilds the tree from the whole ledger, checks it extends `existing`, and writes.
    static func advanceFromTree(
        store: any ReceiptStore, key: SigningKey, existing: SignedCheckpoint?, paths: (String, String)
    ) throws -> SignedCheckpoint? {
        let (tree, origin) = try LedgerLog.load(store)
        guard let origin, tree.size > 0 else {
            if let existing {
                throw Divergence(
                    description:
                        "the ledger is empty but its checkpoint commits to \(existing.checkpoint.size) receipts: receipts were cut; the checkpoint is kept as evidence"
                )
            }
            return nil
        }
        if let existing {
            if let problem = divergence(
                from: existing.checkpoint, origin: origin, size: tree.size, root: { try tree.root(size: $0) })
            {
                throw Divergence(
                    description: "\(problem); the checkpoint is kept as evidence (run 'countersign verify')")
            }
            if existing.checkpoint.size == tree.size { return existing }
        }
        let state = FrontierFile(
            origin: origin, lastLeaf: tree.leafHash(at: tree.size - 1), frontier: try MerkleFrontier(tree: tree))
        return try write(state, key: key, paths: paths)
    }

    static func write(_ state: FrontierFile, key: SigningKey, paths: (checkpoint: String, frontier: String)) throws
        -> SignedCheckpoint
    {
        let signed = SignedCheckpoint.sign(
            Checkpoint(origin: state.origin, size: state.frontier.size, rootHash: state.frontier.root), key: key)
        try Checkpointer.writeAtomically(signed.note.serialized, to: paths.checkpoint)
        try? state.write(paths.frontier)
        return signed
    }
}
