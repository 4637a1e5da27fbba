import CountersignCore
import CountersignLedger
import CountersignPolicy
import CountersignProvenance
import Foundation

/// What the Gate decided for one action, after any second key, with its committed receipt.
public struct GateDecision: Sendable {
    public let envelope: ActionEnvelope
    public let outcome: PolicyOutcome
    public let finalDecision: FinalDecision
    public let reason: String
    public let approvals: [ApprovalRecord]
    public let sessionLabels: [String]
    public let argumentLabels: [String]
    /// The decision receipt, committed before this value is returned (nil only if the ledger failed).
    public let receipt: Receipt?
    /// Set when something failed inside the Gate; the decision is then always a deny.
    public let internalError: String?
    /// For decisions from `decideSubmitting`: when the decision receipt is committed.
    public var commit: CommitTicket? = nil
    /// The committed decision receipt's id, once an adapter learned it from `commit` (or the signer
    /// service reported it).
    public var receiptID: String? = nil
    /// The signer service's id for this decision, which its outcome is reported against.
    public var decisionID: String? = nil

    public init(
        envelope: ActionEnvelope, outcome: PolicyOutcome, finalDecision: FinalDecision, reason: String,
        approvals: [ApprovalRecord], sessionLabels: [String], argumentLabels: [String], receipt: Receipt?,
        internalError: String?
    ) {
        self.envelope = envelope
        self.outcome = outcome
        self.finalDecision = finalDecision
        self.reason = reason
        self.approvals = approvals
        self.sessionLabels = sessionLabels
        self.argumentLabels = argumentLabels
        self.receipt = receipt
        self.internalError = internalError
    }

    /// Whether the adapter may run the action.
    public var allowed: Bool {
        finalDecision.allowsExecution && (receipt != nil || commit != nil || receiptID != nil) && internalError == nil
    }
}

/// The one pipeline every adapter calls: envelope + session → policy → (ask → approvals) → receipt →
/// allow/deny; then outcome → receipt, and output labels → session.
///
/// Fail closed: a session store, approval channel or ledger error ends in deny with the reason recorded
/// (when the ledger can still be written), never in an allow.
public final class Gate: Sendable {
    public let policy: Policy
    public let writer: LedgerWriter
    public let sessions: (any SessionBackend)?
    public let providers: [any ApprovalProvider]
    /// Seconds an approval may take when the rule does not say (`ask->expired` after).
    public let defaultApprovalTimeout: Double

    public init(
        policy: Policy, writer: LedgerWriter, sessions: (any SessionBackend)? = nil,
        providers: [any ApprovalProvider] = [],
        defaultApprovalTimeout: Double = 300
    ) {
        self.policy = policy
        self.writer = writer
        self.sessions = sessions
        self.providers = providers
        self.defaultApprovalTimeout = defaultApprovalTimeout
    }

    var redactor: Redactor { writer.sealer.redactor }

    // MARK: - Deciding

    /// Decides; an ask is put to `providers` (default: the Gate's own) for a second key.
    public func decide(_ envelope: ActionEnvelope, providers: [any ApprovalProvider]? = nil) async -> GateDecision {
        await decide(envelope, deferringAsk: false, providers: providers ?? self.providers)
    }

    /// Decides without collecting a second key here: for adapters whose agent asks the human itself
    /// (a Claude Code `ask`). An ask is recorded as `ask` with status `pending`; the agent's later report
    /// (it ran, or it was denied) completes the record.
    ///
    /// An ask whose `approvals:` the agent's dialog cannot satisfy (a quorum above one, named reviewers or
    /// groups, or channels that leave out `hook-native`) is not deferred: it is rejected, with a reason that
    /// names what the rule needs, since the agent's user clicking "yes" would not meet it.
    public func decideDeferringAsk(_ envelope: ActionEnvelope) async -> GateDecision {
        await decide(envelope, deferringAsk: true, providers: [])
    }

    /// Whether an agent's own permission dialog (one person, the agent's user) meets a rule's requirement.
    public static func nativeDialogSatisfies(_ requirement: ApprovalRequirement?) -> Bool {
        guard let requirement else { return true }
        return requirement.quorum <= 1 && requirement.reviewers.isEmpty && requirement.groups.isEmpty
            && (requirement.channels.isEmpty || requirement.channels.contains(.hookNative))
    }

    /// In words, what a requirement asks for (for reasons shown to the agent and its user).
    public static func describe(_ requirement: ApprovalRequirement) -> String {
        var parts: [String] = []
        parts.append(requirement.quorum == 1 ? "one approval" : "\(requirement.quorum) distinct approvals")
        if !requirement.reviewers.isEmpty { parts.append("from \(requirement.reviewers.joined(separator: ", "))") }
        if !requirement.groups.isEmpty {
            parts.append("from the group(s) \(requirement.groups.joined(separator: ", "))")
        }
        if !requirement.channels.isEmpty {
            parts.append("through \(requirement.channels.map(\.rawValue).joined(separator: " or "))")
        }
        return parts.joined(separator: " ")
    }

    /// Decides at once when the policy needs no second key, submitting the decision receipt to the
    /// ledger instead of waiting for its commit (`commit` tells when it is durable; the adapter holds
    /// the action's result until then). Returns nil when the policy asks or the session cannot be read:
    /// use `decide`, which records those.
    public func decideSubmitting(_ envelope: ActionEnvelope) -> GateDecision? {
        guard let (decision, draft) = quickDecision(envelope) else { return nil }
        var submitted = decision
        submitted.commit = writer.submit([draft])
        return submitted
    }

    /// Like `decideSubmitting`, but returns after the decision receipt is committed (on the caller's
    /// thread when the ledger is idle): for adapters that answer only once the receipt is durable.
    public func decideCommitting(_ envelope: ActionEnvelope) async -> GateDecision? {
        guard let (decision, draft) = quickDecision(envelope) else { return nil }
        do {
            let receipts = try await writer.append([draft])
            return GateDecision(
                envelope: envelope, outcome: decision.outcome, finalDecision: decision.finalDecision,
                reason: decision.reason, approvals: [], sessionLabels: decision.sessionLabels,
                argumentLabels: decision.argumentLabels, receipt: receipts.last, internalError: nil)
        } catch {
            return GateDecision(
                envelope: envelope, outcome: decision.outcome, finalDecision: .deny,
                reason: "the ledger could not record the decision", approvals: [],
                sessionLabels: decision.sessionLabels, argumentLabels: decision.argumentLabels, receipt: nil,
                internalError: "ledger: \(error)")
        }
    }

    /// The decision and its receipt draft when no second key is involved; nil when the policy asks or the
    /// session cannot be read.
    func quickDecision(_ envelope: ActionEnvelope) -> (GateDecision, ReceiptDraft)? {
        let session: SessionState?
        do { session = try loadSession(envelope.sessionID) } catch { return nil }
        let (outcome, labels) = policy.evaluateWithLabels(envelope, session: session)
        guard outcome.decision != .ask else { return nil }
        let final: FinalDecision = outcome.decision == .allow ? .allow : .deny
        let sessionLabels = policy.registry.names(session?.labels ?? LabelSet())
        let argumentLabels = policy.registry.names(labels)
        let draft = decisionDraft(
            envelope, outcome: outcome, final: final, recorded: nil, reason: outcome.reason, approvals: [],
            sessionLabels: sessionLabels, argumentLabels: argumentLabels, session: session)
        let decision = GateDecision(
            envelope: envelope, outcome: outcome, finalDecision: final, reason: outcome.reason, approvals: [],
            sessionLabels: sessionLabels, argumentLabels: argumentLabels, receipt: nil, internalError: nil)
        return (decision, draft)
    }

    func decisionDraft(
        _ envelope: ActionEnvelope, outcome: PolicyOutcome, final: FinalDecision, recorded: String?, reason: String,
        approvals: [ApprovalRecord], sessionLabels: [String], argumentLabels: [String], session: SessionState?
    ) -> ReceiptDraft {
        let status = recorded != nil ? "pending" : final.allowsExecution ? "authorized" : "blocked"
        var draft = ReceiptDraft.forAction(
            envelope, kind: .decision, status: status, redactor: receiptRedactor(envelope, session: session))
        draft.sessionLabels = sessionLabels
        draft.argumentLabels = argumentLabels
        draft.policy = reference(outcome)
        draft.decision = recorded ?? final.rawValue
        draft.approvals = approvals
        if !outcome.faults.isEmpty { draft.extra["policy_faults"] = .array(outcome.faults.map(JSONValue.string)) }
        if let normalized = envelope.normalizedPaths { draft.extra["normalized"] = normalized }
        if let unattributed = session?.unattributedLabels, !unattributed.isEmpty {
            // Some labelled content could not be remembered value by value: every argument carries its labels.
            draft.extra["provenance"] = [
                "unattributed_labels": .array(policy.registry.names(unattributed).map(JSONValue.string)),
                "note":
                    "a provenance bound was reached or an output could not be read; every argument carries these labels",
            ]
        }
        if !final.allowsExecution { draft.error = "\(draft.decision!) via rule '\(outcome.ruleID)': \(reason)" }
        return draft
    }

    func decide(_ envelope: ActionEnvelope, deferringAsk: Bool, providers: [any ApprovalProvider]) async
        -> GateDecision
    {
        var session: SessionState?
        do {
            session = try loadSession(envelope.sessionID)
        } catch {
            return await failClosed(envelope, "cannot read session state: \(error)")
        }
        let (outcome, labels) = policy.evaluateWithLabels(envelope, session: session)
        let sessionLabels = policy.registry.names(session?.labels ?? LabelSet())
        let argumentLabels = policy.registry.names(labels)

        var final: FinalDecision
        var reason = outcome.reason
        var approvals: [ApprovalRecord] = []
        var recorded: String?  // what the receipt says when it is not the final decision
        switch outcome.decision {
        case .allow: final = .allow
        case .deny: final = .deny
        case .ask where deferringAsk && Self.nativeDialogSatisfies(outcome.approvals):
            final = .deny  // not ours to run: the agent asks its human and reports back
            recorded = "ask"
        case .ask where deferringAsk:
            let needed = Self.describe(outcome.approvals ?? ApprovalRequirement())
            final = .askRejected
            reason =
                "a second key is required (\(needed)) and the agent's own permission dialog cannot give it; "
                + "wait for reviewers with a countersign serve inbox (--approval-server)"
            approvals = [
                ApprovalRecord(
                    reviewer: "countersign", channel: "none", verdict: .reject,
                    note: "the agent's dialog cannot provide \(needed)")
            ]
        case .ask:
            let requirement = outcome.approvals ?? ApprovalRequirement()
            let request = ApprovalRequest(
                envelope: envelope, outcome: outcome, requirement: requirement, argumentLabels: argumentLabels)
            (final, approvals, reason) = await secondKey(request, providers: providers)
        }

        return await commit(
            envelope, outcome: outcome, final: final, recorded: recorded, reason: reason, approvals: approvals,
            sessionLabels: sessionLabels, argumentLabels: argumentLabels, session: session)
    }

    /// Commits the votes (one approval receipt each) and the decision receipt; a ledger failure is a deny.
    func commit(
        _ envelope: ActionEnvelope, outcome: PolicyOutcome, final: FinalDecision, recorded: String?, reason: String,
        approvals: [ApprovalRecord], sessionLabels: [String], argumentLabels: [String], session: SessionState?,
        extra: [String: JSONValue] = [:]
    ) async -> GateDecision {
        var drafts: [ReceiptDraft] = approvals.map { vote in
            var draft = ReceiptDraft.forAction(
                envelope, kind: .approval, status: vote.verdict.rawValue, redactor: receiptRedactor(envelope))
            draft.approvals = [vote]
            draft.policy = reference(outcome)
            return draft
        }
        var draft = decisionDraft(
            envelope, outcome: outcome, final: final, recorded: recorded, reason: reason, approvals: approvals,
            sessionLabels: sessionLabels, argumentLabels: argumentLabels, session: session)
        for (key, value) in extra { draft.extra[key] = value }
        drafts.append(draft)
        do {
            let receipts = try await writer.append(drafts)
            return GateDecision(
                envelope: envelope, outcome: outcome, finalDecision: final, reason: reason, approvals: approvals,
                sessionLabels: sessionLabels, argumentLabels: argumentLabels, receipt: receipts.last, internalError: nil
            )
        } catch {
            return GateDecision(
                envelope: envelope, outcome: outcome, finalDecision: .deny,
                reason: "the ledger could not record the decision",
                approvals: approvals, sessionLabels: sessionLabels, argumentLabels: argumentLabels, receipt: nil,
                internalError: "ledger: \(error)")
        }
    }

    /// Records what an agent reports after the fact: that a tool ran (or failed), labelling its output.
    /// `mediated` is false when no decision allowed it first (a skipped or ignored hook).
    @discardableResult
    public func recordReportedOutcome(
        _ envelope: ActionEnvelope, status: String, result: JSONValue?, error: String?, decision: String?,
        approval: ApprovalRecord? = nil, policyOutcome: PolicyOutcome? = nil
    ) async throws -> Receipt {
        let drafts = try outcomeDrafts(
            envelope, status: status, result: result, error: error, decision: decision, approval: approval,
            policyOutcome: policyOutcome)
        return try await writer.append(drafts).last!
    }

    /// Like `recordOutcome`, but submits the receipt instead of waiting for its commit. The output's
    /// labels reach the session before this returns, so the next decision already sees them.
    public func submitOutcome(
        of decision: GateDecision, status: String, result: JSONValue? = nil, error: String? = nil
    ) throws -> CommitTicket {
        writer.submit(
            try outcomeDrafts(
                decision.envelope, status: status, result: result, error: error,
                decision: decision.finalDecision.rawValue, approval: nil, policyOutcome: decision.outcome))
    }

    /// Labels the output by the policy's label sources, feeds them to the session, and builds the receipts.
    func outcomeDrafts(
        _ envelope: ActionEnvelope, status: String, result: JSONValue?, error: String?, decision: String?,
        approval: ApprovalRecord?, policyOutcome: PolicyOutcome?
    ) throws -> [ReceiptDraft] {
        var labels: [String] = []
        var updated: SessionState?  // reused for the receipts' redactor instead of reading the session again
        if let result, let sessions, let id = envelope.sessionID {
            labels = try sessions.update(id: id, registry: policy.registry) { state in
                let outputLabels = policy.outputLabels(for: envelope, session: state)
                state.recordOutput(result, labels: outputLabels)
                updated = state
                return policy.registry.names(outputLabels)
            }
        } else if result != nil {
            labels = policy.registry.names(policy.outputLabels(for: envelope))
        }
        let redactor = receiptRedactor(envelope, session: updated)
        var drafts: [ReceiptDraft] = []
        if let approval {
            var vote = ReceiptDraft.forAction(
                envelope, kind: .approval, status: approval.verdict.rawValue, redactor: redactor)
            vote.approvals = [approval]
            drafts.append(vote)
        }
        var draft = ReceiptDraft.forAction(
            envelope, kind: .outcome, status: status, redactor: redactor)
        draft.decision = decision
        draft.policy = policyOutcome.map(reference)
        draft.result = result.map { ResultRecord(value: $0, labels: labels) }
        draft.error = error
        drafts.append(draft)
        return drafts
    }

    /// Collects votes until the quorum of distinct allowed reviewers, a rejection, or the deadline (by
    /// default the rule's timeout from now).
    func secondKey(
        _ request: ApprovalRequest, providers: [any ApprovalProvider], deadline fixed: ContinuousClock.Instant? = nil
    ) async -> (FinalDecision, [ApprovalRecord], String) {
        let requirement = request.requirement
        let wanted = requirement.channels.map(\.rawValue)
        let offered = providers.filter { provider in
            (wanted.isEmpty || wanted.contains(provider.channel) || provider.isAutomatic)
                && provider.isAvailable()
        }
        guard !offered.isEmpty else {
            let vote = ApprovalRecord(
                reviewer: "countersign", channel: "none", verdict: .reject, note: "no approval channel is available")
            return (.askRejected, [vote], "a second key is required and no approval channel is available")
        }
        let timeout = requirement.timeoutSeconds ?? defaultApprovalTimeout
        let deadline = fixed ?? ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        var votes: [ApprovalRecord] = []
        var approvers: Set<String> = []
        for provider in offered {
            for var vote in await provider.collect(request, deadline: deadline) {
                // Who a vote is from is the provider's business: a person (checked against the rule here,
                // unless their own channel already did) or the operator's fixed answer — never a name prefix.
                let person = !provider.isAutomatic
                // A channel that checks its own reviewers (a server inbox) knows who made the request from the
                // credentials it came with, and refuses their votes there; the agent-supplied actor is
                // metadata to it. Elsewhere the actor is all there is to compare, and only an approval
                // matters: an expiry or a rejection recorded under the actor's name stays what it is.
                if person && !provider.admitsReviewers && vote.verdict == .approve
                    && vote.reviewer == request.envelope.actor
                {
                    vote.verdict = .reject
                    vote.note = "the requesting agent cannot approve its own action"
                } else if person && !provider.admitsReviewers && vote.verdict == .approve
                    && !requirement.admits(reviewer: vote.reviewer, groups: [])
                {
                    vote.verdict = .reject
                    vote.note = "\(vote.reviewer) is not an allowed reviewer for this rule"
                }
                votes.append(vote)
                if vote.verdict == .expire {
                    return (.askExpired, votes, "the second key was not given in time")
                }
                if vote.verdict == .reject {
                    return (.askRejected, votes, "rejected by \(vote.reviewer) (\(vote.channel))")
                }
                if vote.verdict == .approve { approvers.insert(vote.reviewer) }
                if approvers.count >= requirement.quorum || (!person && vote.verdict == .approve) {
                    return (.askApproved, votes, "approved by \(approvers.sorted().joined(separator: ", "))")
                }
            }
            if ContinuousClock.now >= deadline { break }
        }
        if ContinuousClock.now >= deadline {
            votes.append(
                ApprovalRecord(
                    reviewer: "countersign", channel: "timeout", verdict: .expire,
                    note: "no quorum within \(Int(timeout))s"))
            return (.askExpired, votes, "the second key was not given within \(Int(timeout))s")
        }
        return (.askRejected, votes, "quorum \(requirement.quorum) not met: \(approvers.count) distinct approval(s)")
    }

    func failClosed(_ envelope: ActionEnvelope, _ error: String) async -> GateDecision {
        let outcome = PolicyOutcome(
            decision: .deny, ruleID: "countersign:internal-error", reason: error, approvals: nil)
        var draft = ReceiptDraft.forAction(
            envelope, kind: .decision, status: "blocked", redactor: receiptRedactor(envelope))
        draft.decision = FinalDecision.deny.rawValue
        draft.policy = reference(outcome)
        draft.error = error
        let receipt = try? await writer.append([draft]).last
        return GateDecision(
            envelope: envelope, outcome: outcome, finalDecision: .deny, reason: error, approvals: [], sessionLabels: [],
            argumentLabels: [], receipt: receipt, internalError: error)
    }

    func reference(_ outcome: PolicyOutcome) -> PolicyReference {
        PolicyReference(
            path: policy.path, sourceHash: policy.sourceHash, ruleID: outcome.ruleID, decision: outcome.decision,
            reason: outcome.reason)
    }

    // MARK: - Outcomes and provenance

    /// Records what happened when the action ran (or failed), labels its output by the policy's label
    /// sources and feeds those labels to the session.
    @discardableResult
    public func recordOutcome(
        of decision: GateDecision, status: String, result: JSONValue? = nil, error: String? = nil
    ) async throws -> Receipt {
        try await recordReportedOutcome(
            decision.envelope, status: status, result: result, error: error,
            decision: decision.finalDecision.rawValue, policyOutcome: decision.outcome)
    }

    /// Records something an adapter observed that is not an action (a protocol session's identity, a tool
    /// descriptor pinned, changed or flagged), without waiting for the commit.
    @discardableResult
    public func submitEvent(sessionID: String?, status: String, fields: [String: JSONValue]) -> CommitTicket {
        var draft = ReceiptDraft(kind: .event, status: status, sessionID: sessionID)
        draft.extra = ["event": redactor.redact(.object(fields))]
        return writer.submit([draft])
    }

    /// Records that a tool ran whose output could not be read (a payload the adapter could not parse): the
    /// session and every later argument carry the labels the output would have had (fail closed), and the
    /// outcome is recorded.
    @discardableResult
    public func recordUnreadableOutcome(_ envelope: ActionEnvelope, error: String) async throws -> Receipt {
        var labels = policy.outputLabels(for: envelope)
        // Whatever the label sources say, content nobody could read is not trusted.
        labels.formUnion(policy.registry.set([LabelRegistry.untrusted]))
        if let sessions, let id = envelope.sessionID {
            try sessions.update(id: id, registry: policy.registry) { $0.recordUnreadableOutput(labels: labels) }
        }
        var draft = ReceiptDraft.forAction(
            envelope, kind: .outcome, status: "unreadable", redactor: receiptRedactor(envelope))
        draft.error = error
        draft.result = nil
        draft.extra["unreadable"] = ["labels": .array(policy.registry.names(labels).map(JSONValue.string))]
        return try await writer.append([draft]).last!
    }

    /// Records text the user typed as trusted provenance for the session.
    public func recordPrompt(sessionID: String, text: String) throws {
        guard let sessions else { return }
        try sessions.update(id: sessionID, registry: policy.registry) { $0.recordTrustedInput(text) }
    }

    /// The redactor for an action's receipts: it also removes every argument value the session traces to
    /// secret (confidentiality-labelled) content, whatever its shape — a secret the agent was shown is never
    /// written out again in a later action's receipt, and that action's hash is keyed.
    func receiptRedactor(_ envelope: ActionEnvelope, session: SessionState? = nil) -> Redactor {
        guard let state = session ?? (try? loadSession(envelope.sessionID)) ?? nil else { return redactor }
        let confidential = policy.registry.mask(.confidentiality)
        guard state.labels.intersects(confidential) || state.unattributedLabels.intersects(confidential) else {
            return redactor
        }
        var secrets: [String] = []
        func visit(_ value: JSONValue) {
            switch value {
            case .string(let text):
                if state.labels(ofArgument: text).intersects(confidential) { secrets.append(text) }
            case .array(let items): items.forEach(visit)
            case .object(let members): members.values.forEach(visit)
            default: break
            }
        }
        visit(.object(envelope.args))
        if let target = envelope.target { visit(.string(target)) }
        return secrets.isEmpty ? redactor : redactor.addingSecrets(secrets)
    }

    func loadSession(_ id: String?) throws -> SessionState? {
        guard let id else { return nil }
        guard let sessions else { return nil }
        return try sessions.load(id: id, registry: policy.registry)
    }
}
