import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation
import NIOCore

extension ProxySession {
    /// `tools/call`, `resources/read` and `prompts/get`: envelope → Gate → forward, or answer blocked.
    func mediate(id: JSONValue, method: String, params: JSONValue?) {
        guard pending[id] == nil, !committing.contains(id) else {
            reply(JSONRPCError.invalidRequest("id is already in use by a pending request").response(id: id))
            return
        }
        var params = params.map(Self.stripped) ?? .object([:])
        guard case .object(var fields) = params else {
            reply(invalidParams("params must be an object", id: id))
            return
        }
        // A 2026-07-28 retry answering the proxy's own `input_required`: take our keys out.
        var retryState: String?
        var retryAnswer: JSONValue?
        if let state = fields["requestState"]?.stringValue, state.hasPrefix(ApprovalState.prefix) {
            retryState = state
            retryAnswer = fields["inputResponses"]?[ApprovalForm.inputKey]
            fields["requestState"] = nil
            fields["inputResponses"] = nil
            params = .object(fields)
        }
        let call: CallMapping.Call
        switch method {
        case "tools/call":
            guard case .string(let name) = fields["name"], !name.isEmpty else {
                reply(invalidParams("tools/call needs a non-empty string \"name\"", id: id))
                return
            }
            let arguments = fields["arguments"] ?? .object([:])
            guard case .object(let args) = arguments else {
                reply(invalidParams("tools/call \"arguments\" must be an object", id: id))
                return
            }
            call = CallMapping.toolCall(name: name, arguments: args, descriptor: descriptors["tool"]?[name]?.value)
        case "resources/read":
            guard case .string(let uri) = fields["uri"], !uri.isEmpty else {
                reply(invalidParams("resources/read needs a non-empty string \"uri\"", id: id))
                return
            }
            call = CallMapping.resourceRead(uri: uri)
        default:
            guard case .string(let name) = fields["name"], !name.isEmpty else {
                reply(invalidParams("prompts/get needs a non-empty string \"name\"", id: id))
                return
            }
            guard case .object(let args) = fields["arguments"] ?? .object([:]) else {
                reply(invalidParams("prompts/get \"arguments\" must be an object", id: id))
                return
            }
            call = CallMapping.promptGet(name: name, arguments: args)
        }
        let envelope = envelope(for: call, method: method, id: id)
        // The common case decides at once, without a task: no second key is involved; the call goes to the
        // server once its decision receipt is committed. The call's binding is hashed only when a second key
        // is in play.
        if retryState == nil && grants.isEmpty, let quick = gate.decideSubmitting(envelope) {
            dispatch(quick, id: id, method: method, params: params)
            return
        }
        let binding = Self.binding(of: envelope)
        // A second key may take minutes: decide in a task so the client's other messages (including the
        // answer to an elicitation) keep flowing; the result comes back to the loop.
        let route = secondKeyRoute(binding: binding, retryState: retryState, retryAnswer: retryAnswer)
        mediating += 1
        let gate = self.gate
        let forwarded = params
        Task {
            let decision: GateDecision
            switch route {
            case .providers(let providers): decision = await gate.decide(envelope, mode: .secondKey(providers))
            case .inputRequired: decision = await gate.decide(envelope, mode: .deferAsk)
            }
            self.loop.execute {
                self.mediating -= 1
                if case .inputRequired = route, decision.outcome.decision == .ask, decision.internalError == nil,
                    decision.receipt != nil || decision.receiptID != nil
                {
                    self.askThroughResult(id: id, decision: decision, binding: binding)
                } else {
                    self.dispatch(decision, id: id, method: method, params: forwarded)
                }
            }
        }
    }

    enum SecondKeyRoute {
        case providers([any ApprovalProvider])
        /// A 2026-07-28 client: the ask goes back as an `input_required` result.
        case inputRequired
    }

    /// Where the second key comes from: votes a retry already carries, a grant from a server's own round
    /// trip, the client's `input_required` round trip, or the configured channels.
    func secondKeyRoute(binding: String, retryState: String?, retryAnswer: JSONValue?) -> SecondKeyRoute {
        if options.secondKeyAtSigner { return .providers([]) }
        if let retryState {
            let vote: ApprovalRecord
            switch approvalState.redeem(retryState, actionHash: binding) {
            case .used:
                vote = ApprovalRecord(
                    reviewer: "countersign", channel: "elicitation", verdict: .reject,
                    note: "this approval was already used: an approval runs its call once")
            case .valid:
                vote = ApprovalForm.vote(from: retryAnswer, reviewer: reviewer, channel: "elicitation")
            case .expired:
                vote = ApprovalRecord(
                    reviewer: "countersign", channel: "timeout", verdict: .expire,
                    note: "the answer came after the approval deadline")
            case .invalid:
                vote = ApprovalRecord(
                    reviewer: reviewer, channel: "elicitation", verdict: .reject,
                    note: "the approval state was not issued for this call")
            }
            return .providers([PresetVotes(channel: "elicitation", votes: [vote])])
        }
        if let carried = grants.removeValue(forKey: binding) {
            // The retry of a server's own input_required round: its second key was already given.
            return .providers([PresetVotes(channel: "elicitation", votes: carried)])
        }
        if modern && asksThroughClient { return .inputRequired }
        return .providers(approvalProviders())
    }

    /// Forwards an allowed call (remembered until the server answers) or answers a blocked one.
    ///
    /// Nothing reaches the server before its decision receipt is durable: a decision whose receipt is still
    /// being committed waits for the commit (decide → commit → forward), and a commit that fails — the
    /// ledger locked past its timeout, a full disk — turns the allow into a deny.
    func dispatch(_ decision: GateDecision, id: JSONValue, method: String, params: JSONValue) {
        if let commit = decision.commit, decision.receipt == nil, decision.receiptID == nil {
            committing.insert(id)
            finishing += 1
            onLoop(when: commit) { outcome in
                self.finishing -= 1
                self.committing.remove(id)
                var decision = decision
                switch outcome {
                case .success(let receipts):
                    decision.receiptID = receipts.last?.id ?? "committed"
                    decision.commit = nil
                    self.dispatch(decision, id: id, method: method, params: params)
                case .failure(let error):
                    self.outlet.log("could not record a decision: \(error)")
                    let denied = GateDecision(
                        envelope: decision.envelope, outcome: decision.outcome, finalDecision: .deny,
                        reason: "the ledger could not record the decision (\(error)); nothing was forwarded",
                        approvals: decision.approvals, sessionLabels: decision.sessionLabels,
                        argumentLabels: decision.argumentLabels, receipt: nil, internalError: "ledger: \(error)")
                    self.reply(self.blocked(denied, method: method, id: id))
                }
            }
            return
        }
        guard decision.finalDecision.allowsExecution, decision.internalError == nil else {
            reply(blocked(decision, method: method, id: id))
            return
        }
        guard pending[id] == nil else {
            reply(JSONRPCError.invalidRequest("id is already in use by a pending request").response(id: id))
            return
        }
        pending[id] = Pending(
            method: method, kind: .mediated(decision), deadline: .now + options.downstreamTimeout)
        outlet.toServer(Array(JSONRPCMessage.request(id: id, method: method, params: params).line.utf8))
    }

    /// What an approval is bound to: the server, the tool and the exact arguments (not the request id,
    /// which a 2026-07-28 retry changes).
    static func binding(of envelope: ActionEnvelope) -> String {
        Digest.canonicalHash([
            "actor": .string(envelope.actor), "tool": .string(envelope.tool), "args": .object(envelope.args),
        ])
    }

    /// Runs `body` on the loop once `ticket` is committed: right away when it already is.
    func onLoop(when ticket: CommitTicket, _ body: @escaping @Sendable (Result<[Receipt], any Error>) -> Void) {
        if let done = ticket.finished {
            body(done)
            return
        }
        let loop = self.loop
        ticket.whenFinished { outcome in loop.execute { body(outcome) } }
    }

    func envelope(for call: CallMapping.Call, method: String, id: JSONValue) -> ActionEnvelope {
        let kind = method == "tools/call" ? "tool" : method == "resources/read" ? "resource" : "prompt"
        let key = method == "tools/call" ? call.tool : call.target ?? ""
        let descriptor = descriptors[kind]?[key]
        var metadata: [String: JSONValue] = [
            "mcp_method": .string(method), "mcp_server": .string(serverName), "mcp_client": .string(clientName),
            // What the server calls itself: a claim, recorded but never used as its identity.
            "mcp_server_claimed_name": serverInfo?["name"] ?? .null,
            "mcp_protocol_version": protocolVersion.map(JSONValue.string) ?? .null,
        ]
        if let descriptor {
            metadata["mcp_descriptor_hash"] = .string(descriptor.hash)
            if let annotations = descriptor.value["annotations"] { metadata["mcp_annotations"] = annotations }
        }
        var labels: [String] = []
        if let descriptor, !descriptor.findings.isEmpty {
            labels.append("poisoned-suspect")
            metadata["mcp_descriptor_findings"] = .array(descriptor.findings.map(JSONValue.string))
        }
        let requestID: String =
            switch id {
            case .string(let s): s
            case .int(let n): String(n)
            default: "-"
            }
        return ActionEnvelope(
            actor: serverName, surface: "mcp", tool: call.tool, intent: call.intent, target: call.target,
            args: call.args, risk: call.risk.sorted(), sessionID: sessionID, traceID: "\(sessionID):\(requestID)",
            metadata: metadata, labels: labels)
    }

    var reviewer: String { "mcp-client:\(clientName)" }

    /// Whether an ask goes to the client (elicitation, or `input_required` for 2026-07-28 clients).
    var asksThroughClient: Bool {
        (options.approvalMode == .auto || options.approvalMode == .elicitation) && clientCanElicit
    }

    func approvalProviders() -> [any ApprovalProvider] {
        let elicitation = ElicitationApproval(
            reviewer: reviewer, server: serverName,
            send: { [weak self] params, deadline in
                guard let self else { return nil }
                return await self.elicit(params, deadline: deadline)
            })
        switch options.approvalMode {
        case .autoApprove: return [AutoApprove()]
        case .autoDeny: return [AutoDeny()]
        case .tty: return [TTYApproval(path: options.ttyPath)]
        case .web: return options.approvalServer.map { [$0] } ?? []
        case .elicitation: return clientCanElicit ? [elicitation] : []
        case .auto:
            if clientCanElicit { return [elicitation] }
            return options.approvalServer.map { [$0] } ?? [TTYApproval(path: options.ttyPath)]
        }
    }

    /// Sends `elicitation/create` to the client and waits for its answer (nil at the deadline). Called off
    /// the loop by the approval provider.
    func elicit(_ params: JSONValue, deadline: ContinuousClock.Instant) async -> JSONValue? {
        await withCheckedContinuation { (continuation: CheckedContinuation<JSONValue?, Never>) in
            loop.execute {
                self.nextElicitation += 1
                let id = JSONValue.string("countersign-approval-\(self.runID)-\(self.nextElicitation)")
                self.elicitations[id] = continuation
                self.reply(.request(id: id, method: "elicitation/create", params: params))
                let remaining = deadline - .now
                let nanoseconds =
                    remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000
                self.loop.scheduleTask(in: .nanoseconds(max(0, nanoseconds))) {
                    self.elicitations.removeValue(forKey: id)?.resume(returning: nil)
                }
            }
        }
    }

    /// 2026-07-28: the ask goes back as an `input_required` result carrying the approval form; the client
    /// retries the call with the answer and the opaque state binding it to this exact call.
    func askThroughResult(id: JSONValue, decision: GateDecision, binding: String) {
        let requirement = decision.outcome.approvals ?? ApprovalRequirement()
        let timeout = requirement.timeoutSeconds ?? gate.defaultApprovalTimeout
        let request = ApprovalRequest(
            envelope: decision.envelope, outcome: decision.outcome, requirement: requirement,
            argumentLabels: decision.argumentLabels)
        let state = approvalState.mint(actionHash: binding, deadline: Date().addingTimeInterval(timeout))
        let result: JSONValue = [
            "resultType": "input_required",
            "inputRequests": [
                ApprovalForm.inputKey: [
                    "method": "elicitation/create", "params": ApprovalForm.params(request, server: serverName),
                ]
            ],
            "requestState": .string(state),
        ]
        reply(.result(id: id, result: result))
    }

    /// The answer to a blocked call: a tool error result the model can read (tools), or a JSON-RPC
    /// error (resources and prompts, whose results have no error flag). Both carry a structured copy.
    func blocked(_ decision: GateDecision, method: String, id: JSONValue) -> JSONRPCMessage {
        let text =
            "Countersign blocked \(method == "tools/call" ? "the call to '\(decision.envelope.tool)'" : method) "
            + "(\(decision.finalDecision.rawValue)) via rule '\(decision.outcome.ruleID)': \(decision.reason)"
        let details: JSONValue = [
            "decision": .string(decision.finalDecision.rawValue), "rule": .string(decision.outcome.ruleID),
            "reason": .string(decision.reason), "action_hash": .string(decision.envelope.actionHash),
            "receipt": (decision.receipt?.id ?? decision.receiptID).map(JSONValue.string) ?? .null,
            "argument_labels": .array(decision.argumentLabels.map(JSONValue.string)),
        ]
        guard method == "tools/call" else {
            return JSONRPCError(code: JSONRPCError.blockedCode, message: text, data: ["countersign": details])
                .response(id: id)
        }
        var result: [String: JSONValue] = [
            "content": [["type": "text", "text": .string(text)]],
            "isError": true,
            "_meta": ["dev.countersign/decision": details],
        ]
        if modern { result["resultType"] = "complete" }
        return .result(id: id, result: .object(result))
    }

    func invalidParams(_ message: String, id: JSONValue) -> JSONRPCMessage {
        JSONRPCError(code: JSONRPCError.invalidParamsCode, message: "Invalid params: \(message)").response(id: id)
    }
}
