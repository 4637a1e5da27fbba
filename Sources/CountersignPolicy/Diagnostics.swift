/// Where something is in a source file: `file:line:column`, 1-based.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`, or the file alone when the finding is about the whole file (line 0: it is missing
    /// or unreadable), so a missing policy does not read like an error at a position.
    public var description: String { line > 0 ? "\(file):\(line):\(column)" : file }
}

/// One finding about a policy or fixture file: an error that stops it loading, or a lint warning.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable { case error, warning }

    public let severity: Severity
    public let location: SourceLocation
    public let message: String
    public let hint: String?

    public init(_ severity: Severity, _ location: SourceLocation, _ message: String, hint: String? = nil) {
        self.severity = severity
        self.location = location
        self.message = message
        self.hint = hint
    }

    /// `file:line:column: error: message` and, on the next line, `  hint: ...`.
    public var description: String {
        var text = "\(location): \(severity.rawValue): \(message)"
        if let hint { text += "\n  hint: \(hint)" }
        return text
    }
}

/// A policy or fixture file that cannot be used, with every error found in it.
public struct PolicyLoadError: Error, Sendable, CustomStringConvertible {
    public let diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    public init(_ location: SourceLocation, _ message: String, hint: String? = nil) {
        self.diagnostics = [Diagnostic(.error, location, message, hint: hint)]
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// The known word closest to a misspelt one, for "did you mean" hints.
enum Suggestion {
    static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(word, candidate)
            if distance <= max(2, candidate.count / 3), distance < (best?.1 ?? .max) { best = (candidate, distance) }
        }
        return best?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var previous = Array(0...y.count)
        var current = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            current[0] = i
            for j in 1...y.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[y.count]
    }

    static func hint(for word: String, in candidates: [String], kind: String) -> String {
        if let match = closest(to: word, in: candidates) {
            return "did you mean '\(match)'? Known \(kind): \(candidates.joined(separator: ", "))"
        }
        return "known \(kind): \(candidates.joined(separator: ", "))"
    }
}
