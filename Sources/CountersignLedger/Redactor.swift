import CountersignCore
import Foundation

/// Removes secrets from everything a receipt stores, before it is hashed, signed or written.
///
/// Covers what DualKey covers (`token=`, `password:`, `Bearer …`, `sk-…`, `ghp_…`, PEM private keys)
/// and what it misses: `access_token=` and other compound names, `sk-proj-…`/`sk-live-…` keys,
/// GitHub, Slack and AWS key shapes, and the values of JSON fields named like secrets.
public struct Redactor: @unchecked Sendable {
    // NSRegularExpression is immutable and thread-safe once built.
    public static let marker = "[REDACTED]"
    public let enabled: Bool
    private let rules: [(NSRegularExpression, String)]

    public init(enabled: Bool = true) {
        self.enabled = enabled
        let secretWords =
            "(?:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|client[_-]?secret|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|session[_-]?token|token|secret|password|passwd|pwd|private[_-]?key)"
        let patterns: [(String, String)] = [
            (
                "-----BEGIN [A-Z ]*PRIVATE KEY-----[\\s\\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
                "[REDACTED_PRIVATE_KEY]"
            ),
            ("(?i)\\b(bearer|basic)\\s+[A-Za-z0-9._~+/=-]{8,}", "$1 [REDACTED]"),
            ("(?i)([A-Za-z0-9_-]*" + secretWords + ")(\\s*[:=]\\s*)(\"?)[^\\s,;&\"'}]+", "$1$2$3[REDACTED]"),
            ("\\bsk-[A-Za-z0-9_-]{10,}", "[REDACTED_TOKEN]"),
            ("\\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\\bgithub_pat_[A-Za-z0-9_]{20,}", "[REDACTED_TOKEN]"),
            ("\\bxox[abposr]-[A-Za-z0-9-]{10,}", "[REDACTED_TOKEN]"),
            ("\\b(?:AKIA|ASIA)[0-9A-Z]{16}\\b", "[REDACTED_TOKEN]"),
            ("\\beyJ[A-Za-z0-9_-]{10,}\\.[A-Za-z0-9_-]{10,}\\.[A-Za-z0-9_-]{10,}", "[REDACTED_TOKEN]"),
        ]
        rules = patterns.map { (try! NSRegularExpression(pattern: $0.0), $0.1) }
    }

    /// Field names whose whole value is a secret.
    static let secretKeys: Set<String> = [
        "password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "api-key", "access_token", "refresh_token",
        "authorization", "client_secret", "private_key", "secret_key", "access_key", "session_token", "cookie",
        "x-api-key",
    ]

    static func isSecretKey(_ key: String) -> Bool {
        let lower = key.lowercased()
        if secretKeys.contains(lower) { return true }
        return lower.hasSuffix("_token") || lower.hasSuffix("_secret") || lower.hasSuffix("_password")
            || lower.hasSuffix("-token") || lower.hasSuffix("_api_key")
    }

    public func redact(_ text: String) -> String {
        guard enabled, Self.mightHoldSecret(text) else { return text }
        var result = text
        for (regex, template) in rules {
            let range = NSRange(location: 0, length: result.utf16.count)
            result = regex.stringByReplacingMatches(in: result, options: [], range: range, withTemplate: template)
        }
        return result
    }

    public func redact(_ value: JSONValue) -> JSONValue {
        guard enabled else { return value }
        switch value {
        case .string(let s): return .string(redact(s))
        case .array(let items): return .array(items.map { redact($0) })
        case .object(let members):
            var out: [String: JSONValue] = [:]
            for (key, item) in members {
                if Self.isSecretKey(key), !item.isNull, item.objectValue == nil, item.arrayValue == nil {
                    out[key] = .string(Self.marker)
                } else {
                    out[key] = redact(item)
                }
            }
            return .object(out)
        default: return value
        }
    }

    /// A fast byte scan that lets most strings skip the regexes.
    static func mightHoldSecret(_ text: String) -> Bool {
        var sawDelimiter = false
        var previous: UInt8 = 0
        for byte in text.utf8 {
            switch byte {
            case 0x3D, 0x3A: sawDelimiter = true  // '=' ':'
            case 0x2D where previous == 0x6B || previous == 0x4B: return true  // "k-" (sk-)
            case 0x5F
            where previous == 0x70 || previous == 0x6F || previous == 0x75 || previous == 0x73 || previous == 0x72:
                return true  // gh?_
            case 0x2D where previous == 0x2D: return true  // "--" (PEM)
            case 0x78: if previous == 0x6F { return true }  // "ox" (xox)
            case 0x49: if previous == 0x4B { return true }  // "KI" (AKIA)
            case 0x4A: if previous == 0x79 { return true }  // "yJ" (JWT)
            case 0x20 where previous == 0x72 || previous == 0x63: return true  // "bearer " / "basic "
            default: break
            }
            previous = byte
        }
        return sawDelimiter
    }
}
