import CountersignCore
import Foundation

/// A compiled regular expression written in Python `re` syntax, searched unanchored (Python's
/// `re.search`), as DualKey does.
///
/// Patterns are compiled once at load time, so an invalid one is a load error with its position,
/// never a failure in the middle of a decision. A literal every match must contain (e.g. `-rf` in
/// `(^|\s)rm\s+-rf(\s|$)`) is found at compile time and checked first with a byte search, so most
/// values never reach the regex engine.
public struct Pattern: @unchecked Sendable {
    // NSRegularExpression is immutable after creation and documented thread-safe.
    let regex: NSRegularExpression
    public let source: String
    let requiredLiteral: String?

    public init(_ source: String) throws(PatternError) {
        self.source = source
        let translated = Self.translate(source)
        do {
            regex = try NSRegularExpression(pattern: translated, options: [])
        } catch {
            throw PatternError(message: "invalid regular expression '\(source)': \(Self.reason(translated))")
        }
        requiredLiteral = Self.requiredLiteral(source)
    }

    public func search(_ text: String) -> Bool {
        if let requiredLiteral, !ByteSearch.contains(text, requiredLiteral) { return false }
        let range = NSRange(location: 0, length: text.utf16.count)
        return regex.firstMatch(in: text, options: [], range: range) != nil
    }

    /// ICU only says "invalid pattern"; Swift's regex parser says what is wrong and where.
    private static func reason(_ pattern: String) -> String {
        do {
            _ = try Regex(pattern)
        } catch {
            return "\(error)"
        }
        return "the pattern is not valid ICU regular-expression syntax"
    }

    /// Python spellings that ICU writes differently: named groups `(?P<n>…)`, back-references
    /// `(?P=n)`, and `\Z` (end of text).
    static func translate(_ source: String) -> String {
        var out = ""
        let chars = Array(source)
        var i = 0
        var inClass = false
        while i < chars.count {
            let c = chars[i]
            if c == "\\", i + 1 < chars.count {
                let next = chars[i + 1]
                if next == "Z" && !inClass {
                    out += "\\z"
                } else {
                    out.append(c)
                    out.append(next)
                }
                i += 2
                continue
            }
            if inClass {
                if c == "]" { inClass = false }
                out.append(c)
                i += 1
                continue
            }
            if c == "[" {
                inClass = true
                out.append(c)
                i += 1
                // A ']' first in a class is a member.
                if i < chars.count, chars[i] == "^" {
                    out.append("^")
                    i += 1
                }
                if i < chars.count, chars[i] == "]" {
                    out += "\\]"
                    i += 1
                }
                continue
            }
            if c == "(", i + 2 < chars.count, chars[i + 1] == "?", chars[i + 2] == "P" {
                if i + 3 < chars.count, chars[i + 3] == "<" {
                    out += "(?<"
                    i += 4
                    continue
                }
                if i + 3 < chars.count, chars[i + 3] == "=", let close = chars[(i + 4)...].firstIndex(of: ")") {
                    out += "\\k<" + String(chars[(i + 4)..<close]) + ">"
                    i = close + 1
                    continue
                }
            }
            out.append(c)
            i += 1
        }
        return out
    }

    /// The longest literal run at the top level of the pattern that every match must contain, or
    /// nil when the pattern has top-level alternation, inline flags or nothing usable.
    static func requiredLiteral(_ source: String) -> String? {
        let chars = Array(source.unicodeScalars)
        if source.contains("(?") { return nil }
        var runs: [String] = []
        var current = ""
        var depth = 0
        var i = 0
        func flush() {
            if !current.isEmpty { runs.append(current) }
            current = ""
        }
        func dropLastIfQuantified(_ next: Int) {
            guard next < chars.count else { return }
            if chars[next] == "?" || chars[next] == "*" || chars[next] == "{" {
                if !current.isEmpty { current.unicodeScalars.removeLast() }
                flush()
            } else if chars[next] == "+" {
                flush()
            }
        }
        while i < chars.count {
            let c = chars[i]
            if depth > 0 {
                if c == "\\" {
                    i += 2
                    continue
                }
                if c == "(" { depth += 1 }
                if c == ")" { depth -= 1 }
                i += 1
                if depth == 0 { flush() }
                continue
            }
            switch c {
            case "|":
                return nil
            case "(":
                flush()
                depth = 1
                i += 1
            case "[":
                flush()
                var j = i + 1
                if j < chars.count, chars[j] == "^" { j += 1 }
                if j < chars.count, chars[j] == "]" { j += 1 }
                while j < chars.count, chars[j] != "]" {
                    if chars[j] == "\\" { j += 1 }
                    j += 1
                }
                i = j + 1
            case "\\":
                guard i + 1 < chars.count else { return nil }
                let escaped = chars[i + 1]
                let isLiteral = !(escaped.properties.isAlphabetic || escaped.properties.numericType != nil)
                if isLiteral {
                    current.unicodeScalars.append(escaped)
                    dropLastIfQuantified(i + 2)
                } else {
                    flush()
                }
                i += 2
            case ".", "^", "$", "*", "+", "?", "{", "}", ")":
                flush()
                i += 1
            default:
                current.unicodeScalars.append(c)
                dropLastIfQuantified(i + 1)
                i += 1
            }
        }
        flush()
        let best = runs.max { $0.utf8.count < $1.utf8.count }
        return (best?.utf8.count ?? 0) >= 2 ? best : nil
    }
}

public struct PatternError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
