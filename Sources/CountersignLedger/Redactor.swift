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
    private let rules: [(NSRegularExpression, String, [String])]

    public init(enabled: Bool = true) {
        self.enabled = enabled
        let secretWords =
            "(?:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|client[_-]?secret|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|session[_-]?token|token|secret|password|passwd|pwd|private[_-]?key)"
        // Each rule runs only when one of its trigger words (lower-case) occurs: most strings skip ICU entirely.
        let patterns: [(String, String, [String])] = [
            (
                "-----BEGIN [A-Z ]*PRIVATE KEY-----[\\s\\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
                "[REDACTED_PRIVATE_KEY]", ["-----begin"]
            ),
            ("(?i)\\b(bearer|basic)\\s+[A-Za-z0-9._~+/=-]{8,}", "$1 [REDACTED]", ["bearer", "basic"]),
            (
                "(?i)([A-Za-z0-9_-]*" + secretWords + ")(\\s*[:=]\\s*)(\"?)[^\\s,;&\"'}]+", "$1$2$3[REDACTED]",
                ["key", "token", "secret", "passw", "pwd"]
            ),
            ("\\bsk-[A-Za-z0-9_-]{10,}", "[REDACTED_TOKEN]", ["sk-"]),
            (
                "\\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\\bgithub_pat_[A-Za-z0-9_]{20,}", "[REDACTED_TOKEN]",
                ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"]
            ),
            ("\\bxox[abposr]-[A-Za-z0-9-]{10,}", "[REDACTED_TOKEN]", ["xox"]),
            ("\\b(?:AKIA|ASIA)[0-9A-Z]{16}\\b", "[REDACTED_TOKEN]", ["akia", "asia"]),
            ("\\beyJ[A-Za-z0-9_-]{10,}\\.[A-Za-z0-9_-]{10,}\\.[A-Za-z0-9_-]{10,}", "[REDACTED_TOKEN]", ["eyj"]),
        ]
        rules = patterns.map { (try! NSRegularExpression(pattern: $0.0), $0.1, $0.2) }
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
        guard enabled, text.utf8.count >= 3 else { return text }
        let lower = String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        var result = text
        for (regex, template, triggers) in rules where triggers.contains(where: { ByteSearch.contains(lower, $0) }) {
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
}
