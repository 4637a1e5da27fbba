import CountersignCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A human-readable ledger: one canonical JSON receipt per line.
///
/// Appends take an exclusive `flock` on the file, read the chain tail (the last complete line), seal,
/// write and — with `sync: .full` — `fsync`, so several processes can append to one file. A last line
/// without its newline is a torn write from a process that died before its append returned: it was
/// never acknowledged, so the next writer moves it to `<ledger>.torn-<time>` and truncates it away;
/// `verify` reports it until then.
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
        let tail: ChainTail
        if let cachedTail, cachedTail.size == size {
            tail = cachedTail.tail
        } else {
            let (found, completeSize) = try Self.readTail(fd: fd, size: size, path: path)
            if completeSize < size {
                try recoverTornTail(fd: fd, from: completeSize, to: size)
                size = completeSize
            }
            tail = found
        }
        let sealed = sealer.seal(drafts, after: tail)
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
        return sealed
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

    private func recoverTornTail(fd: Int32, from complete: off_t, to size: off_t) throws {
        var torn = [UInt8](repeating: 0, count: Int(size - complete))
        _ = torn.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, complete) }
        let aside = "\(path).torn-\(Timestamp.now().replacingOccurrences(of: ":", with: ""))"
        _ = FileManager.default.createFile(atPath: aside, contents: Data(torn))
        guard ftruncate(fd, complete) == 0 else { throw LedgerError("cannot truncate the torn tail of \(path)") }
        if sync == .full { _ = fsync(fd) }
        lastRecovery = "recovered a torn final write (\(torn.count) bytes, never acknowledged) into \(aside)"
        FileHandle.standardError.write(Data("countersign: \(path): \(lastRecovery!)\n".utf8))
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
