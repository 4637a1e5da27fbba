import CountersignCore
import CountersignGate
import CountersignLedger
import Crypto
import Foundation

/// The form the proxy puts to the human through the MCP client (`elicitation/create`, form mode).
enum ApprovalForm {
    static let inputKey = "countersign_approval"

    static func params(_ request: ApprovalRequest, server: String) -> JSONValue {
        var message = "Countersign: a second key is required for a call to MCP server '\(server)'.\n"
        message += request.preview.joined(separator: "\n")
        if request.requirement.quorum > 1 {
            message += "\n(this rule needs \(request.requirement.quorum) distinct reviewers)"
        }
        return [
            "mode": "form",
            "message": .string(message),
            "requestedSchema": [
                "type": "object",
                "properties": [
                    "approve": [
                        "type": "boolean", "title": "Approve this call?",
                        "description": "Allow the call to run once, exactly as shown.",
                    ],
                    "note": ["type": "string", "title": "Note (recorded with your answer)"],
                ],
                "required": ["approve"],
            ],
        ]
    }

    /// The vote an elicitation result carries: accept with `approve: true` approves; accept with false,
    /// decline and cancel reject; anything malformed rejects.
    static func vote(from result: JSONValue?, reviewer: String, channel: String) -> ApprovalRecord {
        let action = result?["action"]?.stringValue
        let content = result?["content"]?.objectValue ?? [:]
        let note = content["note"]?.stringValue.map(TerminalSafe.neutralise).flatMap { $0.isEmpty ? nil : $0 }
        switch action {
        case "accept" where content["approve"] == .bool(true):
            return ApprovalRecord(reviewer: reviewer, channel: channel, verdict: .approve, note: note)
        case "accept":
            return ApprovalRecord(reviewer: reviewer, channel: channel, verdict: .reject, note: note ?? "not approved")
        case "decline":
            return ApprovalRecord(reviewer: reviewer, channel: channel, verdict: .reject, note: note ?? "declined")
        case "cancel":
            return ApprovalRecord(reviewer: reviewer, channel: channel, verdict: .reject, note: note ?? "cancelled")
        default:
            return ApprovalRecord(
                reviewer: reviewer, channel: channel, verdict: .reject, note: "the client's answer was not understood")
        }
    }
}

/// Asks the human through the MCP client with `elicitation/create` (2025-06-18 and 2025-11-25 clients
/// that declared the form capability). `send` delivers the request and waits for the client's answer.
struct ElicitationApproval: ApprovalProvider {
    let channel = "elicitation"
    let reviewer: String
    let server: String
    let send: @Sendable (JSONValue, ContinuousClock.Instant) async -> JSONValue?

    func isAvailable() -> Bool { true }

    func collect(_ request: ApprovalRequest, deadline: ContinuousClock.Instant) async -> [ApprovalRecord] {
        guard let answer = await send(ApprovalForm.params(request, server: server), deadline) else {
            return []  // no answer before the deadline: the Gate records ask->expired
        }
        if answer["error"] != nil {
            return [
                ApprovalRecord(
                    reviewer: reviewer, channel: channel, verdict: .reject,
                    note: "the client refused the elicitation request")
            ]
        }
        return [ApprovalForm.vote(from: answer["result"], reviewer: reviewer, channel: channel)]
    }
}

/// Votes already given elsewhere (the `inputResponses` of a 2026-07-28 retry).
struct PresetVotes: ApprovalProvider {
    let channel: String
    let votes: [ApprovalRecord]
    func isAvailable() -> Bool { true }
    func collect(_ request: ApprovalRequest, deadline: ContinuousClock.Instant) async -> [ApprovalRecord] { votes }
}

/// The opaque `requestState` of the proxy's own `input_required` result (2026-07-28): binds the
/// approval to the exact action (its hash) and a deadline, authenticated with a per-process key so a
/// client cannot forge or move it to another call.
/// The opaque `requestState` of the proxy's own `input_required` approvals: bound by HMAC to one call
/// (server, tool, arguments), a deadline and a nonce, and redeemable once — an approval runs its call a
/// single time, however often the client replays the retry. The key lives only in this process, so a
/// state never outlives the proxy that minted it.
final class ApprovalState: @unchecked Sendable {
    // `redeemed` is guarded by `lock` (redeemed from the session's loop, but keep it safe anyway).
    static let prefix = "countersign.v2."
    let key: SymmetricKey
    private let lock = NSLock()
    private var redeemed: Set<String> = []

    init(key: SymmetricKey = SymmetricKey(size: .bits256)) { self.key = key }

    func mint(actionHash: String, deadline: Date) -> String {
        let nonce = Digest.hex(SymmetricKey(size: .bits128).withUnsafeBytes { Data($0) })
        let payload = "\(actionHash).\(Int64(deadline.timeIntervalSince1970 * 1000)).\(nonce)"
        return Self.prefix + payload + "." + mac(payload)
    }

    enum Check: Equatable {
        case valid
        case expired
        case invalid
        /// Valid, but already redeemed once.
        case used
    }

    /// Checks `state` and, when valid, marks it used: the next redemption of the same state is `.used`.
    func redeem(_ state: String, actionHash: String, now: Date = Date()) -> Check {
        let result = check(state, actionHash: actionHash, now: now)
        guard result == .valid else { return result }
        return lock.withLock { redeemed.insert(state).inserted } ? .valid : .used
    }

    /// Whether `state` was minted here for `actionHash` and is still within its deadline.
    func check(_ state: String, actionHash: String, now: Date = Date()) -> Check {
        guard state.hasPrefix(Self.prefix) else { return .invalid }
        let parts = state.dropFirst(Self.prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, let millis = Int64(parts[1]), parts[2].count == 32 else { return .invalid }
        let payload = "\(parts[0]).\(parts[1]).\(parts[2])"
        guard ConstantTime.equal(mac(payload), String(parts[3])), parts[0] == actionHash else { return .invalid }
        return now.timeIntervalSince1970 * 1000 > Double(millis) ? .expired : .valid
    }

    func mac(_ payload: String) -> String {
        Digest.hex(HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: key))
    }
}
