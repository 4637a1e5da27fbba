import CountersignCore
import Foundation

/// One signed, hash-chained record of a decision, an approval, an outcome or a checkpoint.
///
/// A receipt is a JSON object (docs/receipts.md). `hash` is `sha256:` + the SHA-256 of the RFC 8785
/// encoding of every other field except `signature` — so any field, including ones a future version
/// adds, is covered — and `signature` is the signer's Ed25519 signature over the ASCII bytes of `hash`.
/// `prev` is the previous receipt's `hash`, which makes the log a chain.
public struct Receipt: Sendable, Hashable {
    public static let schema = "countersign.receipt.v1"
    public static let genesis = "sha256:" + String(repeating: "0", count: 64)

    /// The stored object, exactly as hashed and signed.
    public let body: [String: JSONValue]
    /// The canonical text, when already known (sealing produces it; stores write it as is).
    private let text: String?

    public init(body: [String: JSONValue]) {
        self.body = body
        self.text = nil
    }

    init(body: [String: JSONValue], canonicalText: String) {
        self.body = body
        self.text = canonicalText
    }

    public static func == (a: Receipt, b: Receipt) -> Bool { a.body == b.body }
    public func hash(into hasher: inout Hasher) { hasher.combine(body) }

    public var seq: Int64 {
        if case .int(let n)? = body["seq"] { return n }
        return 0
    }
    public var id: String { body["id"]?.stringValue ?? "" }
    public var time: String { body["time"]?.stringValue ?? "" }
    public var kind: String { body["kind"]?.stringValue ?? "" }
    public var status: String { body["status"]?.stringValue ?? "" }
    public var decision: String? { body["decision"]?.stringValue }
    public var sessionID: String? { body["session_id"]?.stringValue }
    public var traceID: String? { body["trace_id"]?.stringValue }
    public var actionHash: String? { body["action_hash"]?.stringValue }
    public var ruleID: String? { body["policy"]?["rule_id"]?.stringValue }
    public var prev: String { body["prev"]?.stringValue ?? "" }
    public var hash: String { body["hash"]?.stringValue ?? "" }
    public var signer: String { body["signer"]?.stringValue ?? "" }
    public var signature: String { body["signature"]?.stringValue ?? "" }
    public var action: JSONValue? { body["action"] }
    public var error: String? { body["error"]?.stringValue }

    /// The canonical text stored on disk (one JSONL line, one SQLite `body` value).
    public var canonicalText: String { text ?? CanonicalJSON.string(.object(body)) }

    /// The hash this receipt's fields produce (compare with `hash` to detect edits).
    public var computedHash: String {
        var hashed = body
        hashed["hash"] = nil
        hashed["signature"] = nil
        return Digest.canonicalHash(.object(hashed))
    }

    /// The hash of a receipt's stored canonical text: the text with its `hash` and `signature` members
    /// cut out. Nil when the text is not in the canonical form Countersign writes.
    public static func hashOfStoredText(_ text: String, hash: String, signature: String) -> String? {
        let hashMember = ",\"hash\":\"\(hash)\""
        let signatureMember = ",\"signature\":\"\(signature)\""
        guard let h = ByteSearch.offset(of: hashMember, in: text),
            let s = ByteSearch.offset(of: signatureMember, in: text),
            h + hashMember.utf8.count <= s
        else { return nil }
        let bytes = Array(text.utf8)
        var hashed = [UInt8]()
        hashed.reserveCapacity(bytes.count)
        hashed += bytes[..<h]
        hashed += bytes[(h + hashMember.utf8.count)..<s]
        hashed += bytes[(s + signatureMember.utf8.count)...]
        return "sha256:" + Digest.sha256Hex(hashed)
    }

    public static func parse(_ text: String) throws -> Receipt {
        guard case .object(let object) = try JSONValue.parse(text) else {
            throw JSONParseError(message: "a receipt must be a JSON object")
        }
        return Receipt(body: object)
    }
}

/// What an adapter or the Gate wants recorded; the ledger adds the chain fields when it appends.
public struct ReceiptDraft: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The policy's decision for an action (after any second key).
        case decision
        /// One reviewer's answer to a second-key request, or its expiry.
        case approval
        /// What happened when the action ran (or that it ran unmediated).
        case outcome
        /// Something an adapter observed that is not an action (an MCP session's identity, a tool
        /// descriptor pinned, changed or flagged); the details are under `event`.
        case event
        /// Written by retention: what was pruned, so the remaining chain still verifies.
        case checkpoint
    }

    public var kind: Kind
    public var status: String
    public var time: String
    public var sessionID: String?
    public var traceID: String?
    public var actionHash: String?
    public var action: JSONValue?
    public var sessionLabels: [String]
    public var argumentLabels: [String]
    public var policy: PolicyReference?
    public var decision: String?
    public var approvals: [ApprovalRecord]
    public var result: ResultRecord?
    public var error: String?
    /// Kind-specific fields (e.g. a checkpoint's pruned range), hashed like the rest.
    public var extra: [String: JSONValue]

    public init(
        kind: Kind, status: String, time: String = Timestamp.now(), sessionID: String? = nil, traceID: String? = nil,
        actionHash: String? = nil, action: JSONValue? = nil, sessionLabels: [String] = [],
        argumentLabels: [String] = [],
        policy: PolicyReference? = nil, decision: String? = nil, approvals: [ApprovalRecord] = [],
        result: ResultRecord? = nil, error: String? = nil, extra: [String: JSONValue] = [:]
    ) {
        self.kind = kind
        self.status = status
        self.time = time
        self.sessionID = sessionID
        self.traceID = traceID
        self.actionHash = actionHash
        self.action = action
        self.sessionLabels = sessionLabels
        self.argumentLabels = argumentLabels
        self.policy = policy
        self.decision = decision
        self.approvals = approvals
        self.result = result
        self.error = error
        self.extra = extra
        // Who asked, as measured by the adapter or the service (a caller cannot set it: see CallerIdentity).
        self.caller = CallerIdentity.current ?? .thisProcess
    }

    /// Who asked for this receipt: uid, gid, pid and isolation (`same-user`, `separate-user`, `remote`).
    public var caller: CallerIdentity

    /// The draft for an action: the envelope redacted. Its `action_hash` is the plain SHA-256 of the
    /// envelope when nothing was redacted (anyone can recompute it from the receipt); when something was,
    /// it is keyed (`hmac-sha256:…`), so the hash cannot confirm a guessed secret.
    public static func forAction(
        _ envelope: ActionEnvelope, kind: Kind, status: String, redactor: Redactor
    ) -> ReceiptDraft {
        let plain = envelope.jsonValue
        let redacted = redactor.redact(plain)
        let hash = redacted == plain ? envelope.actionHash : redactor.protectedHash(envelope.hashPayload)
        return ReceiptDraft(
            kind: kind, status: status, sessionID: envelope.sessionID.map(redactor.redact),
            traceID: envelope.traceID, actionHash: hash, action: redacted)
    }

    /// The fields of the receipt body, without the chain fields.
    func fields(redactor: Redactor) -> [String: JSONValue] {
        func optional(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        var object: [String: JSONValue] = [
            "schema": .string(Receipt.schema), "kind": .string(kind.rawValue), "status": .string(status),
            "time": .string(time), "session_id": optional(sessionID), "trace_id": optional(traceID),
            "action_hash": optional(actionHash), "action": action ?? .null,
            "labels": .object([
                "session": .array(sessionLabels.map(JSONValue.string)),
                "arguments": .array(argumentLabels.map(JSONValue.string)),
            ]),
            "policy": policy?.json ?? .null, "decision": optional(decision),
            "approvals": .array(approvals.map(\.json)), "result": result?.json(redactor: redactor) ?? .null,
            "error": error.map { .string(redactor.redact($0)) } ?? .null,
        ]
        object["caller"] = caller.json
        for (key, value) in extra where object[key] == nil { object[key] = value }
        return object
    }
}

/// Which policy decided, and how — enough to replay the decision.
public struct PolicyReference: Sendable, Hashable {
    public var path: String
    public var sourceHash: String
    public var ruleID: String
    public var decision: Decision
    public var reason: String

    public init(path: String, sourceHash: String, ruleID: String, decision: Decision, reason: String) {
        self.path = path
        self.sourceHash = sourceHash
        self.ruleID = ruleID
        self.decision = decision
        self.reason = reason
    }

    var json: JSONValue {
        .object([
            "path": .string(path), "hash": .string(sourceHash), "rule_id": .string(ruleID),
            "decision": .string(decision.rawValue), "reason": .string(reason),
        ])
    }
}

/// One reviewer's answer to a second-key request.
public struct ApprovalRecord: Sendable, Hashable {
    public enum Verdict: String, Sendable, Hashable { case approve, reject, expire }
    public var reviewer: String
    public var channel: String
    public var verdict: Verdict
    public var time: String
    public var note: String?

    public init(
        reviewer: String, channel: String, verdict: Verdict, time: String = Timestamp.now(), note: String? = nil
    ) {
        self.reviewer = reviewer
        self.channel = channel
        self.verdict = verdict
        self.time = time
        self.note = note
    }

    var json: JSONValue {
        .object([
            "reviewer": .string(reviewer), "channel": .string(channel), "verdict": .string(verdict.rawValue),
            "time": .string(time), "note": note.map(JSONValue.string) ?? .null,
        ])
    }
}

/// What an action returned: its hash, a redacted preview and the labels its output got.
public struct ResultRecord: Sendable, Hashable {
    public static let previewLimit = 240
    public var value: JSONValue
    public var labels: [String]

    public init(value: JSONValue, labels: [String] = []) {
        self.value = value
        self.labels = labels
    }

    func json(redactor: Redactor) -> JSONValue {
        let text: String = {
            if case .string(let s) = value { return s }
            return CanonicalJSON.string(value)
        }()
        let redacted = redactor.redact(text)
        // An output labelled secret is not previewed at all: its words are the secret, whatever their shape.
        var preview = labels.contains("secret") && redactor.enabled ? "[REDACTED: output labelled secret]" : redacted
        if preview.count > Self.previewLimit { preview = String(preview.prefix(Self.previewLimit - 1)) + "…" }
        // An output that held a redacted or secret-labelled value gets a keyed hash: a plain one would
        // confirm a guess at the whole output (`cat password.txt` → `hunter2`).
        let protected = redactor.enabled && (redacted != text || labels.contains("secret"))
        return .object([
            protected ? "hmac_sha256" : "sha256": .string(
                protected ? redactor.protectedHash(value) : Digest.canonicalHash(value)),
            "preview": .string(preview), "labels": .array(labels.map(JSONValue.string)),
        ])
    }
}
