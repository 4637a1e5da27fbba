import CountersignCore
import Foundation
import GRDB

#if canImport(Glibc)
    import Glibc
#endif

/// A checkpoint body (c2sp.org/tlog-checkpoint): the origin line, the tree size in decimal, the base64
/// root hash, then optional extension lines; every line ends in a newline.
public struct Checkpoint: Sendable, Hashable {
    public let origin: String
    public let size: Int
    public let rootHash: [UInt8]
    public let extensions: [String]

    public init(origin: String, size: Int, rootHash: [UInt8], extensions: [String] = []) {
        self.origin = origin
        self.size = size
        self.rootHash = rootHash
        self.extensions = extensions
    }

    public var text: String {
        "\(origin)\n\(size)\n\(Data(rootHash).base64EncodedString())\n" + extensions.map { $0 + "\n" }.joined()
    }

    public static func parse(text: String) throws(NoteError) -> Checkpoint {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard text.hasSuffix("\n"), lines.count >= 4 else {
            throw NoteError("a checkpoint needs an origin line, a size line and a root hash line")
        }
        lines.removeLast()  // after the final newline
        let origin = lines[0]
        guard !origin.isEmpty else { throw NoteError("the checkpoint's origin line is empty") }
        let sizeLine = lines[1]
        guard !sizeLine.isEmpty, sizeLine.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            sizeLine == "0" || !sizeLine.hasPrefix("0"), let size = Int(sizeLine)
        else { throw NoteError("the checkpoint's size line '\(sizeLine.prefix(24))' is not a decimal tree size") }
        guard let root = Data(base64Encoded: lines[2]), root.count == Merkle.hashSize else {
            throw NoteError("the checkpoint's root hash line is not 32 bytes of base64")
        }
        let extensions = Array(lines[3...])
        if extensions.contains(where: \.isEmpty) { throw NoteError("the checkpoint has an empty extension line") }
        return Checkpoint(origin: origin, size: size, rootHash: Array(root), extensions: extensions)
    }
}

/// A signed checkpoint: the note and its parsed body.
public struct SignedCheckpoint: Sendable {
    public var note: SignedNote
    public let checkpoint: Checkpoint

    public init(note: SignedNote) throws(NoteError) {
        self.note = note
        checkpoint = try Checkpoint.parse(text: note.text)
    }

    public static func parse(_ text: String) throws(NoteError) -> SignedCheckpoint {
        try SignedCheckpoint(note: try SignedNote.parse(text))
    }

    public static func read(_ path: String) throws -> SignedCheckpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LedgerError("cannot read checkpoint \(path)")
        }
        do {
            return try SignedCheckpoint(note: try SignedNote.parse(data))
        } catch {
            throw LedgerError("\(path): \(error)")
        }
    }

    /// Signs a checkpoint with the log key; the key name is the key's id (`ed25519:…`).
    public static func sign(_ checkpoint: Checkpoint, key: SigningKey) -> SignedCheckpoint {
        let signature = try! NoteKey.sign(checkpoint.text, name: key.keyID, with: key)
        return try! SignedCheckpoint(note: SignedNote(text: checkpoint.text, signatures: [signature]))
    }

    /// The log signatures on the checkpoint that verify with one of `keys` (named by their key id).
    public func logSigners(among keys: [PublicKey]) -> [PublicKey] {
        keys.filter { key in (try? NoteKey(name: key.keyID, publicKey: key))?.verify(note) ?? false }
    }

    /// Adds cosignatures, replacing older ones with the same name and key ID.
    public mutating func add(_ signatures: [NoteSignature]) {
        for signature in signatures {
            note.signatures.removeAll { $0.name == signature.name && $0.keyID == signature.keyID }
            note.signatures.append(signature)
        }
    }
}

/// The ledger seen as a Merkle log: leaf `i` (from 0) is receipt `seq = i + 1`, its data the 32 raw bytes
/// of the receipt's `hash`. The origin names the ledger by its first receipt.
public enum LedgerLog {
    public static func origin(firstReceiptHash: String) -> String {
        "countersign.dev/ledger/" + String(firstReceiptHash.dropFirst("sha256:".count).prefix(16))
    }

    /// Where the writer keeps the latest checkpoint: beside the ledger.
    public static func checkpointPath(forLedger ledger: String) -> String { ledger + ".checkpoint" }

    /// The tree of every receipt in the store, and its origin (nil while the ledger is empty).
    public static func load(_ store: any ReceiptStore) throws -> (tree: MerkleTree, origin: String?) {
        var tree = MerkleTree()
        var origin: String?
        try extend(&tree, origin: &origin, from: store)
        return (tree, origin)
    }

    /// Appends the receipts the store holds beyond `tree.size`.
    public static func extend(_ tree: inout MerkleTree, origin: inout String?, from store: any ReceiptStore) throws {
        try leaves(of: store, after: tree.size) { seq, hash in
            guard seq == Int64(tree.size) + 1 else {
                if tree.size == 0 && seq > 1 {
                    throw LedgerError(
                        "the ledger starts at seq \(seq) (pruned): its Merkle tree needs every receipt from seq 1")
                }
                throw LedgerError("receipt \(seq) follows receipt \(tree.size): the chain has a gap")
            }
            guard let leaf = Merkle.receiptLeaf(hash) else {
                throw LedgerError("receipt \(seq) has no valid sha256 hash")
            }
            if tree.size == 0 { origin = LedgerLog.origin(firstReceiptHash: hash) }
            tree.append(leafHash: leaf)
        }
    }

    /// `(seq, hash)` of the stored receipts after `seq = after`, in order.
    static func leaves(of store: any ReceiptStore, after: Int, _ body: (Int64, String) throws -> Void) throws {
        if let sqlite = store as? SQLiteStore {
            try sqlite.queue.read { db in
                let rows = try Row.fetchCursor(
                    db, sql: "SELECT seq, hash FROM receipts WHERE seq > ? ORDER BY seq", arguments: [after])
                while let row = try rows.next() { try body(row["seq"], row["hash"]) }
            }
            return
        }
        try store.scanText { position, text, problem in
            guard let text, problem == nil else { throw LedgerError("record \(position) is unreadable") }
            let fields = ReceiptScanner.fields(of: text)
            let parsed = fields == nil ? try? Receipt.parse(text) : nil
            guard let seq = fields?.seq ?? parsed?.seq, let hash = fields?.hash ?? parsed?.hash else {
                throw LedgerError("record \(position) is not a receipt")
            }
            if seq > after { try body(seq, hash) }
        }
    }

    /// Checks that the ledger's tree extends a checkpoint: its origin, its size and its root. Returns the
    /// problems, worded for a person ("naming what is missing").
    public static func problems(
        extending checkpoint: Checkpoint, tree: MerkleTree, origin: String?
    ) -> [String] {
        if let origin, origin != checkpoint.origin {
            return ["the checkpoint is for another log (origin \(checkpoint.origin); this ledger's is \(origin))"]
        }
        if checkpoint.size > tree.size {
            let missing =
                tree.size + 1 == checkpoint.size
                ? "receipt \(checkpoint.size) is" : "receipts \(tree.size + 1)…\(checkpoint.size) are"
            return [
                "the ledger has \(tree.size) receipts but the checkpoint commits to \(checkpoint.size): \(missing) missing (truncated or rolled back)"
            ]
        }
        guard let root = try? tree.root(size: checkpoint.size), root == checkpoint.rootHash else {
            return [
                "the ledger's first \(checkpoint.size) receipts do not hash to the checkpoint's root: receipts were rewritten, replaced or forked after the checkpoint"
            ]
        }
        return []
    }
}

/// Something that cosigns checkpoints (a tlog-witness): given the checkpoint and a way to prove consistency
/// from any older size, it returns its cosignature lines, or throws why it refused.
public protocol Cosigner: Sendable {
    var name: String { get }
    func cosign(_ checkpoint: SignedCheckpoint, consistencyProof: (Int) throws -> [[UInt8]]) throws -> [NoteSignature]
}

/// Makes checkpoints for a writer: after commits, at most once per interval (and once more shortly after
/// the last commit), on demand, and on shutdown. Each is signed by the log key, offered to the cosigners,
/// and written atomically to `path` with the cosignatures it got.
public final class Checkpointer: @unchecked Sendable {
    // `tree`, `origin`, `written` and `scheduled` are guarded by `lock`; writing happens on `queue`.
    public let store: any ReceiptStore
    public let key: SigningKey
    public let path: String
    public let interval: Double
    public let cosigners: [any Cosigner]
    private let report: @Sendable (String) -> Void
    private let lock = NSLock()
    private var tree: MerkleTree?
    private var origin: String?
    private var written = 0
    private var lastWrite = Date.distantPast
    private var scheduled = false
    private var rescan = false
    /// Another process appended: read the store before the next checkpoint.
    private var behind = false
    private var lastReport: String?
    /// Why this ledger cannot be checkpointed, once known.
    private var unusable: LedgerError?
    private let queue = DispatchQueue(label: "countersign.checkpointer")

    public init(
        store: any ReceiptStore, key: SigningKey, path: String? = nil, interval: Double = 1,
        cosigners: [any Cosigner] = [], report: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.store = store
        self.key = key
        self.path = path ?? LedgerLog.checkpointPath(forLedger: store.path)
        self.interval = interval
        self.cosigners = cosigners
        self.report = report
    }

    /// Called by the writer after each commit: adds the leaves and schedules a checkpoint.
    public func committed(_ receipts: [Receipt]) {
        guard !receipts.isEmpty else { return }
        let delay: Double? = lock.withLock {
            if var current = tree, !rescan {
                if receipts[0].seq == Int64(current.size) + 1 {
                    tree = nil  // appended below without holding two copies
                    for receipt in receipts {
                        guard let leaf = Merkle.receiptLeaf(receipt.hash) else {
                            rescan = true
                            break
                        }
                        current.append(leafHash: leaf)
                    }
                    tree = current
                }
                // Otherwise another process appended in between: the write reads the missing ones.
                else {
                    behind = true
                }
            }
            guard !scheduled else { return nil }
            scheduled = true
            return max(0, interval - Date().timeIntervalSince(lastWrite))
        }
        if let delay {
            queue.asyncAfter(deadline: .now() + delay) { [self] in
                lock.withLock {
                    scheduled = false
                    lastWrite = Date()  // an attempt, even a failed one, waits out the interval
                }
                do { _ = try write() } catch { reportOnce("countersign: checkpoint: \(error)") }
            }
        }
    }

    /// Writes a checkpoint now (if the ledger grew since the last one) and returns the latest.
    @discardableResult
    public func checkpointNow() throws -> SignedCheckpoint? {
        try queue.sync { try write(force: true) }
    }

    /// Waits for a scheduled checkpoint and writes the last one: call when the writer stops.
    public func finish() {
        do { try queue.sync { _ = try write() } } catch { reportOnce("countersign: checkpoint: \(error)") }
    }

    /// Reports a problem unless it is the one reported last (a writer retries every second).
    private func reportOnce(_ message: String) {
        let fresh = lock.withLock {
            defer { lastReport = message }
            return lastReport != message
        }
        if fresh { report(message) }
    }

    /// Brings the tree up to date with the store and returns its size. The store is read outside the
    /// lock, so commits never wait for it (the first load of a large ledger takes a moment).
    private func catchUp() throws -> (size: Int, origin: String?) {
        if let unusable = lock.withLock({ unusable }) { throw unusable }
        if lock.withLock({ tree == nil || rescan }) {
            let loaded: (tree: MerkleTree, origin: String?)
            do {
                loaded = try LedgerLog.load(store)
            } catch {
                // A pruned or broken ledger stays so: do not read it again every second.
                if let structural = error as? LedgerError { lock.withLock { unusable = structural } }
                throw error
            }
            lock.withLock {
                tree = loaded.tree
                origin = loaded.origin
                rescan = false
                behind = true  // commits during the load were not added: read them next
            }
        }
        // Up to date from this process's own commits: no need to read the store (a JSONL read is a scan).
        if let known = lock.withLock({ () -> (Int, String?)? in
            guard let tree, !behind else { return nil }
            return (tree.size, origin)
        }) {
            return known
        }
        let after = lock.withLock {
            behind = false
            return tree?.size ?? 0
        }
        var fresh: [(seq: Int64, hash: String)] = []
        try LedgerLog.leaves(of: store, after: after) { fresh.append(($0, $1)) }
        return lock.withLock {
            guard var current = tree else { return (0, nil) }
            tree = nil  // extended below without holding two copies
            for (seq, hash) in fresh where seq == Int64(current.size) + 1 {
                guard let leaf = Merkle.receiptLeaf(hash) else { break }
                if current.size == 0 { origin = LedgerLog.origin(firstReceiptHash: hash) }
                current.append(leafHash: leaf)
            }
            tree = current
            return (current.size, origin)
        }
    }

    /// Runs `body` on the tree under the lock (no copy of it is made).
    private func withTree<T>(_ body: (MerkleTree) throws -> T) throws -> T {
        try lock.withLock {
            guard let tree else { throw LedgerError("the tree is not loaded") }
            return try body(tree)
        }
    }

    private func write(force: Bool = false) throws -> SignedCheckpoint? {
        let (size, origin) = try catchUp()
        guard let origin, size > 0 else { return nil }
        let unchanged = lock.withLock { size == written }
        if unchanged && !force { return nil }
        let root = try withTree { try $0.root(size: size) }
        var signed = SignedCheckpoint.sign(Checkpoint(origin: origin, size: size, rootHash: root), key: key)
        for cosigner in cosigners {
            do {
                signed.add(
                    try cosigner.cosign(signed) { old in
                        try self.withTree { try $0.consistencyProof(from: old, to: size) }
                    })
            } catch {
                report("countersign: witness \(cosigner.name) did not cosign checkpoint \(size): \(error)")
            }
        }
        // One writer at a time; never replace a checkpoint this ledger does not extend (it is evidence).
        let kept: SignedCheckpoint? = try LedgerCheckpoints.withLock(path) {
            if let existing = try LedgerCheckpoints.existing(at: path) {
                // Another process writing the same ledger may have checkpointed a larger tree meanwhile.
                if existing.checkpoint.origin == origin && existing.checkpoint.size > size {
                    return existing
                }
                if let problem = try withTree({ tree in
                    LedgerLog.problems(extending: existing.checkpoint, tree: tree, origin: origin).first
                }) {
                    throw LedgerCheckpoints.Divergence(
                        description: "\(problem); the checkpoint is kept as evidence (run 'countersign verify')")
                }
            }
            // The user's own copy (outside the project) must be extended too: a cut ledger with its
            // checkpoint rolled back is caught here.
            if let remembered = RememberedCheckpoints.read(origin: origin), remembered.checkpoint.size <= size,
                let problem = try withTree({ tree in
                    LedgerLog.problems(extending: remembered.checkpoint, tree: tree, origin: origin).first
                })
            {
                throw LedgerCheckpoints.Divergence(
                    description:
                        "\(problem) (the checkpoint you last saw for it: \(RememberedCheckpoints.path(origin: origin)))"
                )
            }
            try Self.writeAtomically(signed.note.serialized, to: path)
            RememberedCheckpoints.remember(signed, ledger: store.path)
            let state = try withTree { tree in
                FrontierFile(
                    origin: origin, lastLeaf: tree.leafHash(at: size - 1),
                    frontier: try MerkleFrontier(tree: tree, size: size))
            }
            try? state.write(FrontierFile.path(forLedger: store.path))
            return nil
        }
        if let kept { return kept }
        lock.withLock {
            written = size
            lastWrite = Date()
        }
        return signed
    }

    /// Writes beside, then renames: readers see the old file or the new one, never half. No fsync — like
    /// the ledger's default `--sync normal`, it survives the process being killed, not a power cut.
    static func writeAtomically(_ text: String, to path: String) throws {
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LedgerError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
            guard n > 0 else {
                close(fd)
                unlink(temporary)
                throw LedgerError("cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw LedgerError("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// `write(2)` (inside types with a `write` method of their own the bare name means that method).
func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.write(fd, buffer, count)
    #else
        Darwin.write(fd, buffer, count)
    #endif
}
