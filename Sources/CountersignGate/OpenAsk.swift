import CountersignCore
import CountersignLedger
import CountersignPolicy
import CountersignProvenance
import Foundation

/// An ask held open across calls (the server's inbox): its `pending` decision receipt is committed when it
/// opens, and exactly one closing decision receipt (`closeAsk` or `abandonAsk`) names it in `closes`.
public struct OpenAsk: Sendable {
    public let request: ApprovalRequest
    /// The committed `pending` decision receipt.
    public let pending: Receipt
    /// The rule's timeout in seconds, and when it runs out.
    public let timeout: Double
    public let deadline: ContinuousClock.Instant
    let session: SessionState?
    let sessionLabels: [String]
}

extension Gate {
    /// What `openAsk` did: decided at once (no second key needed, or failed closed), or opened an ask.
    public enum Opening: Sendable {
        case decided(GateDecision)
        case opened(OpenAsk)
    }

    /// The member of an open ask's `pending` receipt that marks it as held open by a process (and not, like a
    /// hook's deferred ask, completed by an agent's later report): an ask left open there when that process
    /// dies is closed as `ask->abandoned` by the next one (`abandonRecorded`).
    public static let openAskField = "open_ask"

    /// Decides; when the policy asks, commits a decision receipt with status `pending` (decision `ask`,
    /// `details` under `open_ask`) before returning, so that an ask someone waits on is in the ledger even
    /// if this process dies before it closes.
    public func openAsk(_ envelope: ActionEnvelope, details: [String: JSONValue] = [:]) async -> Opening {
        let session: SessionState?
        do {
            session = try loadSession(envelope.sessionID)
        } catch {
            return .decided(await failClosed(envelope, "cannot read session state: \(error)"))
        }
        let (outcome, labels) = policy.evaluateWithLabels(envelope, session: session)
        let sessionLabels = policy.registry.names(session?.labels ?? LabelSet())
        let argumentLabels = policy.registry.names(labels)
        guard outcome.decision == .ask else {
            return .decided(
                await commit(
                    envelope, outcome: outcome, final: outcome.decision == .allow ? .allow : .deny, recorded: nil,
                    reason: outcome.reason, approvals: [], sessionLabels: sessionLabels,
                    argumentLabels: argumentLabels, session: session))
        }
        let requirement = outcome.approvals ?? ApprovalRequirement()
        let request = ApprovalRequest(
            envelope: envelope, outcome: outcome, requirement: requirement, argumentLabels: argumentLabels)
        let timeout = requirement.timeoutSeconds ?? defaultApprovalTimeout
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        var draft = decisionDraft(
            envelope, outcome: outcome, final: .deny, recorded: Decision.ask.rawValue, reason: outcome.reason,
            approvals: [], sessionLabels: sessionLabels, argumentLabels: argumentLabels, session: session)
        draft.error = nil  // nothing is refused yet
        var fields = details
        fields["timeout_seconds"] = .double(timeout)
        let expires = Date().addingTimeInterval(timeout).timeIntervalSince1970
        fields["expires"] = .string(
            Timestamp.format(
                seconds: Int(expires), microseconds: Int((expires - expires.rounded(.down)) * 1_000_000)))
        draft.extra[Self.openAskField] = .object(fields)
        do {
            guard let pending = try await writer.append([draft]).last else { throw CancellationError() }
            return .opened(
                OpenAsk(
                    request: request, pending: pending, timeout: timeout, deadline: deadline, session: session,
                    sessionLabels: sessionLabels))
        } catch {
            return .decided(
                GateDecision(
                    envelope: envelope, outcome: outcome, finalDecision: .deny,
                    reason: "the ledger could not record the decision", approvals: [], sessionLabels: sessionLabels,
                    argumentLabels: argumentLabels, receipt: nil, internalError: "ledger: \(error)"))
        }
    }

    /// Collects the second key for an open ask (until its deadline) and commits the votes and the closing
    /// decision receipt.
    public func closeAsk(_ ask: OpenAsk, providers: [any ApprovalProvider]) async -> GateDecision {
        let (final, approvals, reason) = await secondKey(ask.request, providers: providers, deadline: ask.deadline)
        return await commit(
            ask.request.envelope, outcome: ask.request.outcome, final: final, recorded: nil, reason: reason,
            approvals: approvals, sessionLabels: ask.sessionLabels, argumentLabels: ask.request.argumentLabels,
            session: ask.session, extra: ["closes": .string(ask.pending.id)])
    }

    /// Closes an open ask nobody can answer any more (the process holding it is stopping) as
    /// `ask->abandoned`, recording the votes given so far.
    public func abandonAsk(_ ask: OpenAsk, votes: [ApprovalRecord], reason: String) async -> GateDecision {
        await commit(
            ask.request.envelope, outcome: ask.request.outcome, final: .askAbandoned, recorded: nil, reason: reason,
            approvals: votes, sessionLabels: ask.sessionLabels, argumentLabels: ask.request.argumentLabels,
            session: ask.session, extra: ["closes": .string(ask.pending.id)])
    }

    /// The asks a process left open in the ledger: `pending` decision receipts marked `open_ask` that no
    /// later receipt `closes`.
    public func unclosedAsks() throws -> [Receipt] {
        var query = ReceiptQuery()
        query.kind = ReceiptDraft.Kind.decision.rawValue
        query.status = "pending"
        let pending = try writer.store.query(query).filter { $0.body[Self.openAskField]?.objectValue != nil }
        return try pending.filter { receipt in
            var sameTrace = ReceiptQuery()
            sameTrace.traceID = receipt.traceID
            sameTrace.kind = ReceiptDraft.Kind.decision.rawValue
            return
                !(try writer.store.query(sameTrace).contains {
                    $0.seq > receipt.seq && $0.body["closes"]?.stringValue == receipt.id
                })
        }
    }

    /// Closes an ask found open in the ledger (its process died) with an `ask->abandoned` decision receipt
    /// built from the `pending` one: same action, trace, labels and rule.
    @discardableResult
    public func abandonRecorded(_ pending: Receipt, reason: String) async throws -> Receipt {
        let body = pending.body
        var draft = ReceiptDraft(
            kind: .decision, status: "blocked", sessionID: pending.sessionID, traceID: pending.traceID,
            actionHash: pending.actionHash, action: pending.action)
        draft.sessionLabels = body["labels"]?["session"]?.arrayValue?.compactMap(\.stringValue) ?? []
        draft.argumentLabels = body["labels"]?["arguments"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let rule = pending.ruleID ?? "unknown"
        if let policy = body["policy"] {
            draft.policy = PolicyReference(
                path: policy["path"]?.stringValue ?? "", sourceHash: policy["hash"]?.stringValue ?? "",
                ruleID: rule, decision: .ask, reason: policy["reason"]?.stringValue ?? "")
        }
        draft.decision = FinalDecision.askAbandoned.rawValue
        draft.error = "\(FinalDecision.askAbandoned.rawValue) via rule '\(rule)': \(reason)"
        draft.extra["closes"] = .string(pending.id)
        guard let receipt = try await writer.append([draft]).last else { throw CancellationError() }
        return receipt
    }
}
