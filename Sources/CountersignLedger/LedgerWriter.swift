import CountersignCore
import Dispatch
import Foundation

/// Group commit: concurrent appends that arrive while a commit is being written join the next one,
/// so many writers share each transaction (and each fsync in `--sync full`). Each caller resumes only
/// after its own receipts are committed.
public final class LedgerWriter: @unchecked Sendable {
    // `pending` and `draining` are guarded by `lock`; the store is used only on `queue`.
    public let store: any ReceiptStore
    public let sealer: Sealer
    private let lock = NSLock()
    private var pending: [(drafts: [ReceiptDraft], done: CheckedContinuation<[Receipt], any Error>)] = []
    private var draining = false
    private let queue = DispatchQueue(label: "countersign.ledger-writer")

    public init(store: any ReceiptStore, sealer: Sealer) {
        self.store = store
        self.sealer = sealer
    }

    public func append(_ drafts: [ReceiptDraft]) async throws -> [Receipt] {
        guard !drafts.isEmpty else { return [] }
        // Fast path: nobody else is writing, so commit on this thread (no hop to the writer queue).
        if claimIdleWriter() {
            defer { finishInlineAppend() }
            return try store.append(drafts, sealer: sealer)
        }
        return try await withCheckedThrowingContinuation { continuation in
            let start = lock.withLock {
                pending.append((drafts, continuation))
                let start = !draining
                draining = true
                return start
            }
            if start { queue.async { self.drain() } }
        }
    }

    private func claimIdleWriter() -> Bool {
        lock.withLock {
            guard !draining && pending.isEmpty else { return false }
            draining = true
            return true
        }
    }

    /// After an inline commit, hand whatever queued up meanwhile to the writer queue as one group.
    private func finishInlineAppend() {
        lock.lock()
        let more = !pending.isEmpty
        if !more { draining = false }
        lock.unlock()
        if more { queue.async { self.drain() } }
    }

    private func drain() {
        while true {
            lock.lock()
            let batch = pending
            pending.removeAll()
            if batch.isEmpty {
                draining = false
                lock.unlock()
                return
            }
            lock.unlock()
            do {
                let receipts = try store.append(batch.flatMap(\.drafts), sealer: sealer)
                var offset = 0
                for item in batch {
                    item.done.resume(returning: Array(receipts[offset..<(offset + item.drafts.count)]))
                    offset += item.drafts.count
                }
            } catch {
                for item in batch { item.done.resume(throwing: error) }
            }
        }
    }
}
