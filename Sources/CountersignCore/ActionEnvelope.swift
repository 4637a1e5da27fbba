/// One agent action, normalised: what every adapter produces and every policy decides.
///
/// The fields are DualKey's plus `labels`, which an adapter may attach when it already
/// knows where the action's values came from.
public struct ActionEnvelope: Sendable, Hashable {
    public var actor: String
    public var surface: String
    public var tool: String
    public var intent: String
    public var target: String?
    public var args: [String: JSONValue]
    public var risk: [String]
    public var sessionID: String?
    public var traceID: String?
    public var metadata: [String: JSONValue]
    public var labels: [String]
    /// RFC 3339 UTC; not part of `actionHash`, so the receipts of one action share a hash.
    public var createdAt: String

    public init(
        actor: String, surface: String, tool: String, intent: String, target: String? = nil,
        args: [String: JSONValue] = [:], risk: [String] = [], sessionID: String? = nil, traceID: String? = nil,
        metadata: [String: JSONValue] = [:], labels: [String] = [], createdAt: String = Timestamp.now()
    ) {
        self.actor = actor
        self.surface = surface
        self.tool = tool
        self.intent = intent
        self.target = target
        self.args = args
        self.risk = risk
        self.sessionID = sessionID
        self.traceID = traceID
        self.metadata = metadata
        self.labels = labels
        self.createdAt = createdAt
    }

    /// The field names, in the order they are documented and printed.
    public static let fieldNames = [
        "actor", "surface", "tool", "intent", "target", "args", "risk", "session_id", "trace_id", "metadata",
        "labels", "created_at",
    ]

    /// The target as DualKey's `target_*` matchers see it: `target` when non-empty, else `str(args.path)`.
    public var derivedTarget: String {
        if let target, !target.isEmpty { return target }
        if let path = args["path"] { return PythonText.str(path) }
        return ""
    }

    /// The envelope as JSON, every field present (nulls included).
    public var jsonValue: JSONValue {
        var object = hashPayloadObject
        object["created_at"] = .string(createdAt)
        return .object(object)
    }

    /// What `actionHash` hashes: the envelope without `created_at`.
    public var hashPayload: JSONValue { .object(hashPayloadObject) }

    private var hashPayloadObject: [String: JSONValue] {
        [
            "actor": .string(actor), "surface": .string(surface), "tool": .string(tool), "intent": .string(intent),
            "target": target.map(JSONValue.string) ?? .null, "args": .object(args),
            "risk": .array(risk.map(JSONValue.string)), "session_id": sessionID.map(JSONValue.string) ?? .null,
            "trace_id": traceID.map(JSONValue.string) ?? .null, "metadata": .object(metadata),
            "labels": .array(labels.map(JSONValue.string)),
        ]
    }

    /// `sha256:` + hex SHA-256 of the JCS encoding of the envelope without `created_at`.
    public var actionHash: String {
        Digest.canonicalHash(.object(hashPayloadObject))
    }

    /// The lines a human sees before giving a second key (DualKey's preview, plus labels).
    public var previewLines: [String] {
        var lines = ["actor: \(actor)", "surface: \(surface)", "tool: \(tool)", "intent: \(intent)"]
        if let target, !target.isEmpty { lines.append("target: \(target)") }
        if !args.isEmpty { lines.append("args: \(CanonicalJSON.string(.object(args)))") }
        if !risk.isEmpty { lines.append("risk: \(risk.joined(separator: ", "))") }
        if !labels.isEmpty { lines.append("labels: \(labels.joined(separator: ", "))") }
        if let traceID, !traceID.isEmpty { lines.append("trace_id: \(traceID)") }
        return lines
    }
}

/// Why a JSON object is not a valid action envelope.
public struct EnvelopeError: Error, CustomStringConvertible, Sendable, Equatable {
    public let field: String?
    public let message: String
    public var description: String {
        field.map { "action field '\($0)': \(message)" } ?? message
    }
}

extension ActionEnvelope {
    /// Builds an envelope from JSON, refusing anything ambiguous: a missing required field, a
    /// value of the wrong type or an unknown field is an error, never a silent default.
    public init(json: JSONValue) throws(EnvelopeError) {
        guard case .object(let object) = json else {
            throw EnvelopeError(field: nil, message: "an action must be a JSON/YAML object, got \(json.typeName)")
        }
        for key in object.keys where !Self.fieldNames.contains(key) {
            let known = Self.fieldNames.joined(separator: ", ")
            throw EnvelopeError(field: key, message: "unknown field (known fields: \(known))")
        }
        func required(_ key: String) throws(EnvelopeError) -> String {
            switch object[key] {
            case .string(let s)?: return s
            case nil, .null?: throw EnvelopeError(field: key, message: "is required")
            case let other?: throw EnvelopeError(field: key, message: "must be a string, got \(other.typeName)")
            }
        }
        func optional(_ key: String) throws(EnvelopeError) -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            case let other?: throw EnvelopeError(field: key, message: "must be a string or null, got \(other.typeName)")
            }
        }
        func mapping(_ key: String) throws(EnvelopeError) -> [String: JSONValue] {
            switch object[key] {
            case nil, .null?: return [:]
            case .object(let o)?: return o
            case let other?: throw EnvelopeError(field: key, message: "must be a mapping, got \(other.typeName)")
            }
        }
        func strings(_ key: String) throws(EnvelopeError) -> [String] {
            switch object[key] {
            case nil, .null?: return []
            case .string(let s)?: return [s]
            case .array(let items)?:
                var result: [String] = []
                for item in items {
                    guard case .string(let s) = item else {
                        throw EnvelopeError(field: key, message: "must be a list of strings, found \(item.typeName)")
                    }
                    result.append(s)
                }
                return result
            case let other?:
                throw EnvelopeError(field: key, message: "must be a list of strings, got \(other.typeName)")
            }
        }
        let createdAt = try optional("created_at")
        if let createdAt, !Timestamp.isValid(createdAt) {
            throw EnvelopeError(field: "created_at", message: "must be an RFC 3339 date-time, got '\(createdAt)'")
        }
        self.init(
            actor: try required("actor"), surface: try required("surface"), tool: try required("tool"),
            intent: try required("intent"), target: try optional("target"), args: try mapping("args"),
            risk: try strings("risk"), sessionID: try optional("session_id"), traceID: try optional("trace_id"),
            metadata: try mapping("metadata"), labels: try strings("labels"), createdAt: createdAt ?? Timestamp.now())
    }
}
