import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation

/// Pending second-key requests waiting for reviewers. A rule's `approvals:` block is enforced here:
/// a quorum of distinct reviewers, only the reviewers or groups it names, never the requesting agent,
/// and expiry at the deadline.
public final class ApprovalInbox: @unchecked Sendable {
    // `entries`, `order` and `waiters` are guarded by `lock`.
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private var waiters: [String: [CheckedContinuation<[ApprovalRecord], Never>]] = [:]
    /// Called whenever the number of open approvals changes (for the metrics gauge).
    var onChange: (@Sendable (Int) -> Void)?

    public enum State: String, Sendable { case open, approved, rejected, expired }

    public struct Entry: Sendable {
        public let id: String
        public let request: ApprovalRequest
        public let created: Date
        public let deadline: Date
        public var votes: [ApprovalRecord] = []
        public var state: State = .open
    }

    public struct VoteError: Error, CustomStringConvertible {
        public let status: Int
        public let description: String
    }

    public init() {}

    /// Opens a request; `wait` returns its votes once decided or at the deadline.
    func open(id: String, request: ApprovalRequest, timeout: Double) {
        let entry = Entry(
            id: id, request: request, created: Date(), deadline: Date().addingTimeInterval(timeout))
        let count = lock.withLock {
            entries[id] = entry
            order.append(id)
            if order.count > 500, let oldest = order.first(where: { entries[$0]?.state != .open }) {
                order.removeAll { $0 == oldest }
                entries[oldest] = nil
            }
            return openCount
        }
        onChange?(count)
        Task {
            try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
            self.close(id, as: .expired)
        }
    }

    private var openCount: Int { entries.values.filter { $0.state == .open }.count }

    func wait(_ id: String) async -> [ApprovalRecord] {
        await withCheckedContinuation { continuation in
            let done: [ApprovalRecord]? = lock.withLock {
                guard let entry = entries[id] else { return [] }
                if entry.state != .open { return entry.votes }
                waiters[id, default: []].append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    private func close(_ id: String, as state: State) {
        let (woken, votes, count): ([CheckedContinuation<[ApprovalRecord], Never>], [ApprovalRecord], Int) =
            lock.withLock {
                guard var entry = entries[id], entry.state == .open else { return ([], [], openCount) }
                entry.state = state
                entries[id] = entry
                return (waiters.removeValue(forKey: id) ?? [], entry.votes, openCount)
            }
        onChange?(count)
        for waiter in woken { waiter.resume(returning: votes) }
    }

    /// Why `reviewer` may not vote on `entry` (nil when they may).
    public static func refusal(_ reviewer: ReviewerDirectory.Reviewer, _ entry: Entry) -> String? {
        if entry.state != .open { return "this approval is already \(entry.state.rawValue)" }
        if reviewer.id == entry.request.envelope.actor {
            return "the requesting agent cannot approve its own action"
        }
        if entry.votes.contains(where: { $0.reviewer == reviewer.id }) { return "you already answered this request" }
        if !entry.request.requirement.admits(reviewer: reviewer.id, groups: reviewer.groups) {
            return "this rule names other reviewers or groups"
        }
        return nil
    }

    /// Records one reviewer's answer; closes the request at a rejection or when the quorum is met.
    public func vote(
        _ id: String, reviewer: ReviewerDirectory.Reviewer, approve: Bool, note: String?
    ) throws(VoteError) -> Entry {
        let result: Result<(Entry, State?), VoteError> = lock.withLock {
            guard var entry = entries[id] else {
                return .failure(VoteError(status: 404, description: "no such approval"))
            }
            if let refusal = Self.refusal(reviewer, entry) {
                return .failure(VoteError(status: entry.state == .open ? 403 : 409, description: refusal))
            }
            entry.votes.append(
                ApprovalRecord(
                    reviewer: reviewer.id, channel: "web", verdict: approve ? .approve : .reject,
                    note: note.map(TerminalSafe.neutralise)))
            entries[id] = entry
            let approvals = Set(entry.votes.filter { $0.verdict == .approve }.map(\.reviewer)).count
            let closing: State? =
                !approve ? .rejected : approvals >= entry.request.requirement.quorum ? .approved : nil
            return .success((entry, closing))
        }
        switch result {
        case .failure(let error): throw error
        case .success(let (entry, closing)):
            if let closing { close(id, as: closing) }
            return lock.withLock { entries[id] } ?? entry
        }
    }

    /// Closes every open request with a rejection, so each waiting decision is recorded before the server
    /// exits (a restart must not leave an ask with no receipt).
    func shutDown() {
        let open = lock.withLock {
            entries.values.filter { $0.state == .open }.map(\.id)
        }
        for id in open {
            lock.withLock {
                entries[id]?.votes.append(
                    ApprovalRecord(
                        reviewer: "countersign", channel: "web", verdict: .reject,
                        note: "the server stopped before a quorum was reached"))
            }
            close(id, as: .rejected)
        }
    }

    public func entry(_ id: String) -> Entry? { lock.withLock { entries[id] } }

    /// Open requests first (newest first), then recently closed ones.
    public func all() -> [Entry] {
        lock.withLock { order.reversed().compactMap { entries[$0] } }
    }
}

/// The `web` approval channel: the request waits in the server's inbox until reviewers decide.
struct WebApproval: ApprovalProvider {
    let channel = "web"
    /// The inbox checks each reviewer (named, or in a named group) before taking the vote.
    var admitsReviewers: Bool { true }
    let inbox: ApprovalInbox
    let id: String

    func isAvailable() -> Bool { true }

    func collect(_ request: ApprovalRequest, deadline: ContinuousClock.Instant) async -> [ApprovalRecord] {
        let remaining = deadline - .now
        let seconds = Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18
        inbox.open(id: id, request: request, timeout: max(0, seconds))
        var votes = await inbox.wait(id)
        if inbox.entry(id)?.state == .expired {
            votes.append(
                ApprovalRecord(
                    reviewer: "countersign", channel: "timeout", verdict: .expire,
                    note: "no quorum in the inbox within \(Int(seconds.rounded()))s"))
        }
        return votes
    }
}
