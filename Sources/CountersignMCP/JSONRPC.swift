import CountersignCore

/// One JSON-RPC 2.0 message as MCP uses it (newline-delimited on stdio).
public enum JSONRPCMessage: Sendable, Equatable {
    case request(id: JSONValue, method: String, params: JSONValue?)
    case notification(method: String, params: JSONValue?)
    case result(id: JSONValue, result: JSONValue)
    case error(id: JSONValue, error: JSONValue)

    /// The message as a JSON object.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["jsonrpc": "2.0"]
        switch self {
        case .request(let id, let method, let params):
            object["id"] = id
            object["method"] = .string(method)
            if let params { object["params"] = params }
        case .notification(let method, let params):
            object["method"] = .string(method)
            if let params { object["params"] = params }
        case .result(let id, let result):
            object["id"] = id
            object["result"] = result
        case .error(let id, let error):
            object["id"] = id
            object["error"] = error
        }
        return .object(object)
    }

    /// Compact JSON text, one line (JSON escapes any newline inside strings).
    public var line: String { CanonicalJSON.string(json) }

    public var method: String? {
        switch self {
        case .request(_, let method, _), .notification(let method, _): method
        default: nil
        }
    }

    public var id: JSONValue? {
        switch self {
        case .request(let id, _, _), .result(let id, _), .error(let id, _): id
        case .notification: nil
        }
    }

    /// Classifies a parsed value. Anything that is not a well-formed message is an `invalidRequest`
    /// error naming the problem (never echoing the payload).
    public init(_ value: JSONValue) throws(JSONRPCError) {
        guard case .object(let object) = value else {
            throw .invalidRequest("a JSON-RPC message must be an object, not \(value.typeName)")
        }
        let id = object["id"]
        // The id is checked first: an error must never echo an id that is not one (JSON-RPC 2.0 §5: null
        // when it cannot be determined).
        if let id, !Self.isValidID(id) {
            throw .invalidRequest("\"id\" must be a string or an integer")
        }
        guard object["jsonrpc"] == .string("2.0") else {
            throw JSONRPCError(code: JSONRPCError.invalidRequestCode, message: "\"jsonrpc\" must be \"2.0\"", id: id)
        }
        if let method = object["method"] {
            guard case .string(let name) = method, !name.isEmpty else {
                throw JSONRPCError(
                    code: JSONRPCError.invalidRequestCode, message: "\"method\" must be a non-empty string", id: id)
            }
            let params = object["params"]
            if let params, params.objectValue == nil && params.arrayValue == nil {
                throw JSONRPCError(
                    code: JSONRPCError.invalidRequestCode, message: "\"params\" must be an object", id: id)
            }
            if let id {
                self = .request(id: id, method: name, params: params)
            } else {
                self = .notification(method: name, params: params)
            }
            return
        }
        switch (object["result"], object["error"]) {
        case (.some(let result), .none):
            guard let id else { throw .invalidRequest("a result needs an \"id\"") }
            self = .result(id: id, result: result)
        case (.none, .some(let error)):
            guard case .object(let fields) = error, case .int = fields["code"], case .string = fields["message"]
            else {
                throw .invalidRequest("\"error\" must be an object with an integer \"code\" and a string \"message\"")
            }
            self = .error(id: id ?? .null, error: error)
        default:
            throw .invalidRequest("a message needs \"method\", or exactly one of \"result\" and \"error\"")
        }
    }

    /// Ids are strings or integers; null is allowed only on error responses, handled above.
    static func isValidID(_ id: JSONValue) -> Bool {
        switch id {
        case .string(let s): s.utf8.count <= 256
        case .int: true
        case .null: true
        default: false
        }
    }
}

/// A JSON-RPC error the proxy answers with. Messages never echo the offending payload.
public struct JSONRPCError: Error, Sendable, Equatable, CustomStringConvertible {
    public static let parseErrorCode: Int64 = -32700
    public static let invalidRequestCode: Int64 = -32600
    public static let methodNotFoundCode: Int64 = -32601
    public static let invalidParamsCode: Int64 = -32602
    public static let internalErrorCode: Int64 = -32603
    /// Implementation-defined codes (-32000…-32019): see docs/mcp-proxy.md.
    public static let blockedCode: Int64 = -32001
    public static let downstreamTimeoutCode: Int64 = -32002
    public static let downstreamFailedCode: Int64 = -32003
    public static let messageTooLargeCode: Int64 = -32004

    public let code: Int64
    public let message: String
    public var data: JSONValue?
    /// The id of the request this answers (null when it could not be read).
    public var id: JSONValue?

    public init(code: Int64, message: String, data: JSONValue? = nil, id: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
        self.id = id
    }

    public static func invalidRequest(_ message: String) -> JSONRPCError {
        JSONRPCError(code: invalidRequestCode, message: "Invalid Request: \(message)")
    }

    public var description: String { "\(code) \(message)" }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["code": .int(code), "message": .string(message)]
        if let data { object["data"] = data }
        return .object(object)
    }

    /// The error response for `id` (null when the request's id is unknown).
    public func response(id: JSONValue? = nil) -> JSONRPCMessage {
        .error(id: id ?? self.id ?? .null, error: json)
    }
}
