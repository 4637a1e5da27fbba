import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import CountersignSignerClient
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The signer service as a `GateService`: an adapter started with `--signer` decides and records through
/// it and loads no policy, opens no ledger and holds no key. The service decides, records, and keeps the
/// session state, so the output labels an outcome reports are what its later decisions see.
///
/// Order matters for provenance: an outcome (its output's labels) must reach the service before any later
/// decision. Outcomes and events go out one at a time, in order; a decision first waits until every
/// outcome submitted before it was answered. If the service cannot be reached, or answers late, every
/// decision is a deny naming the address (fail closed), and a lost outcome is reported.
public final class RemoteGate: GateService, @unchecked Sendable {
    public let address: SignerAddress
    public let defaultApprovalTimeout: Double
    let client: SignerHTTP
    let token: String?
    /// Outcomes and events, in submission order.
    let writes = DispatchQueue(label: "countersign.remote-gate.writes")
    /// Blocking requests run here, off Swift's cooperative threads.
    let requests = DispatchQueue(label: "countersign.remote-gate.requests", attributes: .concurrent)
    /// Called with what could not be recorded (the proxy writes it to its log).
    let report: @Sendable (String) -> Void

    public init(
        address: SignerAddress, timeout: Double = 30, defaultApprovalTimeout: Double = 300, token: String? = nil,
        report: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.address = address
        self.client = SignerHTTP(address: address, timeout: timeout)
        self.defaultApprovalTimeout = defaultApprovalTimeout
        self.token = token
        self.report = report
    }

    var headers: [(String, String)] {
        guard let token, !token.isEmpty else { return [] }
        return [("Authorization", "Bearer \(token)")]
    }

    // MARK: - Deciding

    /// Never at once: the decision is the service's, and it answers after its receipt is committed.
    public func decideSubmitting(_ envelope: ActionEnvelope) -> GateDecision? { nil }

    public func decide(_ envelope: ActionEnvelope, mode: DecisionMode) async -> GateDecision {
        await withCheckedContinuation { continuation in
            requests.async {
                self.writes.sync {}  // every outcome submitted before this decision has been answered
                continuation.resume(returning: self.decideNow(envelope, mode: mode))
            }
        }
    }

    func decideNow(_ envelope: ActionEnvelope, mode: DecisionMode) -> GateDecision {
        // A second key comes from the service's own reviewers; the adapter's channels run as the agent's
        // user, so they are not offered. `.deferAsk` leaves it to the agent's own dialog, as embedded.
        var body: [String: JSONValue] = ["action": envelope.jsonValue, "wait": 25]
        if case .deferAsk = mode { body["mode"] = "defer_ask" }
        let deadline = Date().addingTimeInterval(defaultApprovalTimeout + 60)
        do {
            var answer = try call("/v1/decide", body: .object(body))
            while answer["status"]?.stringValue == "pending" {
                guard Date() < deadline, let id = answer["decision_id"]?.stringValue, Self.isPlainID(id) else {
                    return failed(envelope, "the signer at \(address) did not settle the ask in time")
                }
                answer = try call("/v1/decisions/\(id)?wait=25", body: nil)
            }
            return try decision(envelope, from: answer)
        } catch {
            return failed(envelope, "\(error)")
        }
    }

    static func isPlainID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 64 && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    func decision(_ envelope: ActionEnvelope, from answer: [String: JSONValue]) throws -> GateDecision {
        guard let final = answer["decision"]?.stringValue.flatMap(FinalDecision.init(rawValue:)),
            let policyDecision = answer["policy_decision"]?.stringValue.flatMap(Decision.init(rawValue:)),
            let rule = answer["rule"]?.stringValue
        else {
            throw SignerError("the signer at \(address) answered a decision without its fields")
        }
        let strings: (String) -> [String] = { key in (answer[key]?.arrayValue ?? []).compactMap(\.stringValue) }
        let approvals = (answer["approvals"]?.arrayValue ?? []).compactMap { vote -> ApprovalRecord? in
            guard let reviewer = vote["reviewer"]?.stringValue,
                let verdict = vote["verdict"]?.stringValue.flatMap(ApprovalRecord.Verdict.init(rawValue:))
            else { return nil }
            return ApprovalRecord(
                reviewer: reviewer, channel: "signer", verdict: verdict, note: vote["note"]?.stringValue)
        }
        let receiptID = answer["receipt"]?.stringValue
        var internalError = answer["error"]?.stringValue
        if receiptID == nil && internalError == nil {
            internalError = "the signer at \(address) recorded no receipt for this decision"
        }
        var decision = GateDecision(
            envelope: envelope,
            outcome: PolicyOutcome(
                decision: policyDecision, ruleID: rule,
                reason: answer["policy_reason"]?.stringValue ?? answer["reason"]?.stringValue ?? ""),
            finalDecision: internalError == nil ? final : .deny, reason: answer["reason"]?.stringValue ?? "",
            approvals: approvals, sessionLabels: strings("session_labels"), argumentLabels: strings("argument_labels"),
            receipt: nil, internalError: internalError)
        decision.receiptID = receiptID
        decision.decisionID = answer["decision_id"]?.stringValue
        return decision
    }

    func failed(_ envelope: ActionEnvelope, _ reason: String) -> GateDecision {
        GateDecision(
            envelope: envelope,
            outcome: PolicyOutcome(decision: .deny, ruleID: "countersign:signer-unavailable", reason: reason),
            finalDecision: .deny, reason: reason, approvals: [], sessionLabels: [], argumentLabels: [], receipt: nil,
            internalError: reason)
    }

    // MARK: - Recording

    public func submitOutcome(
        of decision: GateDecision, status: String, result: JSONValue?, error: String?
    ) throws -> CommitTicket {
        guard let id = decision.decisionID else {
            throw SignerError("this decision was not made by the signer at \(address): its outcome cannot be recorded")
        }
        var body: [String: JSONValue] = ["decision_id": .string(id), "status": .string(status)]
        if let result { body["result"] = result }
        if let error { body["error"] = .string(error) }
        return submit("/v1/outcome", .object(body), what: "the outcome of \(decision.envelope.tool)")
    }

    public func submitEvent(sessionID: String?, status: String, fields: [String: JSONValue]) -> CommitTicket {
        submit(
            "/v1/events",
            [
                "session_id": sessionID.map(JSONValue.string) ?? .null, "status": .string(status),
                "fields": .object(fields),
            ],
            what: "a \(status) event")
    }

    func submit(_ path: String, _ body: JSONValue, what: String) -> CommitTicket {
        let ticket = CommitTicket()
        writes.async {
            do {
                _ = try self.call(path, body: body)
                ticket.finish(.success([]))
            } catch {
                self.report("could not record \(what): \(error)")
                ticket.finish(.failure(error))
            }
        }
        return ticket
    }

    public func receipts(_ query: ReceiptQuery) async throws -> [Receipt] {
        var parameters: [String] = []
        for (key, value) in [
            ("trace_id", query.traceID), ("session_id", query.sessionID), ("status", query.status),
            ("decision", query.decision), ("rule_id", query.ruleID), ("kind", query.kind),
        ] {
            if let value { parameters.append("\(key)=\(Self.escaped(value))") }
        }
        parameters.append("limit=\(min(query.limit ?? 100, 1000))")
        let path = "/v1/receipts?" + parameters.joined(separator: "&")
        let answer = try await blocking { try self.call(path, body: nil) }
        return (answer["receipts"]?.arrayValue ?? []).compactMap { $0.objectValue.map(Receipt.init(body:)) }
    }

    public func verify() async throws -> JSONValue {
        .object(try await blocking { try self.call("/v1/verify", body: nil) })
    }

    public func flush() async {
        await withCheckedContinuation { continuation in writes.async { continuation.resume() } }
    }

    /// Descriptor pins kept by the service.
    public func checkPin(server: String, kind: String, name: String, hash: String) throws -> [String: JSONValue] {
        try call(
            "/v1/pins/check",
            body: ["server": .string(server), "kind": .string(kind), "name": .string(name), "hash": .string(hash)])
    }

    // MARK: - Transport

    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            requests.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// One request; the JSON object answered, or an error naming the address and what went wrong.
    func call(_ path: String, body: JSONValue?) throws -> [String: JSONValue] {
        let response =
            address.needsTLS
            ? try tlsCall(path, body: body)
            : try body.map { try client.post(path, body: Array(CanonicalJSON.string($0).utf8), headers: headers) }
                ?? client.get(path, headers: headers)
        let parsed = try? JSONValue.parse(Data(response.body))
        guard (200..<300).contains(response.status), case .object(let object)? = parsed else {
            let message = parsed?["error"]?.stringValue ?? String(decoding: response.body.prefix(300), as: UTF8.self)
            throw SignerError("the signer at \(address) answered HTTP \(response.status): \(message)")
        }
        return object
    }

    /// An `https://` signer, through Foundation's URL loading (which has TLS; the C-library client does not).
    func tlsCall(_ path: String, body: JSONValue?) throws -> SignerHTTP.Response {
        guard let text = address.url(path), let url = URL(string: text) else {
            throw SignerError("the signer at \(address): \(path) is not a URL")
        }
        var request = URLRequest(url: url, timeoutInterval: client.timeout)
        request.httpMethod = body == nil ? "GET" : "POST"
        if let body {
            request.httpBody = Data(CanonicalJSON.string(body).utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let box = TLSAnswer()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            box.set(data: data, status: (response as? HTTPURLResponse)?.statusCode, error: error)
            done.signal()
        }.resume()
        done.wait()
        guard let status = box.status else {
            throw SignerError("the signer at \(address) is unreachable: \(box.error.map { "\($0)" } ?? "no answer")")
        }
        return SignerHTTP.Response(status: status, headers: [], body: [UInt8](box.data ?? Data()))
    }

    static func escaped(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }
}

/// The answer of one TLS request, handed from URLSession's thread to the waiting one.
final class TLSAnswer: @unchecked Sendable {
    // Written once before the semaphore is signalled, read after it was waited for.
    private(set) var data: Data?
    private(set) var status: Int?
    private(set) var error: (any Error)?

    func set(data: Data?, status: Int?, error: (any Error)?) {
        self.data = data
        self.status = status
        self.error = error
    }
}
