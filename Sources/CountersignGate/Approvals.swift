import CountersignCore
import CountersignLedger
import CountersignPolicy
import Foundation

/// What a reviewer is asked to approve.
public struct ApprovalRequest: Sendable {
    public let envelope: ActionEnvelope
    public let outcome: PolicyOutcome
    public let requirement: ApprovalRequirement
    /// The preview lines, with terminal escapes and invisible characters already neutralised.
    public let preview: [String]
    public let argumentLabels: [String]

    public init(
        envelope: ActionEnvelope, outcome: PolicyOutcome, requirement: ApprovalRequirement, argumentLabels: [String]
    ) {
        self.envelope = envelope
        self.outcome = outcome
        self.requirement = requirement
        self.argumentLabels = argumentLabels
        var lines = envelope.previewLines
        if !argumentLabels.isEmpty { lines.append("argument labels: \(argumentLabels.joined(separator: ", "))") }
        lines.append("rule: \(outcome.ruleID)")
        lines.append("reason: \(outcome.reason)")
        preview = lines.map(TerminalSafe.neutralise)
    }
}

/// A way to get a second key: the terminal, the MCP client, the web inbox, or a fixed answer.
public protocol ApprovalProvider: Sendable {
    /// The channel name recorded in receipts (`tty`, `elicitation`, `web`, `auto-approve`, …).
    var channel: String { get }
    /// Whether this provider can reach a reviewer now (e.g. a terminal exists).
    func isAvailable() -> Bool
    /// Asks for votes until `deadline`; returns every vote given (possibly none).
    func collect(_ request: ApprovalRequest, deadline: ContinuousClock.Instant) async -> [ApprovalRecord]
    /// A fixed answer configured by the operator (`--approval auto-approve|auto-deny`), not a person: it
    /// stands for the whole quorum. Decided by the provider's type, never by a reviewer's name.
    var isAutomatic: Bool { get }
    /// The provider's own reviewers are checked against the rule where they vote (a server inbox that
    /// knows their groups), so the Gate takes its votes as admitted.
    var admitsReviewers: Bool { get }
}

extension ApprovalProvider {
    public var isAutomatic: Bool { false }
    public var admitsReviewers: Bool { false }
}

/// Approves everything: for tests, demos and CI. Recorded as such in every receipt.
public struct AutoApprove: ApprovalProvider {
    public let channel = "auto-approve"
    public var isAutomatic: Bool { true }
    public init() {}
    public func isAvailable() -> Bool { true }
    public func collect(_ request: ApprovalRequest, deadline: ContinuousClock.Instant) async -> [ApprovalRecord] {
        [
            ApprovalRecord(
                reviewer: "auto-approve", channel: channel, verdict: .approve,
                note: "approved by --approval auto-approve")
        ]
    }
}

/// Rejects everything: the non-interactive safe default.
public struct AutoDeny: ApprovalProvider {
    public let channel = "auto-deny"
    public var isAutomatic: Bool { true }
    public init() {}
    public func isAvailable() -> Bool { true }
    public func collect(_ request: ApprovalRequest, deadline: ContinuousClock.Instant) async -> [ApprovalRecord] {
        [
            ApprovalRecord(
                reviewer: "auto-deny", channel: channel, verdict: .reject, note: "rejected by --approval auto-deny")
        ]
    }
}

/// Asks on the controlling terminal (`/dev/tty`), so it works while stdin and stdout carry a protocol.
public struct TTYApproval: ApprovalProvider {
    public let channel = "tty"
    let path: String
    let reviewer: String

    public init(path: String = "/dev/tty", reviewer: String? = nil) {
        self.path = path
        let env = ProcessInfo.processInfo.environment
        self.reviewer = reviewer ?? "tty:" + (env["USER"] ?? env["LOGNAME"] ?? "unknown")
    }

    public func isAvailable() -> Bool {
        let fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)
        if fd >= 0 { close(fd) }
        return fd >= 0
    }

    public func collect(_ request: ApprovalRequest, deadline: ContinuousClock.Instant) async -> [ApprovalRecord] {
        let path = self.path
        let reviewer = self.reviewer
        let channel = self.channel
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(
                    returning: Self.ask(
                        path: path, reviewer: reviewer, channel: channel, request: request, deadline: deadline))
            }
        }
    }

    static func ask(
        path: String, reviewer: String, channel: String, request: ApprovalRequest, deadline: ContinuousClock.Instant
    ) -> [ApprovalRecord] {
        let fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var text = "\n=== Countersign: second key required ===\n"
        text += request.preview.map { "  " + $0 }.joined(separator: "\n") + "\n"
        if request.requirement.quorum > 1 {
            text += "  (this rule needs \(request.requirement.quorum) distinct reviewers)\n"
        }
        let seconds = max(0, Int((deadline - .now).components.seconds))
        text += "Approve as \(reviewer)? Type 'yes' to approve, anything else to reject (\(seconds)s): "
        _ = text.withCString { write(fd, $0, strlen($0)) }
        guard let line = readLine(fd: fd, deadline: deadline) else {
            _ = "\n(no answer in time)\n".withCString { write(fd, $0, strlen($0)) }
            return []
        }
        let answer = line.trimmingCharacters(in: .whitespacesAndNewlines)
        let approved = ["y", "yes"].contains(answer.lowercased())
        return [
            ApprovalRecord(
                reviewer: reviewer, channel: channel, verdict: approved ? .approve : .reject,
                note: answer.isEmpty ? nil : TerminalSafe.neutralise(answer))
        ]
    }

    /// Reads one line, giving up at the deadline.
    static func readLine(fd: Int32, deadline: ContinuousClock.Instant) -> String? {
        var bytes: [UInt8] = []
        while bytes.count < 4096 {
            let remaining = deadline - .now
            let ms = Int32(
                clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
            )
            guard ms > 0 else { return nil }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, ms) > 0 else { return nil }
            var byte: UInt8 = 0
            guard read(fd, &byte, 1) == 1 else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if byte == 0x0A { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
