import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The HTTP surface: decision API, approvals inbox, dashboard, probes and metrics (docs/api.md).
struct Routes {
    let service: DecisionService
    let credentials: Credentials
    let metrics: ServerMetrics
    let logger: Logger
    let hooks: HookEndpoint?
    let pins: CountersignServer.PinCheck?
    let limits: ConnectionLimits

    func register(on router: Router<ServerContext>) {
        router.get("/healthz") { _, _ in json(["ok": true]) }
        router.get("/readyz") { _, _ in try ready() }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        router.get("/") { _, _ in asset(Dashboard.html, "text/html; charset=utf-8") }
        router.get("/app.js") { _, _ in asset(Dashboard.script, "text/javascript; charset=utf-8") }
        router.get("/app.css") { _, _ in asset(Dashboard.style, "text/css; charset=utf-8") }

        router.post("/v1/decide") { request, context in try await decide(request, context) }
        router.get("/v1/decisions/:id") { request, context in try await waitFor(request, context) }
        router.post("/v1/outcome") { request, context in try await outcome(request, context) }
        router.post("/v1/events") { request, context in try await event(request, context) }
        router.post("/v1/pins/check") { request, context in try await pin(request, context) }
        router.post("/v1/hooks/:agent") { request, context in
            try credentials.requireAgent(request, context)
            guard let hooks else { throw APIError(.notFound, "this server was started without hook answering") }
            return try await hooks.respond(
                agent: context.parameters.get("agent") ?? "", request: request, context: context, limits: limits)
        }
        router.get("/v1/receipts") { request, context in try await receipts(request, context) }
        router.get("/v1/verify") { request, context in try await verify(request, context) }

        router.post("/v1/session") { request, _ in
            let reviewer = try credentials.reviewer(request)
            return json([
                "reviewer": reviewerJSON(reviewer), "csrf": .string(credentials.csrf(for: reviewer)),
            ])
        }
        router.get("/v1/approvals") { request, _ in try approvals(request) }
        router.post("/v1/approval-requests") { request, context in try await openRequest(request, context) }
        router.get("/v1/approval-requests/:id") { request, context in try await requestState(request, context) }
        router.post("/v1/approvals/:id/approve") { request, context in try await vote(request, context, approve: true) }
        router.post("/v1/approvals/:id/deny") { request, context in try await vote(request, context, approve: false) }
    }

    // MARK: - Decision API

    func decide(_ request: Request, _ context: ServerContext) async throws -> Response {
        let requester = try credentials.requireAgent(request, context)
        let body = try await jsonBody(request, context)
        guard let action = body["action"] else { throw APIError(.badRequest, "the body needs \"action\": an envelope") }
        var envelope: ActionEnvelope
        do { envelope = try ActionEnvelope(json: action) } catch {
            throw APIError(.badRequest, "action: \(error)")
        }
        envelope.sessionID = envelope.sessionID.map { Self.sessionPrefix(context) + $0 }
        let wait = try seconds(body["wait"], default: 0, field: "wait")
        let deferAsk: Bool
        switch body["mode"] {
        case nil, .null?, .string("second_key")?: deferAsk = false
        case .string("defer_ask")?: deferAsk = true
        default: throw APIError(.badRequest, "\"mode\" must be \"second_key\" (the default) or \"defer_ask\"")
        }
        let record = await service.decide(envelope, wait: wait, requester: requester, deferAsk: deferAsk)
        // Structured, and never the arguments: they can carry secrets.
        logger.info(
            "decide",
            metadata: [
                "decision_id": .string(record.id), "actor": .string(envelope.actor), "tool": .string(envelope.tool),
                "surface": .string(envelope.surface), "requester": .string(requester.description),
                "decision": .string(record.decision?.finalDecision.rawValue ?? "pending"),
                "rule": .string(record.decision?.outcome.ruleID ?? "-"),
            ])
        return json(decisionJSON(record))
    }

    func waitFor(_ request: Request, _ context: ServerContext) async throws -> Response {
        let requester = try credentials.requireAgent(request, context)
        let id = context.parameters.get("id") ?? ""
        let wait = try seconds(
            request.uri.queryParameters["wait"].map { .string(String($0)) }, default: 0, field: "wait")
        guard let record = await service.wait(id, timeout: wait),
            // A caller on the socket sees only its own decisions.
            !(requester.isSocketPeer || record.requester.isSocketPeer) || requester == record.requester
        else { throw APIError(.notFound, "no such decision") }
        return json(decisionJSON(record))
    }

    func outcome(_ request: Request, _ context: ServerContext) async throws -> Response {
        let requester = try credentials.requireAgent(request, context)
        let body = try await jsonBody(request, context)
        guard let id = body["decision_id"]?.stringValue else {
            throw APIError(.badRequest, "\"decision_id\" is required")
        }
        let status = body["status"]?.stringValue ?? "executed"
        let allowed: Set<String> = ["executed", "error", "tool_error", "timeout", "protocol_error", "cancelled"]
        guard allowed.contains(status) else {
            throw APIError(.badRequest, "\"status\" must be one of \(allowed.sorted().joined(separator: ", "))")
        }
        if let error = body["error"], error.stringValue == nil, !error.isNull {
            throw APIError(.badRequest, "\"error\" must be a string")
        }
        do {
            let receipt = try await service.outcome(
                id, status: status, result: body["result"], error: body["error"]?.stringValue, requester: requester)
            return json([
                "receipt": .string(receipt.id),
                "labels": receipt.body["result"]?["labels"] ?? [],
            ])
        } catch let error as DecisionService.OutcomeError {
            switch error {
            case .unknown: throw APIError(.notFound, error.description)
            default: throw APIError(.conflict, error.description)
            }
        }
    }

    /// An adapter's observation that is not an action (an MCP session's identity, descriptors pinned or
    /// changed), recorded as an event receipt under the caller's measured identity.
    func event(_ request: Request, _ context: ServerContext) async throws -> Response {
        try credentials.requireAgent(request, context)
        let body = try await jsonBody(request, context)
        // Only what adapters observe: an event must not pass for one the ledger writes itself (key_rotated,
        // torn_write_recovered, …).
        guard let status = body["status"]?.stringValue, Self.adapterEvents.contains(status) else {
            throw APIError(
                .badRequest, "\"status\" must be one of \(Self.adapterEvents.sorted().joined(separator: ", "))")
        }
        guard case .object(let fields)? = body["fields"] else {
            throw APIError(.badRequest, "\"fields\" must be an object")
        }
        if let session = body["session_id"], session.stringValue == nil, !session.isNull {
            throw APIError(.badRequest, "\"session_id\" must be a string")
        }
        let ticket = service.gate.submitEvent(
            sessionID: body["session_id"]?.stringValue.map { Self.sessionPrefix(context) + $0 }, status: status,
            fields: fields)
        let receipts: [Receipt] = try await withCheckedThrowingContinuation { continuation in
            ticket.whenFinished { continuation.resume(with: $0) }
        }
        return json(["receipt": receipts.last.map { .string($0.id) } ?? .null])
    }

    /// Descriptor pins kept by the service for proxies that use it (`mcp proxy --signer`).
    func pin(_ request: Request, _ context: ServerContext) async throws -> Response {
        try credentials.requireAgent(request, context)
        guard let pins else { throw APIError(.notFound, "this server keeps no descriptor pins") }
        let body = try await jsonBody(request, context)
        var values: [String] = []
        for field in ["server", "kind", "name", "hash"] {
            guard let value = body[field]?.stringValue, !value.isEmpty, value.utf8.count <= 4096 else {
                throw APIError(.badRequest, "\"\(field)\" must be a non-empty string (at most 4096 bytes)")
            }
            values.append(value)
        }
        let hash = values[3]
        guard hash.hasPrefix("sha256:"), hash.count == 71,
            hash.dropFirst(7).allSatisfy({ $0.isASCII && $0.isHexDigit }),
            hash == hash.lowercased()
        else { throw APIError(.badRequest, "\"hash\" must be sha256: and 64 lower-case hex digits") }
        guard ["tool", "resource", "resource-template", "prompt"].contains(values[1]) else {
            throw APIError(.badRequest, "\"kind\" must be tool, resource, resource-template or prompt")
        }
        // Each caller on another user's socket pins for itself: one agent cannot pre-pin another's servers.
        return json(try pins(Self.sessionPrefix(context) + values[0], values[1], values[2], hash))
    }

    func receipts(_ request: Request, _ context: ServerContext) async throws -> Response {
        // Over the socket, agents of other users read no receipts (they would see each other's calls):
        // a reviewer's token, or the service's own user.
        if case .socketPeer(let uid) = try credentials.requireAgent(request, context), uid != getuid() {
            throw APIError(.forbidden, "receipts over the socket need a reviewer's token (Authorization: Bearer)")
        }
        let parameters = request.uri.queryParameters
        func value(_ key: String) -> String? { parameters[Substring(key)].map(String.init) }
        var query = ReceiptQuery()
        query.traceID = value("trace_id")
        query.sessionID = value("session_id")
        query.status = value("status")
        query.decision = value("decision")
        query.ruleID = value("rule_id")
        query.kind = value("kind")
        query.descending = true
        let limit = value("limit").flatMap(Int.init) ?? 100
        guard (1...1000).contains(limit) else { throw APIError(.badRequest, "limit must be 1…1000") }
        query.limit = limit
        let found = try await service.gate.receipts(query)
        return json(["receipts": .array(found.map { .object($0.body) })])
    }

    func verify(_ request: Request, _ context: ServerContext) async throws -> Response {
        try credentials.requireAgent(request, context)
        // The same checks and trust as `countersign verify`: the keys pinned in the trust file of the user
        // the server runs as, and the checkpoint its writer keeps beside the ledger. Never "verified" on
        // the strength of the receipts' own keys.
        // What is committed is checkpointed first: the writer otherwise does it within a second.
        return json(try await service.gate.verify())
    }

    func ready() throws -> Response {
        do {
            try service.gate.ledgerIsReadable()
            // What `countersign doctor` reports: where the record lives and whose it is.
            return json([
                "ready": true, "policy": .string(service.gate.policy.path),
                "ledger": .string(service.gate.ledgerPath), "service_uid": .int(Int64(getuid())),
                "key_id": .string(service.gate.signerKeyID),
            ])
        } catch {
            throw APIError(.serviceUnavailable, "the ledger cannot be read")
        }
    }

    // MARK: - Approvals inbox

    func approvals(_ request: Request) throws -> Response {
        let reviewer = try credentials.reviewer(request)
        let entries = service.inbox.all().filter { entry in
            // Each reviewer sees what they may answer, and what they already answered.
            entry.state != .open || ApprovalInbox.refusal(reviewer, entry) == nil
                || entry.votes.contains { $0.reviewer == reviewer.id }
        }
        return json([
            "reviewer": reviewerJSON(reviewer),
            "approvals": .array(entries.prefix(200).map { approvalJSON($0, for: reviewer) }),
        ])
    }

    func vote(_ request: Request, _ context: ServerContext, approve: Bool) async throws -> Response {
        let reviewer = try credentials.reviewer(request)
        try credentials.requireCSRF(request, reviewer: reviewer)
        let body = try await jsonBody(request, context)
        let note = body["note"]?.stringValue
        if let note, note.utf8.count > 2000 { throw APIError(.badRequest, "the note is longer than 2000 bytes") }
        let id = context.parameters.get("id") ?? ""
        do {
            let entry = try service.inbox.vote(id, reviewer: reviewer, approve: approve, note: note)
            logger.notice(
                "vote",
                metadata: [
                    "approval_id": .string(id), "reviewer": .string(reviewer.id),
                    "verdict": .string(approve ? "approve" : "deny"), "state": .string(entry.state.rawValue),
                ])
            return json(["approval": approvalJSON(entry, for: reviewer)])
        } catch {
            throw APIError(.init(code: error.status), error.description)
        }
    }

    // MARK: - Approval requests from adapters in other processes (the remote `web` channel)

    func openRequest(_ request: Request, _ context: ServerContext) async throws -> Response {
        let requester = try credentials.requireAgent(request, context)
        let body = try await jsonBody(request, context)
        guard let action = body["action"], let envelope = try? ActionEnvelope(json: action) else {
            throw APIError(.badRequest, "\"action\" must be an action envelope")
        }
        // Malformed requirements are refused, never replaced by a laxer default (a quorum of 1.5 is not 1).
        func strings(_ key: String) throws -> [String] {
            guard let value = body[key], !value.isNull else { return [] }
            guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
                throw APIError(.badRequest, "\"\(key)\" must be an array of strings")
            }
            return items.compactMap(\.stringValue)
        }
        var quorum = 1
        if let given = body["quorum"], !given.isNull {
            guard case .int(let n) = given else {
                throw APIError(.badRequest, "\"quorum\" must be a whole number 1…20")
            }
            quorum = Int(clamping: n)
        }
        guard (1...20).contains(quorum) else { throw APIError(.badRequest, "\"quorum\" must be 1…20") }
        let timeout = try seconds(body["timeout"], default: 300, field: "timeout")
        let requirement = ApprovalRequirement(
            quorum: quorum, reviewers: try strings("reviewers"), groups: try strings("groups"), timeoutSeconds: timeout,
            channels: [.web])
        let outcome = PolicyOutcome(
            decision: .ask, ruleID: body["rule"]?.stringValue ?? "remote", reason: body["reason"]?.stringValue ?? "",
            approvals: requirement)
        let approval = ApprovalRequest(
            envelope: envelope, outcome: outcome, requirement: requirement,
            argumentLabels: try strings("argument_labels"))
        let id = "apr_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
        service.inbox.open(id: id, request: approval, requester: requester, timeout: timeout)
        return json(["approval_id": .string(id), "state": "open"])
    }

    func requestState(_ request: Request, _ context: ServerContext) async throws -> Response {
        try credentials.requireAgent(request, context)
        let id = context.parameters.get("id") ?? ""
        let wait = try seconds(
            request.uri.queryParameters["wait"].map { .string(String($0)) }, default: 0, field: "wait")
        let deadline = ContinuousClock.now + .milliseconds(Int64(wait * 1000))
        while true {
            guard let entry = service.inbox.entry(id) else { throw APIError(.notFound, "no such approval request") }
            if entry.state != .open || ContinuousClock.now >= deadline {
                return json([
                    "approval_id": .string(id), "state": .string(entry.state.rawValue),
                    "votes": .array(
                        entry.votes.map {
                            [
                                "reviewer": .string($0.reviewer), "verdict": .string($0.verdict.rawValue),
                                "channel": .string($0.channel), "note": $0.note.map(JSONValue.string) ?? .null,
                            ]
                        }),
                ])
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    // MARK: - JSON

    func decisionJSON(_ record: DecisionService.Record) -> JSONValue {
        guard let decision = record.decision else {
            return [
                "decision_id": .string(record.id), "status": "pending", "approval_id": .string(record.id),
                "action_hash": .string(record.envelope.actionHash),
            ]
        }
        return [
            "decision_id": .string(record.id),
            "status": decision.allowed ? "allowed" : "denied",
            "decision": .string(decision.finalDecision.rawValue),
            "policy_decision": .string(decision.outcome.decision.rawValue),
            "rule": .string(decision.outcome.ruleID), "reason": .string(decision.reason),
            "policy_reason": .string(decision.outcome.reason),
            "session_labels": .array(decision.sessionLabels.map(JSONValue.string)),
            "error": decision.internalError.map(JSONValue.string) ?? .null,
            "receipt": (decision.receipt?.id ?? decision.receiptID).map(JSONValue.string) ?? .null,
            "action_hash": .string(record.envelope.actionHash),
            "argument_labels": .array(decision.argumentLabels.map(JSONValue.string)),
            "approvals": .array(
                decision.approvals.map {
                    [
                        "reviewer": .string($0.reviewer), "verdict": .string($0.verdict.rawValue),
                        "note": $0.note.map(JSONValue.string) ?? .null,
                    ]
                }),
        ]
    }

    func approvalJSON(_ entry: ApprovalInbox.Entry, for reviewer: ReviewerDirectory.Reviewer) -> JSONValue {
        let request = entry.request
        let formatter = ISO8601DateFormatter()
        let redactor = service.gate.previewRedactor
        return [
            "id": .string(entry.id), "state": .string(entry.state.rawValue),
            "created": .string(formatter.string(from: entry.created)),
            "deadline": .string(formatter.string(from: entry.deadline)),
            "preview": .array(request.preview.map { .string(redactor.redact($0)) }),
            "tool": .string(request.envelope.tool), "actor": .string(request.envelope.actor),
            "requester": .string(entry.requester.description),
            "surface": .string(request.envelope.surface),
            "rule": .string(request.outcome.ruleID), "reason": .string(request.outcome.reason),
            "quorum": .int(Int64(request.requirement.quorum)),
            "reviewers": .array(request.requirement.reviewers.map(JSONValue.string)),
            "groups": .array(request.requirement.groups.map(JSONValue.string)),
            "votes": .array(
                entry.votes.map {
                    [
                        "reviewer": .string($0.reviewer), "verdict": .string($0.verdict.rawValue),
                        "note": $0.note.map(JSONValue.string) ?? .null,
                    ]
                }),
            "can_vote": .bool(ApprovalInbox.refusal(reviewer, entry) == nil),
            "refusal": ApprovalInbox.refusal(reviewer, entry).map(JSONValue.string) ?? .null,
        ]
    }

    func reviewerJSON(_ reviewer: ReviewerDirectory.Reviewer) -> JSONValue {
        [
            "id": .string(reviewer.id), "name": .string(reviewer.name),
            "groups": .array(reviewer.groups.map(JSONValue.string)),
        ]
    }

    func jsonBody(_ request: Request, _ context: ServerContext) async throws -> [String: JSONValue] {
        guard request.headers[.contentType]?.hasPrefix("application/json") == true else {
            throw APIError(.unsupportedMediaType, "send the body as application/json")
        }
        let value: JSONValue = try await limits.withBody(
            request, channel: context.channel, maximum: context.maxUploadSize, truncating: false
        ) { data in
            do {
                return try [UInt8](data).withUnsafeBufferPointer { bytes throws(JSONParseError) in
                    try JSONValue.parse(bytes)
                }
            } catch {
                throw APIError(.badRequest, "the body is not valid JSON: \(error)")
            }
        }
        guard case .object(let object) = value else { throw APIError(.badRequest, "the body must be a JSON object") }
        return object
    }

    func seconds(_ value: JSONValue?, default fallback: Double, field: String) throws -> Double {
        guard let value, !value.isNull else { return fallback }
        let seconds: Double?
        switch value {
        case .int(let n): seconds = Double(n)
        case .double(let d): seconds = d
        case .string(let s): seconds = DurationText.seconds(s) ?? Double(s)
        default: seconds = nil
        }
        guard let seconds, seconds >= 0, seconds <= 300 else {
            throw APIError(.badRequest, "\"\(field)\" must be a duration of at most 300s (e.g. 30, \"30s\")")
        }
        return seconds
    }
}

func json(_ value: JSONValue) -> Response {
    Response(
        status: .ok, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(string: CanonicalJSON.string(value))))
}

func asset(_ text: String, _ type: String) -> Response {
    Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: text)))
}
extension Routes {
    /// Event statuses adapters report (`POST /v1/events`); the ledger's own events are never accepted.
    static let adapterEvents: Set<String> = ["session", "descriptors-pinned", "poisoned-suspect"]

    /// See `CallerIdentity.sessionPrefix`.
    static func sessionPrefix(_ context: ServerContext) -> String { context.socketPeer?.sessionPrefix ?? "" }
}
