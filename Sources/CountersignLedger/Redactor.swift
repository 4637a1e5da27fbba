import CountersignCore
import Crypto
import Foundation

/// Removes secrets from everything a receipt stores, before it is hashed, signed or written.
///
/// Covers what DualKey covers (`token=`, `password:`, `Bearer …`, `sk-…`, `ghp_…`, PEM private keys)
/// and what it misses: compound names (`access_token=`, `SecretAccessKey`), quoted values, JSON inside a
/// string, command-line flags, credentials in URLs, `Authorization` and `Cookie` headers, PGP private key
/// blocks, and the token shapes of Stripe, GitHub, GitLab, Slack (tokens and webhooks), Google, AWS, npm,
/// Hugging Face, SendGrid, PyPI and DigitalOcean, plus the values of JSON fields named like secrets.
public struct Redactor: @unchecked Sendable {
    // NSRegularExpression is immutable and thread-safe once built.
    public static let marker = "[REDACTED]"
    public let enabled: Bool
    private let rules: [(NSRegularExpression, String, [String])]
    /// Keys the hashes of anything redaction changed (set by the sealer, derived from its signing key):
    /// a plain SHA-256 of a redacted value would let anyone confirm a guess (`hunter2`) by hashing it.
    private var hashKey: SymmetricKey?
    /// Values known to be secret from where they came from (provenance), whatever their shape.
    private var literals: [String] = []

    public init(enabled: Bool = true) {
        self.enabled = enabled
        let secretWords =
            "(?:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|account[_-]?key|client[_-]?secret|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|session[_-]?token|token|secret|password|passwd|pwd|private[_-]?key)"
        // Each rule runs only when one of its trigger words (lower-case) occurs: most strings skip ICU entirely.
        // The shapes follow the common secret scanners' rule lists (gitleaks and the like).
        let patterns: [(String, String, [String])] = [
            (
                "-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----[\\s\\S]*?(?:-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----|$)",
                "[REDACTED_PRIVATE_KEY]", ["-----begin"]
            ),
            // Credentials in a URL: scheme://user:password@host.
            ("(?i)\\b([a-z][a-z0-9+.-]*://[^/\\s:@]+:)[^@\\s/]+@", "$1[REDACTED]@", ["://"]),
            // Whole header values.
            (
                "(?im)\\b((?:proxy-)?authorization|cookie|set-cookie)(\"?\\s*:\\s*)(\"?)((?:bearer|basic|token|digest|negotiate)\\s+)?[^\\r\\n\"]+",
                "$1$2$3$4[REDACTED]",
                ["authorization", "cookie"]
            ),
            // A credential after an HTTP auth scheme (`Basic` capitalised, so the word in prose is left alone).
            (
                "\\b([Bb]earer|BEARER|Basic|BASIC)\\s+[A-Za-z0-9._~+/=-]{8,}", "$1 [REDACTED]",
                ["bearer", "basic"]
            ),
            // Command-line flags: --password x, --api-key=x.
            (
                "(?i)(--?[A-Za-z0-9_-]*" + secretWords + ")(\\s+|=)(['\"]?)[^\\s'\"]+", "$1$2$3[REDACTED]",
                ["--", "-pass", "-pwd", "-token", "-secret", "-key", "-api"]
            ),
            // key=value, key: value, "key": "value" (also inside a JSON string), PASSWORD='x'.
            (
                "(?i)([A-Za-z0-9_-]*" + secretWords + ")(\\\\?\"?\\s*[:=]\\s*)(\\\\?['\"]?)[^\\s,;&\"'}\\\\]+",
                "$1$2$3[REDACTED]",
                ["key", "token", "secret", "passw", "pwd"]
            ),
            ("\\bsk-[A-Za-z0-9_-]{10,}", "[REDACTED_TOKEN]", ["sk-"]),
            ("\\b[rs]k_(?:live|test)_[A-Za-z0-9]{10,}", "[REDACTED_TOKEN]", ["k_live_", "k_test_"]),
            (
                "\\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\\bgithub_pat_[A-Za-z0-9_]{20,}", "[REDACTED_TOKEN]",
                ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"]
            ),
            ("\\bglpat-[A-Za-z0-9_-]{20,}", "[REDACTED_TOKEN]", ["glpat-"]),
            ("\\bxox[abposr]-[A-Za-z0-9-]{10,}|\\bxapp-[A-Za-z0-9-]{10,}", "[REDACTED_TOKEN]", ["xox", "xapp-"]),
            (
                "(?i)(https://hooks\\.slack\\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+", "$1[REDACTED]",
                ["hooks.slack.com"]
            ),
            ("\\bAIza[0-9A-Za-z_-]{35}", "[REDACTED_TOKEN]", ["aiza"]),
            ("\\b(?:AKIA|ASIA)[0-9A-Z]{16}\\b", "[REDACTED_TOKEN]", ["akia", "asia"]),
            ("\\bnpm_[A-Za-z0-9]{36}\\b", "[REDACTED_TOKEN]", ["npm_"]),
            ("\\bhf_[A-Za-z0-9]{30,}\\b", "[REDACTED_TOKEN]", ["hf_"]),
            ("\\bSG\\.[A-Za-z0-9_-]{16,}\\.[A-Za-z0-9_-]{16,}", "[REDACTED_TOKEN]", ["sg."]),
            ("\\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{20,}", "[REDACTED_TOKEN]", ["pypi-"]),
            ("\\bdop_v1_[a-f0-9]{64}\\b", "[REDACTED_TOKEN]", ["dop_v1_"]),
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

    /// Whether a field's name says its value is a secret, however it is spelled (`SecretAccessKey`,
    /// `x-api-key`, `DB_PASSWORD`): compared without case, `_` and `-`.
    static func isSecretKey(_ key: String) -> Bool {
        let lower = key.lowercased()
        if secretKeys.contains(lower) { return true }
        let squeezed = lower.filter { $0 != "_" && $0 != "-" }
        return [
            "password", "passwd", "secret", "token", "apikey", "accesskey", "secretkey", "accountkey",
            "privatekey", "credential", "credentials", "passphrase",
        ].contains { squeezed.hasSuffix($0) }
    }

    /// This redactor also removing each of `values` (at least 4 characters) wherever it occurs: values the
    /// session traced to secret content, which the shape rules above may not recognise.
    public func addingSecrets(_ values: [String]) -> Redactor {
        var copy = self
        copy.literals += values.filter { $0.count >= 4 }.sorted { $0.count > $1.count }
        return copy
    }

    public func redact(_ text: String) -> String {
        guard enabled else { return text }
        var text = text
        for literal in literals where text.contains(literal) {
            text = text.replacingOccurrences(of: literal, with: "[REDACTED: secret value]")
        }
        guard text.utf8.count >= 3 else { return text }
        let lower = String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        var result = text
        for (regex, template, triggers) in rules where triggers.contains(where: { ByteSearch.contains(lower, $0) }) {
            let range = NSRange(location: 0, length: result.utf16.count)
            result = regex.stringByReplacingMatches(in: result, options: [], range: range, withTemplate: template)
        }
        return result
    }

    /// This redactor with its hashes keyed by a key derived (HKDF-SHA256) from `signingKey`; only the
    /// signer can compute them, so they correlate receipts of one action without revealing it.
    public func keyed(by signingKey: SigningKey) -> Redactor {
        var copy = self
        copy.hashKey = signingKey.derivedKey("countersign keyed hashes v1")
        return copy
    }

    /// The hash of a value that held something redaction removed: `hmac-sha256:` + HMAC-SHA256 of its
    /// RFC 8785 encoding under the signer's derived key; without a key, the SHA-256 of the redacted value
    /// (nothing secret goes in).
    public func protectedHash(_ value: JSONValue) -> String {
        guard let hashKey else { return Digest.canonicalHash(redact(value)) }
        let mac = HMAC<SHA256>.authenticationCode(for: Data(CanonicalJSON.string(value).utf8), using: hashKey)
        return "hmac-sha256:" + Digest.hex(Data(mac))
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
