import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation

extension ProxySession {
    /// `tools/call`, `resources/read` and `prompts/get`: envelope → Gate → forward, or answer blocked.
    func mediate(id: JSONValue, method: String, params: JSONValue?) async {
        guard pending[id] == nil else {
            await reply(JSONRPCError.invalidRequest("id is already in use by a pending request").response(id: id))
            return
        }
        var params = params.map(Self.stripped) ?? .object([:])
        guard case .object(var fields) = params else {
            await reply(invalidParams("params must be an object", id: id))
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
                await reply(invalidParams("tools/call needs a non-empty string \"name\"", id: id))
                return
            }
            let arguments = fields["arguments"] ?? .object([:])
            guard case .object(let args) = arguments else {
                await reply(invalidParams("tools/call \"arguments\" must be an object", id: id))
                return
            }
            call = CallMapping.toolCall(name: name, arguments: args, descriptor: descriptors["tool"]?[name]?.value)
        case "resources/read":
            guard case .string(let uri) = fields["uri"], !uri.isEmpty else {
                await reply(invalidParams("resources/read needs a non-empty string \"uri\"", id: id))
                return
            }
            call = CallMapping.resourceRead(uri: uri, params: fields)
        default:
            guard case .string(let name) = fields["name"], !name.isEmpty else {
                await reply(invalidParams("prompts/get needs a non-empty string \"name\"", id: id))
                return
            }
            guard case .object(let args) = fields["arguments"] ?? .object([:]) else {
                await reply(invalidParams("prompts/get \"arguments\" must be an object", id: id))
                return
            }
            call = CallMapping.promptGet(name: name, arguments: args)
        }
        let envelope = envelope(for: call, method: method, id: id)
        let binding = Digest.canonicalHash([
            "actor": .string(envelope.actor), "tool": .string(call.tool), "args": .object(call.args),
        ])

        // The common case decides at once, without a task or a wait: no second key is involved and the
        // decision receipt commits while the server works (the answer is held until it has).
        if retryState == nil && grants[binding] == nil,
            let quick = gate.decideSubmitting(envelope)
        {
            await dispatch(quick, id: id, method: method, params: params, binding: binding)
            return
        }
        // A second key may take minutes: decide in a task so the client's other messages (including the
        // answer to an elicitation) keep flowing.
        mediating += 1
        Task {
            defer { self.mediating -= 1 }
            let decision = await self.decideWithSecondKey(
                envelope, binding: binding, retryState: retryState, retryAnswer: retryAnswer, id: id)
            if let decision { await self.dispatch(decision, id: id, method: method, params: params, binding: binding) }
        }
    }

    /// The slow path: a second key through the client, the terminal or a fixed answer. Returns nil when
    /// the answer went back as an `input_required` result (the client retries).
    func decideWithSecondKey(
        _ envelope: ActionEnvelope, binding: String, retryState: String?, retryAnswer: JSONValue?, id: JSONValue
    ) async -> GateDecision? {
        if let retryState {
            let vote: ApprovalRecord
            switch approvalState.check(retryState, actionHash: binding) {
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
            return await gate.decide(envelope, providers: [PresetVotes(channel: "elicitation", votes: [vote])])
        }
        if let carried = grants.removeValue(forKey: binding) {
            // The retry of a server's own input_required round: its second key was already given.
            return await gate.decide(envelope, providers: [PresetVotes(channel: "elicitation", votes: carried)])
        }
        if modern && asksThroughClient {
            let decision = await gate.decideDeferringAsk(envelope)
            if decision.outcome.decision == .ask && decision.internalError == nil && decision.receipt != nil {
                await askThroughResult(id: id, decision: decision, binding: binding)
                return nil
            }
            return decision
        }
        return await gate.decide(envelope, providers: approvalProviders())
    }

    /// Forwards an allowed call (remembered until the server answers) or answers a blocked one.
    func dispatch(_ decision: GateDecision, id: JSONValue, method: String, params: JSONValue, binding: String) async {
        guard decision.allowed else {
            var decision = decision
            if let commit = decision.commit, case .failure(let error) = await commit.wait() {
                outlet.log("could not record a blocked decision: \(error)")
                decision.commit = nil
            }
            await reply(blocked(decision, method: method, id: id))
            return
        }
        guard pending[id] == nil else {
            await reply(JSONRPCError.invalidRequest("id is already in use by a pending request").response(id: id))
            return
        }
        pending[id] = Pending(
            method: method, kind: .mediated(decision, binding: binding), deadline: .now + options.downstreamTimeout)
        await outlet.toServer(Array(JSONRPCMessage.request(id: id, method: method, params: params).line.utf8))
    }

    func envelope(for call: CallMapping.Call, method: String, id: JSONValue) -> ActionEnvelope {
        let kind = method == "tools/call" ? "tool" : method == "resources/read" ? "resource" : "prompt"
        let key = method == "tools/call" ? call.tool : call.target ?? ""
        let descriptor = descriptors[kind]?[key]
        var metadata: [String: JSONValue] = [
            "mcp_method": .string(method), "mcp_server": .string(serverName), "mcp_client": .string(clientName),
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
        case .elicitation: return clientCanElicit ? [elicitation] : []
        case .auto: return clientCanElicit ? [elicitation] : [TTYApproval(path: options.ttyPath)]
        }
    }

    /// Sends `elicitation/create` to the client and waits for its answer (nil at the deadline).
    func elicit(_ params: JSONValue, deadline: ContinuousClock.Instant) async -> JSONValue? {
        nextElicitation += 1
        let id = JSONValue.string("countersign-approval-\(runID)-\(nextElicitation)")
        await reply(.request(id: id, method: "elicitation/create", params: params))
        return await withCheckedContinuation { (continuation: CheckedContinuation<JSONValue?, Never>) in
            elicitations[id] = continuation
            Task {
                try? await Task.sleep(until: deadline)
                self.expireElicitation(id)
            }
        }
    }

    func expireElicitation(_ id: JSONValue) {
        elicitations.removeValue(forKey: id)?.resume(returning: nil)
    }

    /// 2026-07-28: the ask goes back as an `input_required` result carrying the approval form; the client
    /// retries the call with the answer and the opaque state binding it to this exact call.
    func askThroughResult(id: JSONValue, decision: GateDecision, binding: String) async {
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
        await reply(.result(id: id, result: result))
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
            "receipt": decision.receipt.map { .string($0.id) } ?? .null,
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
