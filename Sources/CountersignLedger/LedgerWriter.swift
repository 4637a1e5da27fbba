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
    private var pending: [(drafts: [ReceiptDraft], done: @Sendable (Result<[Receipt], any Error>) -> Void)] = []
    private var draining = false
    private let queue = DispatchQueue(label: "countersign.ledger-writer")
    /// Makes signed Merkle checkpoints after commits (docs/receipts.md, *Checkpoints*), when set.
    public let checkpointer: Checkpointer?

    public init(store: any ReceiptStore, sealer: Sealer, checkpointer: Checkpointer? = nil) {
        self.store = store
        self.sealer = sealer
        self.checkpointer = checkpointer
    }

    /// Commits what is pending and writes a last checkpoint: call before the process ends.
    public func close() async {
        await flush()
        checkpointer?.finish()
    }

    public func append(_ drafts: [ReceiptDraft]) async throws -> [Receipt] {
        guard !drafts.isEmpty else { return [] }
        // Fast path: nobody else is writing, so commit on this thread (no hop to the writer queue).
        if claimIdleWriter() {
            defer { finishInlineAppend() }
            let receipts = try store.append(drafts, sealer: sealer)
            checkpointer?.committed(receipts)
            return receipts
        }
        return try await withCheckedThrowingContinuation { continuation in
            enqueue(drafts) { continuation.resume(with: $0) }
        }
    }

    /// Hands receipts to the writer and returns at once; the ticket tells when they are committed.
    /// For adapters that overlap the commit with the action (the MCP proxy forwards a call while its
    /// decision receipt is being committed, and holds the answer until it is).
    public func submit(_ drafts: [ReceiptDraft]) -> CommitTicket {
        let ticket = CommitTicket()
        enqueue(drafts) { ticket.finish($0) }
        return ticket
    }

    /// Waits until everything submitted so far is committed (or failed).
    public func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            enqueue([]) { _ in continuation.resume() }
        }
    }

    private func enqueue(_ drafts: [ReceiptDraft], done: @escaping @Sendable (Result<[Receipt], any Error>) -> Void) {
        let start = lock.withLock {
            pending.append((drafts, done))
            let start = !draining
            draining = true
            return start
        }
        if start { queue.async { self.drain() } }
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
                let drafts = batch.flatMap(\.drafts)
                let receipts = drafts.isEmpty ? [] : try store.append(drafts, sealer: sealer)
                checkpointer?.committed(receipts)
                var offset = 0
                for item in batch {
                    item.done(.success(Array(receipts[offset..<(offset + item.drafts.count)])))
                    offset += item.drafts.count
                }
            } catch {
                for item in batch { item.done(.failure(error)) }
            }
        }
    }
}

/// When submitted receipts are committed: check `finished`, or be called back once they are.
public final class CommitTicket: @unchecked Sendable {
    // `result` and `callbacks` are guarded by `lock`.
    private let lock = NSLock()
    private var result: Result<[Receipt], any Error>?
    private var callbacks: [@Sendable (Result<[Receipt], any Error>) -> Void] = []

    public init() {}

    /// Completes the ticket (the writer does; so does a remote recorder once the service answered).
    public func finish(_ outcome: Result<[Receipt], any Error>) {
        let calls = lock.withLock {
            result = outcome
            defer { callbacks.removeAll() }
            return callbacks
        }
        for call in calls { call(outcome) }
    }

    /// The outcome if the commit already finished (no waiting).
    public var finished: Result<[Receipt], any Error>? { lock.withLock { result } }

    /// Calls `body` once the commit finished: at once if it has, else on the writer's thread.
    public func whenFinished(_ body: @escaping @Sendable (Result<[Receipt], any Error>) -> Void) {
        let done: Result<[Receipt], any Error>? = lock.withLock {
            if let result { return result }
            callbacks.append(body)
            return nil
        }
        if let done { body(done) }
    }

}
