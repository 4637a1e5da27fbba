import Foundation

/// Codable conformance: numbers without a fraction or exponent that fit in 64 bits stay integers.
extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? container.decode(Double.self) {
            self = .double(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else if let o = try? container.decode([String: JSONValue].self) {
            self = .object(o)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .double(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

/// Errors of JSON text parsing, with a message a person can act on.
public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}

extension JSONValue {
    /// Parses JSON text. Throws `JSONParseError` for malformed input; never traps.
    public static func parse(_ data: Data) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch let error as DecodingError {
            throw JSONParseError(message: "invalid JSON: \(Self.describe(error))")
        } catch {
            throw JSONParseError(message: "invalid JSON: \(error)")
        }
    }

    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Data(text.utf8))
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context):
            if let underlying = context.underlyingError as NSError? {
                return underlying.userInfo[NSDebugDescriptionErrorKey] as? String ?? context.debugDescription
            }
            return context.debugDescription
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context):
            return context.debugDescription
        @unknown default:
            return "\(error)"
        }
    }

    /// Compact JSON text with sorted keys (the canonical form, see `CanonicalJSON`).
    public var jsonText: String { CanonicalJSON.string(self) }
}
