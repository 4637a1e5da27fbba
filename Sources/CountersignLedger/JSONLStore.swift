import CountersignCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A human-readable ledger: one canonical JSON receipt per line.
///
/// Appends take an exclusive `flock` on the file, read the chain tail (the last complete line), seal,
/// write and — with `sync: .full` — `fsync`, so several processes can append to one file. A last line
/// without its newline is either a whole receipt whose newline is missing (the next writer adds the
/// newline and chains after it: an acknowledged receipt is never moved or its seq reused) or a torn write
/// from a process that died mid-append. A torn write is evidence: the next writer copies it to
/// `<ledger>.torn-<time>`, records an `event` receipt (`torn_write_recovered`) with its size, hash and
/// where it went, and only then continues the chain — unless the checkpoint beside the ledger already
/// covers that seq, in which case it refuses to write at all.
public final class JSONLStore: ReceiptStore, @unchecked Sendable {
    // The lock serialises in-process appends; flock serialises processes.
    public let path: String
    public let backend = "jsonl"
    let sync: SyncMode
    private let lock = NSLock()
    /// The tail as of the last append, valid while the file still has `cachedSize` bytes.
    private var cachedTail: (size: off_t, tail: ChainTail)?
    /// What the last recovery did, for the caller to report.
    public private(set) var lastRecovery: String?

    /// How long an append waits for another process's lock before it fails.
    public let lockTimeout: Double

    public init(path: String, sync: SyncMode = .normal, lockTimeout: Double = 5) throws {
        self.path = path
        self.sync = sync
        self.lockTimeout = lockTimeout
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    public func append(_ drafts: [ReceiptDraft], sealer: Sealer) throws -> [Receipt] {
        guard !drafts.isEmpty else { return [] }
        lock.lock()
        defer { lock.unlock() }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LedgerError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try lockExclusively(fd)
        defer { flock(fd, LOCK_UN) }

        var size = lseek(fd, 0, SEEK_END)
        var tail: ChainTail
        var evidence: [ReceiptDraft] = []
        if let cachedTail, cachedTail.size == size {
            tail = cachedTail.tail
        } else {
            let (found, completeSize) = try Self.readTail(fd: fd, size: size, path: path)
            tail = found
            if completeSize < size {
                let recovered = try recoverTail(fd: fd, from: completeSize, to: size, after: found)
                tail = recovered.tail
                size = recovered.size
                evidence = recovered.evidence
            }
        }
        let sealed = sealer.seal(evidence + drafts, after: tail)
        var text = ""
        for receipt in sealed {
            text += receipt.canonicalText
            text += "\n"
        }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, size + off_t(offset)) }
            guard n > 0 else { throw LedgerError("cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
        if sync == .full { guard fsync(fd) == 0 else { throw LedgerError("cannot sync \(path)") } }
        cachedTail = (size + off_t(bytes.count), ChainTail(seq: sealed.last!.seq, hash: sealed.last!.hash))
        return Array(sealed.suffix(drafts.count))
    }

    /// The last complete receipt and the size of the file up to its newline.
    static func readTail(fd: Int32, size: off_t, path: String) throws -> (ChainTail, off_t) {
        guard size > 0 else { return (.empty, 0) }
        var end = size
        var chunk = 64 * 1024
        while true {
            let start = max(0, end - off_t(chunk))
            var buffer = [UInt8](repeating: 0, count: Int(size - start))
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, start) }
            guard n == buffer.count else { throw LedgerError("cannot read \(path)") }
            // The complete part ends at the last newline.
            guard let lastNewline = buffer.lastIndex(of: 0x0A) else {
                if start == 0 { return (.empty, 0) }  // nothing complete yet, all torn
                chunk *= 4
                continue
            }
            let complete = start + off_t(lastNewline) + 1
            let before = buffer[..<lastNewline]
            let lineStart = before.lastIndex(of: 0x0A).map { $0 + 1 } ?? before.startIndex
            if lineStart == before.startIndex && start > 0 {
                chunk *= 4
                end = size
                continue
            }
            let line = String(decoding: buffer[lineStart..<lastNewline], as: UTF8.self)
            guard let receipt = try? Receipt.parse(line), receipt.seq > 0, !receipt.hash.isEmpty else {
                throw LedgerError("the last receipt of \(path) is unreadable; run 'countersign verify \(path)'")
            }
            return (ChainTail(seq: receipt.seq, hash: receipt.hash), complete)
        }
    }

    /// The bytes after the last newline: a whole receipt that chains on (its newline is added), or a torn
    /// write (kept beside the ledger and recorded). Refuses when the checkpoint covers that seq already.
    private func recoverTail(fd: Int32, from complete: off_t, to size: off_t, after tail: ChainTail) throws -> (
        tail: ChainTail, size: off_t, evidence: [ReceiptDraft]
    ) {
        var bytes = [UInt8](repeating: 0, count: Int(size - complete))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, complete) }
        guard n == bytes.count else { throw LedgerError("cannot read the end of \(path)") }
        if let receipt = try? Receipt.parse(String(decoding: bytes, as: UTF8.self)), receipt.seq == tail.seq + 1,
            receipt.prev == tail.hash, Merkle.receiptLeaf(receipt.hash) != nil
        {
            // Complete, only its newline is missing: keep it where it is.
            let wrote = [UInt8(0x0A)].withUnsafeBytes { pwrite(fd, $0.baseAddress, 1, size) }
            guard wrote == 1 else { throw LedgerError("cannot write \(path): \(String(cString: strerror(errno)))") }
            if sync == .full { _ = fsync(fd) }
            lastRecovery = "receipt \(receipt.seq) had no final newline; added it"
            FileHandle.standardError.write(Data("countersign: \(path): \(lastRecovery!)\n".utf8))
            return (ChainTail(seq: receipt.seq, hash: receipt.hash), size + 1, [])
        }
        if let checkpoint = try? SignedCheckpoint.read(LedgerLog.checkpointPath(forLedger: path)),
            checkpoint.checkpoint.size > Int(tail.seq)
        {
            throw LedgerError(
                "the last line of \(path) is damaged, and its checkpoint commits to \(checkpoint.checkpoint.size) receipts (the file's last whole one is \(tail.seq)): refusing to write over an acknowledged receipt; run 'countersign verify \(path)'"
            )
        }
        let aside = "\(path).torn-\(Timestamp.now().replacingOccurrences(of: ":", with: ""))-\(getpid())"
        guard FileManager.default.createFile(atPath: aside, contents: Data(bytes)) else {
            throw LedgerError("cannot keep the torn end of \(path) in \(aside); refusing to truncate it")
        }
        guard ftruncate(fd, complete) == 0 else { throw LedgerError("cannot truncate the torn tail of \(path)") }
        if sync == .full { _ = fsync(fd) }
        lastRecovery = "a torn final write (\(bytes.count) bytes, never acknowledged) was moved to \(aside)"
        FileHandle.standardError.write(Data("countersign: \(path): \(lastRecovery!)\n".utf8))
        var draft = ReceiptDraft(kind: .event, status: "torn_write_recovered")
        draft.extra["event"] = .object([
            "type": "torn_write_recovered", "bytes": .int(Int64(bytes.count)),
            "sha256": .string("sha256:" + Digest.sha256Hex(bytes)), "saved_to": .string(aside),
            "after_seq": .int(tail.seq),
        ])
        return (tail, complete, [draft])
    }

    public func query(_ query: ReceiptQuery) throws -> [Receipt] {
        var result: [Receipt] = []
        try scan { record in
            if let receipt = record.receipt, query.matches(receipt) { result.append(receipt) }
        }
        if query.descending { result.reverse() }
        if let limit = query.limit { result = Array(result.prefix(max(0, limit))) }
        return result
    }

    public func scan(_ body: (StoredRecord) throws -> Void) throws {
        try scanText { position, text, problem in
            guard let text else {
                try body(StoredRecord(position: position, receipt: nil, problem: problem))
                return
            }
            guard let receipt = try? Receipt.parse(text) else {
                try body(
                    StoredRecord(position: position, receipt: nil, problem: "line \(position) is not a JSON receipt"))
                return
            }
            try body(StoredRecord(position: position, receipt: receipt, problem: nil, text: text))
        }
    }

    public func scanText(_ body: (_ position: Int, _ text: String?, _ problem: String?) throws -> Void) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw LedgerError("cannot read \(path)") }
        defer { try? handle.close() }
        var carry: [UInt8] = []
        var position = 0
        // Lines are split with memchr over raw chunks: byte-wise Data slicing costs more than the checks.
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            try chunk.withUnsafeBytes { raw in
                let buffer = raw.bindMemory(to: UInt8.self)
                guard let base = buffer.baseAddress else { return }
                var start = 0
                while start < buffer.count {
                    guard let hit = memchr(base + start, 0x0A, buffer.count - start) else {
                        carry += UnsafeBufferPointer(rebasing: buffer[start...])
                        return
                    }
                    let end = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
                    let line: String
                    if carry.isEmpty {
                        line = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<end]), as: UTF8.self)
                    } else {
                        carry += UnsafeBufferPointer(rebasing: buffer[start..<end])
                        line = String(decoding: carry, as: UTF8.self)
                        carry.removeAll(keepingCapacity: true)
                    }
                    position += 1
                    try body(position, line, nil)
                    start = end + 1
                }
            }
        }
        if !carry.isEmpty {
            position += 1
            try body(position, nil, "line \(position) is truncated (a torn final write)")
        }
    }

    public func delete(throughSeq upTo: Int64) throws {
        lock.lock()
        defer { lock.unlock() }
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw LedgerError("cannot open \(path)") }
        defer { close(fd) }
        try lockExclusively(fd)
        defer { flock(fd, LOCK_UN) }
        var kept = ""
        try scan { record in
            if let receipt = record.receipt, receipt.seq <= upTo { return }
            if let receipt = record.receipt { kept += receipt.canonicalText + "\n" }
        }
        // Write beside, then rename: a crash leaves either the old or the new file, never half.
        let temporary = path + ".retention"
        try Data(kept.utf8).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else { throw LedgerError("cannot replace \(path)") }
        cachedTail = nil
    }

    public func lastSeq() throws -> Int64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        return try Self.readTail(fd: fd, size: lseek(fd, 0, SEEK_END), path: path).0.seq
    }

    public func count() throws -> Int {
        var n = 0
        try scan { if $0.receipt != nil { n += 1 } }
        return n
    }
}

extension JSONLStore {
    /// Takes the file's exclusive lock, waiting at most `lockTimeout` for another process to let it go.
    func lockExclusively(_ fd: Int32) throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(lockTimeout * 1000))
        var pause = 1
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw LedgerError("cannot lock \(path): \(String(cString: strerror(errno)))")
            }
            guard ContinuousClock.now < deadline else {
                throw LedgerError("\(path) stayed locked by another writer for \(lockTimeout)s (gave up)")
            }
            usleep(useconds_t(pause * 1000))
            pause = min(pause * 2, 20)
        }
    }
}
