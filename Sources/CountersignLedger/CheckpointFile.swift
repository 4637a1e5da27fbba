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

    /// Before a writer appends: the ledger must still hold every receipt the checkpoint beside it (and the
    /// user's remembered copy) commits to — appending to a cut ledger would reuse the seqs of receipts
    /// that were acknowledged. Cheap: reads the checkpoints and the ledger's last seq.
    public static func precheck(store: any ReceiptStore) throws {
        let beside = try existing(at: LedgerLog.checkpointPath(forLedger: store.path))
        let frontier = FrontierFile.read(FrontierFile.path(forLedger: store.path))
        var origin = beside?.checkpoint.origin ?? frontier?.origin
        if origin == nil {
            var first = ReceiptQuery()
            first.limit = 1
            origin = try store.query(first).first.map { LedgerLog.origin(firstReceiptHash: $0.hash) }
        }
        if RememberedCheckpoints.replacement(at: store.path, origin: origin) != nil {
            // The ledger looked empty a moment ago: another writer may have started it since (its first
            // checkpoint recorded the path). Decide on its first receipt as it is now.
            var first = ReceiptQuery()
            first.limit = 1
            let now = try store.query(first).first.map { LedgerLog.origin(firstReceiptHash: $0.hash) } ?? origin
            if let replaced = RememberedCheckpoints.replacement(at: store.path, origin: now) {
                throw Divergence(description: replaced)
            }
        }
        let remembered = RememberedCheckpoints.read(origin: origin)
        // The frontier counts too: it is what a writer left when it last checkpointed (a checkpoint deleted
        // after a cut does not make the cut acceptable).
        let sizes =
            [beside, remembered].compactMap { $0?.checkpoint.size } + [frontier?.frontier.size].compactMap { $0 }
        guard let largest = sizes.max() else { return }
        let last = try store.lastSeq()
        if last < Int64(largest) {
            throw Divergence(
                description:
                    "the ledger \(store.path) ends at receipt \(last) but its checkpoint commits to \(largest): receipts were cut; nothing is written over them (run 'countersign verify')"
            )
        }
    }

    /// Brings the checkpoint beside the ledger up to the ledger's size, signed by `key`, reading only the
    /// receipts appended since the last checkpoint (the frontier file makes that possible). For
    /// short-lived writers such as hook processes; long-running ones use `Checkpointer`. Returns the
    /// current checkpoint, nil while the ledger is empty.
    ///
    /// Throws `Divergence` when the ledger no longer extends the checkpoint beside it, the one the user last
    /// saw for it (`RememberedCheckpoints`), or the frontier a writer left (a checkpoint deleted after a cut
    /// is not re-created over the cut).
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
            var state: FrontierFile?
            if let saved = resumed {
                state = try extend(saved, from: store)
                if state == nil && existing == nil {
                    throw Divergence(
                        description:
                            "the ledger no longer holds receipt \(saved.frontier.size), which the last checkpoint covered, and that checkpoint is gone: receipts were cut"
                    )
                }
            }
            let remembered = RememberedCheckpoints.read(origin: state?.origin ?? resumed?.origin)
            // The cheap path covers the usual case: the frontier describes the checkpoints it extends.
            if let state, let saved = resumed,
                [existing, remembered].allSatisfy({ $0 == nil || $0!.checkpoint.size == saved.frontier.size }),
                (existing?.checkpoint.origin ?? state.origin) == state.origin
            {
                if let remembered, remembered.checkpoint.rootHash != saved.frontier.root {
                    throw Divergence(
                        description: "the ledger is not the one whose checkpoint you last saw: rewritten or replaced")
                }
                if let existing, existing.checkpoint.size == state.frontier.size { return existing }
                return try write(state, key: key, paths: (checkpointPath, frontierPath), ledger: store.path)
            }
            return try advanceFromTree(
                store: store, key: key, existing: [existing, remembered].compactMap { $0 },
                paths: (checkpointPath, frontierPath))
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
        store: any ReceiptStore, key: SigningKey, existing checkpoints: [SignedCheckpoint], paths: (String, String)
    ) throws -> SignedCheckpoint? {
        let (tree, origin) = try LedgerLog.load(store)
        let existing = checkpoints.first
        guard let origin, tree.size > 0 else {
            if let existing {
                throw Divergence(
                    description:
                        "the ledger is empty but its checkpoint commits to \(existing.checkpoint.size) receipts: receipts were cut; the checkpoint is kept as evidence"
                )
            }
            return nil
        }
        for checkpoint in checkpoints {
            if let problem = LedgerLog.problems(extending: checkpoint.checkpoint, tree: tree, origin: origin).first {
                throw Divergence(
                    description: "\(problem); the checkpoint is kept as evidence (run 'countersign verify')")
            }
        }
        if let existing, existing.checkpoint.size == tree.size { return existing }
        let state = FrontierFile(
            origin: origin, lastLeaf: tree.leafHash(at: tree.size - 1), frontier: try MerkleFrontier(tree: tree))
        return try write(state, key: key, paths: paths, ledger: store.path)
    }

    static func write(
        _ state: FrontierFile, key: SigningKey, paths: (checkpoint: String, frontier: String), ledger: String
    ) throws -> SignedCheckpoint {
        let signed = SignedCheckpoint.sign(
            Checkpoint(origin: state.origin, size: state.frontier.size, rootHash: state.frontier.root), key: key)
        try Checkpointer.writeAtomically(signed.note.serialized, to: paths.checkpoint)
        try? state.write(paths.frontier)
        RememberedCheckpoints.remember(signed, ledger: ledger)
        return signed
    }
}

/// The latest checkpoint of each ledger a user's writers made, kept outside every project (beside the
/// user's trust file: `<trust directory>/logs/<origin id>.checkpoint`). A ledger cut, rolled back or
/// replaced together with the checkpoint beside it still has to extend this one — for writers and for
/// `verify` run by the same user. (Someone who can write the user's own configuration can replace it too:
/// witnesses are the answer to that.)
public enum RememberedCheckpoints {
    static func path(origin: String) -> String {
        let id = origin.split(separator: "/").last.map(String.init) ?? origin
        let safe = String(id.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.prefix(64))
        return URL(fileURLWithPath: UserTrust.path).deletingLastPathComponent().path + "/logs/\(safe).checkpoint"
    }

    public static func read(origin: String?) -> SignedCheckpoint? {
        guard let origin else { return nil }
        return try? SignedCheckpoint.read(path(origin: origin))
    }

    /// Where the origin of the ledger at a path is remembered: one small file per canonical path.
    static func pathRecord(ledger: String) -> String {
        URL(fileURLWithPath: UserTrust.path).deletingLastPathComponent().path + "/logs/paths/"
            + Digest.sha256Hex(canonicalPath(ledger)).prefix(32) + ".origin"
    }

    /// The ledger's path with its directory's symlinks and `..` resolved (the file may not exist yet).
    static func canonicalPath(_ ledger: String) -> String {
        let url = URL(fileURLWithPath: ledger)
        let directory = url.deletingLastPathComponent().path
        var resolved = url.deletingLastPathComponent().standardized.path
        if let real = realpath(directory, nil) {
            resolved = String(cString: real)
            free(real)
        }
        return resolved + "/" + url.lastPathComponent
    }

    /// The origin of the log this user's writers last checkpointed at `ledger`'s path.
    public static func origin(ofLedgerAt ledger: String) -> String? {
        guard let data = FileManager.default.contents(atPath: pathRecord(ledger: ledger)),
            let json = try? JSONValue.parse(data), json["path"]?.stringValue == canonicalPath(ledger)
        else { return nil }
        return json["origin"]?.stringValue
    }

    /// Why the ledger at `path` (whose log is `origin`, nil when it holds nothing) is not the one this
    /// user's writers last checkpointed there: it was deleted and started over, or another put in its place.
    public static func replacement(at path: String, origin: String?) -> String? {
        guard let remembered = Self.origin(ofLedgerAt: path), remembered != origin,
            let last = read(origin: remembered)
        else { return nil }
        return
            "the ledger at \(path) was replaced: your writers last checkpointed log \(remembered) there at \(last.checkpoint.size) receipts, and it now holds \(origin.map { "another log (\($0))" } ?? "no receipts"). If you started a new ledger here on purpose: countersign ledger forget \(path)"
    }

    /// Forgets which log lived at `ledger`'s path (starting a new ledger there on purpose).
    public static func forget(ledgerAt ledger: String) {
        try? FileManager.default.removeItem(atPath: pathRecord(ledger: ledger))
    }

    /// Keeps `checkpoint` unless a larger one of the same log is already kept, and which log lives at the
    /// ledger's path.
    static func remember(_ checkpoint: SignedCheckpoint, ledger: String) {
        let record = pathRecord(ledger: ledger)
        try? FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: record).deletingLastPathComponent().path, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        if origin(ofLedgerAt: ledger) != checkpoint.checkpoint.origin {
            let json: JSONValue = .object([
                "path": .string(canonicalPath(ledger)), "origin": .string(checkpoint.checkpoint.origin),
            ])
            try? Checkpointer.writeAtomically(CanonicalJSON.string(json) + "\n", to: record)
        }
        remember(checkpoint)
    }

    /// Keeps `checkpoint` unless a larger one of the same log is already kept.
    static func remember(_ checkpoint: SignedCheckpoint) {
        let file = path(origin: checkpoint.checkpoint.origin)
        if let kept = try? SignedCheckpoint.read(file), kept.checkpoint.origin == checkpoint.checkpoint.origin,
            kept.checkpoint.size > checkpoint.checkpoint.size
        {
            return
        }
        let directory = URL(fileURLWithPath: file).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? Checkpointer.writeAtomically(checkpoint.note.serialized, to: file)
    }
}
