import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation

/// The decision API without HTTP: decide an envelope (at once, or pending a second key in the inbox),
/// wait for a pending decision, report an outcome.
public final class DecisionService: @unchecked Sendable {
    // `decisions` and `waiters` are guarded by `lock`.
    public let gate: Gate
    public let inbox: ApprovalInbox
    let metrics: ServerMetrics
    private let lock = NSLock()
    private var decisions: [String: Record] = [:]
    private var order: [String] = []
    private var waiters: [String: [UUID: CheckedContinuation<Record, Never>]] = [:]
    private var inFlight = 0

    public struct Record: Sendable {
        public let id: String
        public let envelope: ActionEnvelope
        /// Nil while the second key is pending.
        public var decision: GateDecision?
        public var outcomeReported = false
    }

    init(gate: Gate, inbox: ApprovalInbox, metrics: ServerMetrics) {
        self.gate = gate
        self.inbox = inbox
        self.metrics = metrics
    }

    static func newID() -> String {
        "dec_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
    }

    /// Decides; when the policy asks, the decision stays pending in the inbox and this returns after at
    /// most `wait` seconds with whatever is known.
    public func decide(_ action: ActionEnvelope, wait: Double) async -> Record {
        let started = ContinuousClock.now
        let id = Self.newID()
        // Without a trace id of its own, the decision id ties the decision, its votes and its outcome together.
        var traced = action
        if traced.traceID == nil { traced.traceID = id }
        let envelope = traced
        if let decision = await gate.decideCommitting(envelope) {
            // Fail closed: an allow the ledger could not record comes back as a deny (internalError set).
            let record = Record(id: id, envelope: envelope, decision: decision)
            store(record)
            metrics.decided(decision, surface: envelope.surface, since: started)
            return record
        }
        store(Record(id: id, envelope: envelope, decision: nil))
        lock.withLock { inFlight += 1 }
        let gate = self.gate
        let provider = WebApproval(inbox: inbox, id: id)
        Task {
            let decision = await gate.decide(envelope, providers: [provider])
            self.finish(id, decision)
            self.metrics.decided(decision, surface: envelope.surface, since: started)
            self.lock.withLock { self.inFlight -= 1 }
        }
        return await self.wait(id, timeout: wait) ?? Record(id: id, envelope: envelope, decision: nil)
    }

    private func store(_ record: Record) {
        lock.withLock {
            decisions[record.id] = record
            order.append(record.id)
            if order.count > 10_000 {
                let oldest = order.removeFirst()
                if decisions[oldest]?.decision != nil { decisions[oldest] = nil }
            }
        }
    }

    private func finish(_ id: String, _ decision: GateDecision) {
        let (record, woken): (Record?, [CheckedContinuation<Record, Never>]) = lock.withLock {
            guard var record = decisions[id] else { return (nil, []) }
            record.decision = decision
            decisions[id] = record
            return (record, Array((waiters.removeValue(forKey: id) ?? [:]).values))
        }
        if let record { for waiter in woken { waiter.resume(returning: record) } }
    }

    /// The decision, waiting up to `timeout` seconds for a pending one; nil for an unknown id.
    public func wait(_ id: String, timeout: Double) async -> Record? {
        guard let current = lock.withLock({ decisions[id] }) else { return nil }
        if current.decision != nil || timeout <= 0 { return current }
        let key = UUID()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Record, Never>) in
            let done: Record? = lock.withLock {
                if let record = decisions[id], record.decision != nil { return record }
                waiters[id, default: [:]][key] = continuation
                return nil
            }
            if let done {
                continuation.resume(returning: done)
                return
            }
            Task {
                try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                let (waiter, record) = self.lock.withLock {
                    (self.waiters[id]?.removeValue(forKey: key), self.decisions[id])
                }
                if let waiter, let record { waiter.resume(returning: record) }
            }
        }
    }

    public enum OutcomeError: Error, CustomStringConvertible {
        case unknown
        case pending
        case alreadyReported
        case notAllowed(String)
        public var description: String {
            switch self {
            case .unknown: "no such decision"
            case .pending: "the decision is still waiting for its second key"
            case .alreadyReported: "an outcome was already reported for this decision"
            case .notAllowed(let receipt): "the action was not allowed; recorded as unmediated (\(receipt))"
            }
        }
    }

    /// Records what happened when the agent ran the action; its output feeds the session's labels.
    /// An outcome for an action that was not allowed is recorded as `unmediated` and refused.
    public func outcome(_ id: String, status: String, result: JSONValue?, error: String?) async throws -> Receipt {
        let record: Record = try lock.withLock {
            guard var record = decisions[id] else { throw OutcomeError.unknown }
            guard record.decision != nil else { throw OutcomeError.pending }
            guard !record.outcomeReported else { throw OutcomeError.alreadyReported }
            record.outcomeReported = true
            decisions[id] = record
            return record
        }
        let decision = record.decision!
        guard decision.allowed else {
            let receipt = try await gate.recordReportedOutcome(
                record.envelope, status: "unmediated", result: result, error: error,
                decision: decision.finalDecision.rawValue, policyOutcome: decision.outcome)
            metrics.appended(1)
            throw OutcomeError.notAllowed(receipt.id)
        }
        let receipt = try await gate.recordOutcome(of: decision, status: status, result: result, error: error)
        metrics.appended(1)
        return receipt
    }

    /// Rejects what still waits for a second key, waits (up to `limit`) for those decisions to be
    /// recorded, then for the ledger.
    public func drain(limit: Duration) async {
        inbox.shutDown()
        let deadline = ContinuousClock.now + limit
        while lock.withLock({ inFlight }) > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        await gate.writer.flush()
    }
}
