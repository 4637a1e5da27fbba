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
        /// Who asked (by token or by the socket peer's uid): only they report its outcome.
        public var requester: Requester = .unauthenticated
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
    /// most `wait` seconds with whatever is known. Before a pending answer, the ask's `pending` receipt is
    /// committed and its inbox entry exists, so a reviewer can vote on it at once. `requester` is who made
    /// the request (by its token): they cannot approve it.
    public func decide(
        _ action: ActionEnvelope, wait: Double, requester: Requester = .unauthenticated, deferAsk: Bool = false
    ) async -> Record {
        let started = ContinuousClock.now
        let id = Self.newID()
        // Without a trace id of its own, the decision id ties the decision, its votes and its outcome together.
        var traced = action
        if traced.traceID == nil { traced.traceID = id }
        let envelope = traced
        if deferAsk {
            // The caller's client asks its human (an MCP client's input_required round): recorded as a pending ask.
            let decision = await gate.decideDeferringAsk(envelope)
            let record = Record(id: id, envelope: envelope, decision: decision, requester: requester)
            store(record)
            metrics.decided(decision, surface: envelope.surface, since: started)
            return record
        }
        if let decision = await gate.decideCommitting(envelope) {
            // Fail closed: an allow the ledger could not record comes back as a deny (internalError set).
            let record = Record(id: id, envelope: envelope, decision: decision, requester: requester)
            store(record)
            metrics.decided(decision, surface: envelope.surface, since: started)
            return record
        }
        let ask: OpenAsk
        let details: [String: JSONValue] = [
            "decision_id": .string(id), "channel": "web", "requester": .string(requester.description),
        ]
        switch await gate.openAsk(envelope, details: details) {
        case .opened(let opened): ask = opened
        case .decided(let decision):
            // The policy no longer asks (the session changed meanwhile), or the ledger failed: a deny.
            let record = Record(id: id, envelope: envelope, decision: decision, requester: requester)
            store(record)
            metrics.decided(decision, surface: envelope.surface, since: started)
            return record
        }
        let remaining = ask.deadline - .now
        inbox.open(
            id: id, request: ask.request, requester: requester,
            timeout: max(0, Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18))
        store(Record(id: id, envelope: envelope, decision: nil, requester: requester))
        lock.withLock { inFlight += 1 }
        let gate = self.gate
        let inbox = self.inbox
        Task {
            let votes = await inbox.wait(id)
            let decision: GateDecision
            if inbox.entry(id)?.state == .abandoned {
                decision = await gate.abandonAsk(
                    ask, votes: votes, reason: "the server stopped before the second key was given")
            } else {
                decision = await gate.closeAsk(ask, providers: [WebApproval(inbox: inbox, id: id)])
            }
            self.finish(id, decision)
            self.metrics.decided(decision, surface: envelope.surface, since: started)
            self.lock.withLock { self.inFlight -= 1 }
        }
        return await self.wait(id, timeout: wait)
            ?? Record(id: id, envelope: envelope, decision: nil, requester: requester)
    }

    /// Closes, as `ask->abandoned`, every ask a previous server left open in the ledger (it was killed, or
    /// crashed, while callers waited); returns the closing receipts. Run before serving.
    @discardableResult
    public func closeAbandonedAsks() async throws -> [Receipt] {
        var closed: [Receipt] = []
        for pending in try gate.unclosedAsks() {
            closed.append(
                try await gate.abandonRecorded(
                    pending, reason: "the server holding this ask stopped before the second key was given"))
        }
        if !closed.isEmpty { metrics.appended(closed.count) }
        return closed
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

    /// The decision, waiting up to `timeout` seconds for a pending one (less if the waiting task is
    /// cancelled); nil for an unknown id.
    public func wait(_ id: String, timeout: Double) async -> Record? {
        guard let current = lock.withLock({ decisions[id] }) else { return nil }
        if current.decision != nil || timeout <= 0 { return current }
        let key = UUID()
        let answer = { @Sendable [self] in
            let (waiter, record) = self.lock.withLock {
                (self.waiters[id]?.removeValue(forKey: key), self.decisions[id])
            }
            if let waiter, let record { waiter.resume(returning: record) }
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Record, Never>) in
                let done: Record? = lock.withLock {
                    if let record = decisions[id], record.decision != nil || Task.isCancelled { return record }
                    waiters[id, default: [:]][key] = continuation
                    return nil
                }
                if let done {
                    continuation.resume(returning: done)
                    return
                }
                Task {
                    try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                    answer()
                }
            }
        } onCancel: {
            answer()
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
    public func outcome(
        _ id: String, status: String, result: JSONValue?, error: String?, requester: Requester? = nil
    ) async throws -> Receipt {
        let record: Record = try lock.withLock {
            guard var record = decisions[id] else { throw OutcomeError.unknown }
            // A socket peer reports only its own decisions' outcomes (another agent's would fill its session).
            if let requester, requester != record.requester,
                requester.isSocketPeer || record.requester.isSocketPeer
            {
                throw OutcomeError.unknown
            }
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

    /// Closes every ask still waiting for a second key as `ask->abandoned` (new ones too, from now on) and
    /// waits, up to `limit`, until each closing receipt is committed and its waiting callers are answered.
    public func abandonOpenAsks(limit: Duration) async {
        inbox.shutDown()
        let deadline = ContinuousClock.now + limit
        while lock.withLock({ inFlight }) > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Abandons what still waits for a second key (`abandonOpenAsks`), then waits for the ledger.
    public func drain(limit: Duration) async {
        await abandonOpenAsks(limit: limit)
        await gate.flush()
    }
}
