import CountersignCore

/// A compiled shell-style pattern with Python `fnmatch.fnmatchcase` semantics: case-sensitive,
/// `*` matches any run (including `/`), `?` one character, `[seq]` / `[!seq]` a character set.
/// There is no escape character, as in Python.
public struct Glob: Sendable, Hashable {
    enum Token: Sendable, Hashable {
        case literal([UInt8])
        case star
        case any
        case set(ranges: [ClosedRange<UInt32>], negated: Bool)
    }

    public let pattern: String
    let tokens: [Token]
    /// The pattern has no wildcard: matching is plain equality.
    let exact: String?

    public init(_ pattern: String) {
        self.pattern = pattern
        self.tokens = Self.compile(Array(pattern.unicodeScalars))
        if tokens.isEmpty {
            exact = ""
        } else if tokens.count == 1, case .literal = tokens[0] {
            exact = pattern
        } else {
            exact = nil
        }
    }

    private static func compile(_ p: [Unicode.Scalar]) -> [Token] {
        var tokens: [Token] = []
        var literal: [UInt8] = []
        func flush() {
            if !literal.isEmpty { tokens.append(.literal(literal)) }
            literal.removeAll()
        }
        var i = 0
        while i < p.count {
            let c = p[i]
            i += 1
            switch c {
            case "*":
                flush()
                if tokens.last != .star { tokens.append(.star) }
            case "?":
                flush()
                tokens.append(.any)
            case "[":
                // Python: find the closing ']' (a ']' right after '[' or '[!' is a member).
                var j = i
                if j < p.count, p[j] == "!" { j += 1 }
                if j < p.count, p[j] == "]" { j += 1 }
                while j < p.count, p[j] != "]" { j += 1 }
                if j >= p.count {
                    literal.append(contentsOf: Array("[".utf8))
                    continue
                }
                var body = Array(p[i..<j])
                i = j + 1
                var negated = false
                if body.first == "!" {
                    negated = true
                    body.removeFirst()
                }
                var ranges: [ClosedRange<UInt32>] = []
                var k = 0
                while k < body.count {
                    if k + 2 < body.count, body[k + 1] == "-" {
                        // Python drops reversed ranges such as z-a.
                        if body[k].value <= body[k + 2].value { ranges.append(body[k].value...body[k + 2].value) }
                        k += 3
                    } else {
                        ranges.append(body[k].value...body[k].value)
                        k += 1
                    }
                }
                flush()
                tokens.append(.set(ranges: ranges, negated: negated))
            default:
                literal.append(contentsOf: Array(String(c).utf8))
            }
        }
        flush()
        return tokens
    }

    public func matches(_ text: String) -> Bool {
        if let exact { return ByteSearch.equal(text, exact) }
        var copy = text
        return copy.withUTF8 { match($0) }
    }

    private func match(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        var ti = 0  // token index
        var si = 0  // byte index in s
        var starToken = -1
        var starPosition = 0
        while true {
            if ti < tokens.count {
                switch tokens[ti] {
                case .star:
                    starToken = ti
                    starPosition = si
                    ti += 1
                    continue
                case .literal(let bytes):
                    if si + bytes.count <= s.count && Self.equal(s, si, bytes) {
                        si += bytes.count
                        ti += 1
                        continue
                    }
                case .any:
                    if si < s.count {
                        si += Self.scalarLength(s[si])
                        ti += 1
                        continue
                    }
                case .set(let ranges, let negated):
                    if si < s.count {
                        let (scalar, length) = Self.decode(s, si)
                        if ranges.contains(where: { $0.contains(scalar) }) != negated {
                            si += length
                            ti += 1
                            continue
                        }
                    }
                }
            } else if si == s.count {
                return true
            }
            // Mismatch: let the last star take one more character, or fail.
            guard starToken >= 0, starPosition < s.count else { return false }
            starPosition += Self.scalarLength(s[starPosition])
            si = starPosition
            ti = starToken + 1
        }
    }

    private static func equal(_ s: UnsafeBufferPointer<UInt8>, _ at: Int, _ bytes: [UInt8]) -> Bool {
        for (offset, byte) in bytes.enumerated() where s[at + offset] != byte { return false }
        return true
    }

    private static func scalarLength(_ lead: UInt8) -> Int {
        switch lead {
        case 0..<0x80: return 1
        case 0xF0...: return 4
        case 0xE0...: return 3
        case 0xC0...: return 2
        default: return 1
        }
    }

    private static func decode(_ s: UnsafeBufferPointer<UInt8>, _ at: Int) -> (UInt32, Int) {
        let length = min(scalarLength(s[at]), s.count - at)
        if length == 1 { return (UInt32(s[at]), 1) }
        var value = UInt32(s[at]) & (0xFF >> UInt32(length + 1))
        for k in 1..<length { value = (value << 6) | (UInt32(s[at + k]) & 0x3F) }
        return (value, length)
    }
}
