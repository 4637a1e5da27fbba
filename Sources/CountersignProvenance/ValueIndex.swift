import CountersignCore

/// The remembered values of one session, each with the union of its sources' labels and whether
/// a trusted source (the user) also supplied it.
public struct ValueIndex: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public let text: String
        public var labels: LabelSet
        /// The user supplied this value too (typed it, or it occurs in what they typed).
        public var trusted: Bool

        public init(text: String, labels: LabelSet, trusted: Bool) {
            self.text = text
            self.labels = labels
            self.trusted = trusted
        }
    }

    public private(set) var entries: [Entry] = []
    private var positions: [String: Int] = [:]
    /// Texts from trusted sources, kept whole so a fragment of them counts as typed by the user.
    public private(set) var trustedTexts: [String] = []

    public init() {}

    init(entries: [Entry], trustedTexts: [String]) {
        self.entries = entries
        self.trustedTexts = trustedTexts
        positions = Dictionary(entries.enumerated().map { ($1.text, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    /// Remembers a text and its tokens.
    mutating func record(_ raw: String, labels: LabelSet, trusted: Bool, limits: ProvenanceLimits) {
        let text = Self.cut(raw.trimmingASCIIWhitespace(), to: limits.maximumTextLength)
        guard text.utf8.count >= limits.minimumValueLength else { return }
        if trusted {
            trustedTexts.append(text)
            // Values seen earlier that the user also typed are trusted from now on.
            for index in entries.indices where !entries[index].trusted {
                if ByteSearch.contains(text, entries[index].text) { entries[index].trusted = true }
            }
        }
        add(text, labels: labels, trusted: trusted, limits: limits)
        for token in Self.tokens(of: text, minimumLength: limits.minimumTokenLength) where token != text {
            add(token, labels: labels, trusted: trusted, limits: limits)
        }
    }

    private mutating func add(_ text: String, labels: LabelSet, trusted: Bool, limits: ProvenanceLimits) {
        let typedByUser = trusted || trustedTexts.contains { ByteSearch.contains($0, text) }
        if let index = positions[text] {
            entries[index].labels.formUnion(labels)
            entries[index].trusted = entries[index].trusted || typedByUser
            return
        }
        if entries.count >= limits.maximumEntries { forgetOldest() }
        positions[text] = entries.count
        entries.append(Entry(text: text, labels: labels, trusted: typedByUser))
    }

    private mutating func forgetOldest() {
        let drop = max(1, entries.count / 10)
        entries.removeFirst(drop)
        positions = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.text, $0) })
    }

    /// The labels an argument string inherits.
    func labels(of argument: String, integrity: LabelSet, limits: ProvenanceLimits) -> LabelSet {
        let length = argument.utf8.count
        guard length > 0, !entries.isEmpty else { return LabelSet() }
        var result = LabelSet()
        var argumentTyped: Bool?  // computed on first need
        for entry in entries {
            let entryLength = entry.text.utf8.count
            if entryLength >= limits.minimumValueLength, entryLength <= length,
                ByteSearch.contains(argument, entry.text)
            {
                // A remembered value inside the argument: clear integrity if the user supplied that value.
                result.formUnion(entry.trusted ? entry.labels.subtracting(integrity) : entry.labels)
            } else if length >= limits.minimumFragmentLength, entryLength > length,
                ByteSearch.contains(entry.text, argument)
            {
                // The argument is a piece of a remembered text: clear integrity if the user typed that
                // piece, or typed every distinctive word of it (a command wrapped around their URL).
                if argumentTyped == nil {
                    argumentTyped =
                        trustedTexts.contains { ByteSearch.contains($0, argument) }
                        || typedEveryToken(of: argument, limits: limits)
                }
                result.formUnion(argumentTyped! ? entry.labels.subtracting(integrity) : entry.labels)
            }
        }
        return result
    }

    private func typedEveryToken(of argument: String, limits: ProvenanceLimits) -> Bool {
        let tokens = Self.tokens(of: argument, minimumLength: limits.minimumTokenLength)
        return !tokens.isEmpty
            && tokens.allSatisfy { token in trustedTexts.contains { ByteSearch.contains($0, token) } }
    }

    /// Words of a text, split on whitespace, quotes, brackets and the `=`/`&` of `key=value` pairs,
    /// with surrounding punctuation trimmed.
    static func tokens(of text: String, minimumLength: Int) -> [String] {
        var tokens: [String] = []
        let separators: Set<UInt8> = Set(" \t\r\n\"'`<>()[]{}|;,=&".utf8)
        let trimmed: Set<UInt8> = Set(".:!?*".utf8)
        var current: [UInt8] = []
        func flush() {
            var slice = current[...]
            while let f = slice.first, trimmed.contains(f) { slice = slice.dropFirst() }
            while let l = slice.last, trimmed.contains(l) { slice = slice.dropLast() }
            if slice.count >= minimumLength { tokens.append(String(decoding: slice, as: UTF8.self)) }
            current.removeAll(keepingCapacity: true)
        }
        for byte in text.utf8 {
            if separators.contains(byte) { flush() } else { current.append(byte) }
        }
        flush()
        return tokens
    }

    static func cut(_ text: String, to limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var end = text.utf8.index(text.utf8.startIndex, offsetBy: limit)
        while end > text.startIndex, end.samePosition(in: text.unicodeScalars) == nil {
            end = text.utf8.index(before: end)
        }
        return String(text[..<end])
    }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        let bytes = utf8
        guard let first = bytes.firstIndex(where: { !Self.isSpace($0) }) else { return "" }
        let last = bytes.lastIndex(where: { !Self.isSpace($0) })!
        if first == bytes.startIndex && bytes.index(after: last) == bytes.endIndex { return self }
        return String(self[first...last])
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
}
