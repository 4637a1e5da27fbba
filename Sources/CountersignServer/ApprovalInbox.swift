import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation

/// Who made a request, from the credentials it came with (never from the envelope's `actor`, which the
/// agent writes): the API token, a reviewer's own token, or nobody (loopback without an API token).
public enum Requester: Sendable, Hashable, CustomStringConvertible {
    case apiToken
    case reviewer(String)
    case unauthenticated
    /// A process on the Unix socket, by the uid the kernel reported.
    case socketPeer(uid: UInt32)

    var isSocketPeer: Bool {
        if case .socketPeer = self { return true }
        return false
    }

    /// As shown and recorded: `api-token`, `reviewer:ID` (reviewer ids never contain ':'), `unauthenticated`,
    /// `uid:N`.
    public var description: String {
        switch self {
        case .apiToken: "api-token"
        case .reviewer(let id): "reviewer:\(id)"
        case .unauthenticated: "unauthenticated"
        case .socketPeer(let uid): "uid:\(uid)"
        }
    }
}

/// Pending second-key requests waiting for reviewers. A rule's `approvals:` block is enforced here:
/// a quorum of distinct reviewers, only the reviewers or groups it names, never whoever made the request
/// (by the token it came with), and expiry at the deadline.
public final class ApprovalInbox: @unchecked Sendable {
    // `entries`, `order`, `waiters` and `stopping` are guarded by `lock`.
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private var waiters: [String: [CheckedContinuation<[ApprovalRecord], Never>]] = [:]
    private var stopping = false
    /// Called whenever the number of open approvals changes (for the metrics gauge).
    var onChange: (@Sendable (Int) -> Void)?

    /// `abandoned`: still open when the server stopped.
    public enum State: String, Sendable { case open, approved, rejected, expired, abandoned }

    public struct Entry: Sendable {
        public let id: String
        public let request: ApprovalRequest
        public let requester: Requester
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

    /// Opens a request; `wait` returns its votes once decided or at the deadline. Once the server is
    /// stopping, a request opens already `abandoned`.
    func open(id: String, request: ApprovalRequest, requester: Requester, timeout: Double) {
        var entry = Entry(
            id: id, request: request, requester: requester, created: Date(),
            deadline: Date().addingTimeInterval(timeout))
        let count = lock.withLock {
            if stopping { entry.state = .abandoned }
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
        if entry.requester == .reviewer(reviewer.id) {
            return "this request was made with your token: a second key must come from someone else"
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
            // The deadline is the one the pending receipt signed: a vote after it never counts, even in
            // the instant before the expiry is processed.
            guard Date() < entry.deadline else {
                return .failure(VoteError(status: 409, description: "the request expired at its deadline"))
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

    /// Closes every open request as `abandoned` (and any opened from now on), so that each waiting
    /// decision is recorded and each waiting caller answered before the server exits. A remote adapter
    /// polling for its request sees `abandoned` with no quorum, and fails closed.
    func shutDown() {
        let open = lock.withLock {
            stopping = true
            return entries.values.filter { $0.state == .open }.map(\.id)
        }
        for id in open { close(id, as: .abandoned) }
    }

    public func entry(_ id: String) -> Entry? { lock.withLock { entries[id] } }

    /// Whether `shutDown` was called.
    public var isStopping: Bool { lock.withLock { stopping } }

    /// Open requests first (newest first), then recently closed ones.
    public func all() -> [Entry] {
        lock.withLock { order.reversed().compactMap { entries[$0] } }
    }
}

/// The `web` approval channel for the server's own asks: the request already waits in the inbox (opened
/// before the agent was answered); this returns its votes once reviewers decided or it expired.
struct WebApproval: ApprovalProvider {
    let channel = "web"
    /// The inbox checks each reviewer (named, or in a named group, never the requester) before taking the vote.
    var admitsReviewers: Bool { true }
    let inbox: ApprovalInbox
    let id: String

    func isAvailable() -> Bool { true }

    func collect(_ request: ApprovalRequest, deadline: ContinuousClock.Instant) async -> [ApprovalRecord] {
        var votes = await inbox.wait(id)
        if let entry = inbox.entry(id), entry.state == .expired {
            let seconds = entry.deadline.timeIntervalSince(entry.created)
            votes.append(
                ApprovalRecord(
                    reviewer: "countersign", channel: "timeout", verdict: .expire,
                    note: "no quorum in the inbox within \(Int(seconds.rounded()))s"))
        }
        return votes
    }
}
