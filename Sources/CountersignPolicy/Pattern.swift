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
    /// Every match contains one of these (nil: no prefilter).
    let requiredLiterals: [String]?

    public init(_ source: String) throws(PatternError) {
        self.source = source
        let translated = Self.translate(source)
        do {
            regex = try NSRegularExpression(pattern: translated, options: [])
        } catch {
            throw PatternError(message: "invalid regular expression '\(source)': \(Self.reason(translated))")
        }
        requiredLiterals = Self.requiredLiterals(source)
    }

    /// How long one search may run before it counts as a fault.
    public static let timeLimit: Duration = .milliseconds(100)

    /// The result of one search: a fault is an engine error (ICU's backtrack stack overflowing on a long
    /// input) or a search that ran past `timeLimit`.
    public enum SearchResult: Sendable, Equatable {
        case match
        case noMatch
        case fault(String)
    }

    /// Searches; a fault counts as `faultMeans` (fail closed: a deny or ask rule matches, an allow rule does
    /// not) and is added to `faults` so the decision can say so.
    public func search(_ text: String, faultMeans: Bool, faults: inout [String]) -> Bool {
        switch searchResult(text) {
        case .match: return true
        case .noMatch: return false
        case .fault(let why):
            faults.append("regex \(PythonText.repr(source)) \(why) on \(text.utf8.count) bytes")
            return faultMeans
        }
    }

    /// Whether the pattern matches; a fault counts as no match (use the other overload on a decision path).
    public func search(_ text: String) -> Bool { searchResult(text) == .match }

    public func searchResult(_ text: String) -> SearchResult {
        if let requiredLiterals, !requiredLiterals.contains(where: { ByteSearch.contains(text, $0) }) {
            return .noMatch
        }
        let range = NSRange(location: 0, length: text.utf16.count)
        let deadline = ContinuousClock.now + Self.timeLimit
        var result = SearchResult.noMatch
        var progressCalls = 0
        regex.enumerateMatches(in: text, options: [.reportProgress, .reportCompletion], range: range) {
            match, flags, stop in
            if match != nil {
                result = .match
                stop.pointee = true
            } else if flags.contains(.internalError) {
                result = .fault("failed inside the regular-expression engine")
                stop.pointee = true
            } else if flags.contains(.progress) {
                // ICU reports progress very often: look at the clock every 64th time.
                progressCalls &+= 1
                if progressCalls & 63 == 0, ContinuousClock.now > deadline {
                    result = .fault("ran longer than \(Self.timeLimit)")
                    stop.pointee = true
                }
            }
        }
        return result
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

    /// Literals one of which every match must contain, or nil when none can be found (inline flags,
    /// a branch with no literal). Handles top-level alternation (`a|b`) and required groups.
    static func requiredLiterals(_ source: String) -> [String]? {
        if source.contains("(?") && !source.contains("(?:") { return nil }
        if source.contains("(?i") || source.contains("(?x") || source.contains("(?s") || source.contains("(?m") {
            return nil
        }
        return literals(Array(source.unicodeScalars)[...])
    }

    private static func literals(_ p: ArraySlice<Unicode.Scalar>) -> [String]? {
        let branches = splitTopLevel(p)
        if branches.count > 1 {
            var union: [String] = []
            for branch in branches {
                guard let set = literals(branch) else { return nil }
                union += set
            }
            return union
        }
        var candidates: [[String]] = []
        var current = ""
        func flush() {
            if current.utf8.count >= 2 { candidates.append([current]) }
            current = ""
        }
        func quantified(_ next: Int) -> (optional: Bool, repeated: Bool) {
            guard next < p.endIndex else { return (false, false) }
            switch p[next] {
            case "?", "*", "{": return (true, false)
            case "+": return (false, true)
            default: return (false, false)
            }
        }
        var i = p.startIndex
        while i < p.endIndex {
            let c = p[i]
            switch c {
            case "(":
                flush()
                guard let close = matchingParen(p, i) else { return nil }
                var body = p[(i + 1)..<close]
                if body.starts(with: ["?", ":"]) { body = body.dropFirst(2) }
                if !quantified(close + 1).optional, body.first != "?", let set = literals(body), !set.isEmpty {
                    candidates.append(set)
                }
                i = close + 1
            case "[":
                flush()
                var j = i + 1
                if j < p.endIndex, p[j] == "^" { j += 1 }
                if j < p.endIndex, p[j] == "]" { j += 1 }
                while j < p.endIndex, p[j] != "]" { j += p[j] == "\\" ? 2 : 1 }
                i = j + 1
            case "\\":
                guard i + 1 < p.endIndex else { return nil }
                let escaped = p[i + 1]
                if escaped.properties.isAlphabetic || escaped.properties.numericType != nil {
                    flush()
                } else {
                    let q = quantified(i + 2)
                    if q.optional { flush() } else { current.unicodeScalars.append(escaped) }
                    if q.repeated { flush() }
                }
                i += 2
            case "{":
                // A repetition count: skip it whole (its digits are not literals).
                flush()
                while i < p.endIndex, p[i] != "}" { i += 1 }
                i += 1
            case ".", "^", "$", "*", "+", "?", "}", ")", "|":
                flush()
                i += 1
            default:
                let q = quantified(i + 1)
                if q.optional { flush() } else { current.unicodeScalars.append(c) }
                if q.repeated { flush() }
                i += 1
            }
        }
        flush()
        // The candidate whose shortest literal is longest filters best.
        return candidates.max { a, b in
            (a.map(\.utf8.count).min() ?? 0) < (b.map(\.utf8.count).min() ?? 0)
        }
    }

    private static func splitTopLevel(_ p: ArraySlice<Unicode.Scalar>) -> [ArraySlice<Unicode.Scalar>] {
        var branches: [ArraySlice<Unicode.Scalar>] = []
        var start = p.startIndex
        scanStructure(p, from: p.startIndex) { i, c, depth in
            if c == "|" && depth == 0 {
                branches.append(p[start..<i])
                start = i + 1
            }
            return true
        }
        branches.append(p[start..<p.endIndex])
        return branches
    }

    private static func matchingParen(_ p: ArraySlice<Unicode.Scalar>, _ open: Int) -> Int? {
        var close: Int?
        scanStructure(p, from: open) { i, c, depth in
            if c == ")" && depth == 1 { close = i }
            return close == nil
        }
        return close
    }

    /// Walks the pattern's structural characters — skipping escapes and character classes (where a `]`
    /// first is a member) — with the group depth before each; `body` returns false to stop.
    private static func scanStructure(
        _ p: ArraySlice<Unicode.Scalar>, from start: Int, _ body: (Int, Unicode.Scalar, Int) -> Bool
    ) {
        var depth = 0
        var i = start
        var inClass = false
        while i < p.endIndex {
            let c = p[i]
            if c == "\\" {
                i += 2
                continue
            }
            if inClass {
                if c == "]" { inClass = false }
            } else if c == "[" {
                inClass = true
                if i + 1 < p.endIndex, p[i + 1] == "^" { i += 1 }
                if i + 1 < p.endIndex, p[i + 1] == "]" { i += 1 }
            } else {
                guard body(i, c, depth) else { return }
                if c == "(" { depth += 1 }
                if c == ")" { depth -= 1 }
            }
            i += 1
        }
    }
}

public struct PatternError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
