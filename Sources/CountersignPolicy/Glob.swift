import CountersignCore

/// A compiled shell-style pattern with Python `fnmatch.fnmatchcase` semantics: case-sensitive,
/// `*` matches any run (including `/`), `?` one character, `[seq]` / `[!seq]` a character set.
/// There is no escape character, as in Python.
///
/// Tokens are plain integers into flat byte and range tables, so matching retains nothing.
public struct Glob: Sendable, Hashable {
    struct Op: Sendable, Hashable {
        enum Kind: UInt8, Sendable { case literal, star, any, set, negatedSet }
        let kind: Kind
        /// Literal: offset and length in `bytes`; sets: offset and count in `ranges`.
        let start: Int32
        let count: Int32
    }

    public let pattern: String
    let ops: ContiguousArray<Op>
    let bytes: ContiguousArray<UInt8>
    let ranges: ContiguousArray<ClosedRange<UInt32>>
    /// The pattern has no wildcard: matching is plain equality.
    let exact: String?

    public init(_ pattern: String) {
        self.pattern = pattern
        var ops = ContiguousArray<Op>()
        var bytes = ContiguousArray<UInt8>()
        var ranges = ContiguousArray<ClosedRange<UInt32>>()
        var literalStart = 0
        func flush() {
            if bytes.count > literalStart {
                ops.append(Op(kind: .literal, start: Int32(literalStart), count: Int32(bytes.count - literalStart)))
            }
            literalStart = bytes.count
        }
        let p = Array(pattern.unicodeScalars)
        var i = 0
        while i < p.count {
            let c = p[i]
            i += 1
            switch c {
            case "*":
                flush()
                if ops.last?.kind != .star { ops.append(Op(kind: .star, start: 0, count: 0)) }
            case "?":
                flush()
                ops.append(Op(kind: .any, start: 0, count: 0))
            case "[":
                // Python: find the closing ']' (a ']' right after '[' or '[!' is a member).
                var j = i
                if j < p.count, p[j] == "!" { j += 1 }
                if j < p.count, p[j] == "]" { j += 1 }
                while j < p.count, p[j] != "]" { j += 1 }
                if j >= p.count {
                    bytes.append(contentsOf: "[".utf8)
                    continue
                }
                var body = p[i..<j]
                i = j + 1
                var negated = false
                if body.first == "!" {
                    negated = true
                    body = body.dropFirst()
                }
                flush()
                let first = ranges.count
                var k = body.startIndex
                while k < body.endIndex {
                    if k + 2 < body.endIndex, body[k + 1] == "-" {
                        // Python drops reversed ranges such as z-a.
                        if body[k].value <= body[k + 2].value { ranges.append(body[k].value...body[k + 2].value) }
                        k += 3
                    } else {
                        ranges.append(body[k].value...body[k].value)
                        k += 1
                    }
                }
                ops.append(
                    Op(kind: negated ? .negatedSet : .set, start: Int32(first), count: Int32(ranges.count - first)))
            default:
                bytes.append(contentsOf: String(c).utf8)
            }
        }
        flush()
        self.ops = ops
        self.bytes = bytes
        self.ranges = ranges
        if ops.isEmpty {
            exact = ""
        } else if ops.count == 1, ops[0].kind == .literal {
            exact = pattern
        } else {
            exact = nil
        }
    }

    public func matches(_ text: String) -> Bool {
        if let exact { return ByteSearch.equal(text, exact) }
        var copy = text
        return copy.withUTF8 { s in
            ops.withUnsafeBufferPointer { o in
                bytes.withUnsafeBufferPointer { b in
                    ranges.withUnsafeBufferPointer { r in Self.match(s, o, b, r) }
                }
            }
        }
    }

    /// Whether any of `globs` matches `text`.
    static func any(_ globs: ContiguousArray<Glob>, _ text: String) -> Bool {
        globs.withUnsafeBufferPointer { buffer in
            for index in buffer.indices where buffer[index].matches(text) { return true }
            return false
        }
    }

    private static func match(
        _ s: UnsafeBufferPointer<UInt8>, _ ops: UnsafeBufferPointer<Op>, _ bytes: UnsafeBufferPointer<UInt8>,
        _ ranges: UnsafeBufferPointer<ClosedRange<UInt32>>
    ) -> Bool {
        var ti = 0  // op index
        var si = 0  // byte index in s
        var starOp = -1
        var starPosition = 0
        while true {
            if ti < ops.count {
                let op = ops[ti]
                switch op.kind {
                case .star:
                    starOp = ti
                    starPosition = si
                    ti += 1
                    continue
                case .literal:
                    let start = Int(op.start)
                    let count = Int(op.count)
                    if si + count <= s.count {
                        var equal = true
                        for k in 0..<count where s[si + k] != bytes[start + k] {
                            equal = false
                            break
                        }
                        if equal {
                            si += count
                            ti += 1
                            continue
                        }
                    }
                case .any:
                    if si < s.count {
                        si += scalarLength(s[si])
                        ti += 1
                        continue
                    }
                case .set, .negatedSet:
                    if si < s.count {
                        let (scalar, length) = decode(s, si)
                        var member = false
                        for k in Int(op.start)..<Int(op.start + op.count) where ranges[k].contains(scalar) {
                            member = true
                            break
                        }
                        if member != (op.kind == .negatedSet) {
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
            guard starOp >= 0, starPosition < s.count else { return false }
            starPosition += scalarLength(s[starPosition])
            si = starPosition
            ti = starOp + 1
        }
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
