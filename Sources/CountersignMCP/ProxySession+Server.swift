import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation

extension ProxySession {
    // MARK: - From the server

    public func fromServer(_ frame: Frame) {
        loop.preconditionInEventLoop()
        guard let value = parse(frame, from: "server") else { return }
        let message: JSONRPCMessage
        do {
            message = try JSONRPCMessage(value)
        } catch {
            outlet.log("ignored a malformed message from the server: \(error.message)")
            return
        }
        switch message {
        case .result(let id, _), .error(let id, _):
            guard let request = pending.removeValue(forKey: id) else {
                outlet.log("ignored an answer from the server to no pending request")
                return
            }
            complete(request, message: message, raw: frame.bytes)
        case .request(let id, let method, let params):
            switch MethodTable.serverRequest(method) {
            case .passthrough: outlet.toClient(frame.bytes ?? Array(message.line.utf8))
            case .mediated: mediateServerRequest(id: id, method: method, params: params, raw: frame.bytes)
            case .refused:
                outlet.toServer(
                    Array(
                        JSONRPCError(
                            code: JSONRPCError.methodNotFoundCode,
                            message: "Method not found: not in Countersign's MCP method table"
                        ).response(id: id).line.utf8))
            }
        case .notification(let method, _):
            guard MethodTable.serverNotifications.contains(method) else {
                outlet.log("dropped server notification \(TerminalSafe.neutralise(String(method.prefix(80))))")
                return
            }
            outlet.toClient(frame.bytes ?? Array(message.line.utf8))
        }
    }

    /// The server answered a forwarded request: record what matters, then relay the answer unchanged —
    /// a mediated call's answer only once its decision receipt is committed.
    func complete(_ request: Pending, message: JSONRPCMessage, raw: [UInt8]?) {
        let line = raw ?? Array(message.line.utf8)
        guard case .result(_, let result) = message else {
            if case .mediated(let decision) = request.kind {
                let text = message.json["error"]?["message"]?.stringValue ?? "error"
                relay(
                    line, id: message.id, after: decision, status: "protocol_error", result: nil,
                    error: "server error: \(text)")
            } else {
                outlet.toClient(line)
            }
            return
        }
        switch request.kind {
        case .initialize:
            serverInfo = result["serverInfo"]
            if let version = result["protocolVersion"]?.stringValue { protocolVersion = version }
            recordIdentity(era: "handshake")
        case .discover:
            serverInfo = result["_meta"]?["io.modelcontextprotocol/serverInfo"] ?? result["serverInfo"]
            modern = true
            recordIdentity(era: "stateless")
        case .list(let method):
            if serverInfo == nil, let info = result["_meta"]?["io.modelcontextprotocol/serverInfo"] {
                serverInfo = info
            }
            recordDescriptors(result, method: method)
        case .mediated(let decision):
            if result["resultType"] == .string("input_required") {
                // The server's own round trip: the client retries; keep the second key for that retry.
                if !decision.approvals.isEmpty { grants[Self.binding(of: decision.envelope)] = decision.approvals }
            } else {
                let status = result["isError"] == .bool(true) ? "tool_error" : "executed"
                relay(line, id: message.id, after: decision, status: status, result: result, error: nil)
                return
            }
        case .other:
            break
        }
        outlet.toClient(line)
    }

    /// Feeds the output's labels to the session now, submits the outcome receipt, and relays the answer
    /// once the decision that let the call run is committed (if it cannot be, the answer is withheld).
    func relay(
        _ line: [UInt8], id: JSONValue?, after decision: GateDecision, status: String, result: JSONValue?,
        error: String?
    ) {
        do {
            _ = try gate.submitOutcome(of: decision, status: status, result: result, error: error)
        } catch {
            outlet.log("could not record the outcome of \(decision.envelope.tool): \(error)")
        }
        guard let commit = decision.commit else {
            outlet.toClient(line)
            return
        }
        finishing += 1
        onLoop(when: commit) { outcome in
            self.finishing -= 1
            if case .failure(let failure) = outcome {
                self.outlet.log("the decision for \(decision.envelope.tool) could not be committed: \(failure)")
                self.reply(
                    JSONRPCError(
                        code: JSONRPCError.downstreamFailedCode,
                        message: "the ledger could not record this call's decision; its result is withheld"
                    ).response(id: id))
            } else {
                self.outlet.toClient(line)
            }
        }
    }

    func recordIdentity(era: String) {
        let fields: [String: JSONValue] = [
            "type": "mcp-session", "era": .string(era),
            "protocol_version": protocolVersion.map(JSONValue.string) ?? .null,
            "client_info": clientInfo ?? .null, "server_info": serverInfo ?? .null,
            "client_capabilities": clientCapabilities ?? .null,
            "server_command": .array(options.serverCommand.map(JSONValue.string)),
        ]
        gate.submitEvent(sessionID: sessionID, status: "session", fields: fields)
    }

    // MARK: - Descriptors

    /// Pins each descriptor on first sight, flags changed and poisoned ones, and records what it found.
    func recordDescriptors(_ result: JSONValue, method: String) {
        guard let list = MethodTable.lists[method], let items = result[list.field]?.arrayValue else { return }
        var firstSeen: [JSONValue] = []
        var changed: [JSONValue] = []
        var flagged: [JSONValue] = []
        var known = descriptors[list.kind] ?? [:]
        for item in items {
            guard let name = item[list.key]?.stringValue else { continue }
            let hash = Digest.canonicalHash(item)
            var findings = DescriptorScan.findings(item)
            var changeReported = false
            do {
                switch try pins?.check(server: serverIdentity, kind: list.kind, name: name, hash: hash) {
                case .firstSeen?: firstSeen.append(.string(name))
                case .changed(let pinnedHash, let pinnedAt)?:
                    changeReported = true
                    findings.append("descriptor changed since it was pinned at \(pinnedAt)")
                    changed.append(["name": .string(name), "pinned_hash": .string(pinnedHash), "hash": .string(hash)])
                case .unchanged?, nil: break
                }
            } catch {
                changeReported = true
                findings.append("descriptor pin store unavailable")
                outlet.log("descriptor pins: \(error)")
            }
            // A change within the session that the pin does not show (no pin store, or a swap back).
            if !changeReported, let previous = known[name], previous.hash != hash {
                findings.append("descriptor changed during this session")
                changed.append(["name": .string(name), "pinned_hash": .string(previous.hash), "hash": .string(hash)])
            }
            if !findings.isEmpty {
                flagged.append(["name": .string(name), "findings": .array(findings.map(JSONValue.string))])
            }
            known[name] = Descriptor(value: item, hash: hash, findings: findings)
        }
        descriptors[list.kind] = known
        guard !firstSeen.isEmpty || !changed.isEmpty || !flagged.isEmpty else { return }
        let fields: [String: JSONValue] = [
            "type": "mcp-descriptors", "kind": .string(list.kind), "server": .string(serverName),
            "server_identity": .string(serverIdentity), "pinned": .array(firstSeen), "changed": .array(changed),
            "flagged": .array(flagged),
        ]
        gate.submitEvent(
            sessionID: sessionID, status: flagged.isEmpty ? "descriptors-pinned" : "poisoned-suspect", fields: fields)
    }

    // MARK: - Server-to-client requests

    /// Sampling and URL-mode elicitation reach the client only if the policy allows them.
    func mediateServerRequest(id: JSONValue, method: String, params: JSONValue?, raw: [UInt8]?) {
        let line = raw ?? Array(JSONRPCMessage.request(id: id, method: method, params: params).line.utf8)
        let mode = params?["mode"]?.stringValue ?? "form"
        if method == "elicitation/create" && mode == "form" {
            outlet.toClient(line)
            return
        }
        var args: [String: JSONValue] = [:]
        for key in ["message", "url", "messages", "systemPrompt"] { if let value = params?[key] { args[key] = value } }
        let call = CallMapping.Call(
            tool: method, intent: method == "sampling/createMessage" ? "prompt" : "navigate",
            target: params?["url"]?.stringValue, args: args, risk: ["mcp", "server-initiated"])
        let envelope = envelope(for: call, method: method, id: id)
        let gate = self.gate
        mediating += 1
        Task {
            let decision = await gate.decide(envelope, mode: .secondKey([]))
            self.loop.execute {
                self.mediating -= 1
                guard decision.allowed else {
                    let error = JSONRPCError(
                        code: JSONRPCError.blockedCode,
                        message:
                            "Countersign blocked \(method) via rule '\(decision.outcome.ruleID)': \(decision.reason)")
                    self.outlet.toServer(Array(error.response(id: id).line.utf8))
                    return
                }
                self.outlet.toClient(line)
            }
        }
    }
}
