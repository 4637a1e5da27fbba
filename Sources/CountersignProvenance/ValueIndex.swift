import CountersignCore

/// The remembered values of one session, each with the union of its sources' labels and whether
/// a trusted source (the user) also supplied it.
///
/// Values are remembered and compared by their `MatchKey` (percent-decoded, NFKC, case-folded, letters
/// and digits only), whole and word by word, however long the output was. Nothing is ever forgotten
/// silently: when a bound is reached, the labels of what could not be remembered become `unattributed` —
/// labels every later argument of the session carries — so reaching a bound makes the session stricter,
/// never laxer.
public struct ValueIndex: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        /// The value's match key (not its original spelling).
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
    /// Match keys of texts from trusted sources, kept whole so a fragment of them counts as typed by the user.
    public private(set) var trustedTexts: [String] = []
    /// Labels of content that could not be remembered value by value (a bound was reached, or an output
    /// could not be read): every argument of the session carries them.
    public private(set) var unattributed = LabelSet()
    /// Bytes of match keys held, for `ProvenanceLimits.maximumBytes`.
    private var bytes = 0
    /// Secret values read back from the store, known only by keyed digest (see `ValueSealer`).
    var sealed = SealedValues()

    public init() {}

    init(
        entries: [Entry], trustedTexts: [String], unattributed: LabelSet = LabelSet(),
        sealed: SealedValues = SealedValues()
    ) {
        self.sealed = sealed
        self.entries = entries
        self.trustedTexts = trustedTexts
        self.unattributed = unattributed
        positions = Dictionary(entries.enumerated().map { ($1.text, $0) }, uniquingKeysWith: { first, _ in first })
        bytes = entries.reduce(0) { $0 + $1.text.utf8.count } + trustedTexts.reduce(0) { $0 + $1.utf8.count }
    }

    public var isEmpty: Bool { entries.isEmpty && unattributed.isEmpty && sealed.isEmpty }
    public var count: Int { entries.count }

    /// Remembers a text and its words.
    mutating func record(
        _ raw: String, labels: LabelSet, trusted: Bool, limits: ProvenanceLimits, confidential: Bool = false
    ) {
        let key = MatchKey.of(raw)
        guard key.utf8.count >= limits.minimumValueLength else { return }
        if trusted {
            if bytes + key.utf8.count > limits.maximumBytes { return }  // integrity simply is not cleared
            bytes += key.utf8.count
            trustedTexts.append(key)
            // Values seen earlier that the user also typed are trusted from now on.
            for index in entries.indices where !entries[index].trusted {
                if ByteSearch.contains(key, entries[index].text) { entries[index].trusted = true }
            }
        }
        add(key, labels: labels, trusted: trusted, limits: limits)
        // Words of secret (confidentiality-labelled) output are remembered down to the shortest value
        // length: a seven-letter password must not leave because it is short.
        let wordLength = confidential ? limits.minimumValueLength : limits.minimumTokenLength
        for token in Self.tokens(of: raw, minimumLength: wordLength) {
            let tokenKey = MatchKey.of(token)
            if tokenKey != key, tokenKey.utf8.count >= limits.minimumValueLength {
                add(tokenKey, labels: labels, trusted: trusted, limits: limits)
            }
        }
    }

    /// Labels that every argument of the session carries from now on.
    mutating func addUnattributed(_ labels: LabelSet) {
        unattributed.formUnion(labels)
    }

    private mutating func add(_ key: String, labels: LabelSet, trusted: Bool, limits: ProvenanceLimits) {
        let typedByUser = trusted || trustedTexts.contains { ByteSearch.contains($0, key) }
        if let index = positions[key] {
            entries[index].labels.formUnion(labels)
            entries[index].trusted = entries[index].trusted || typedByUser
            return
        }
        guard entries.count < limits.maximumEntries, bytes + key.utf8.count <= limits.maximumBytes else {
            // Full: keep the labels for the whole session instead of the value (fail closed).
            if !trusted { unattributed.formUnion(labels) }
            return
        }
        bytes += key.utf8.count
        positions[key] = entries.count
        entries.append(Entry(text: key, labels: labels, trusted: typedByUser))
    }

    /// The labels an argument string inherits.
    func labels(of argument: String, integrity: LabelSet, limits: ProvenanceLimits) -> LabelSet {
        labels(ofKey: MatchKey.of(argument), raw: argument, integrity: integrity, limits: limits)
    }

    func labels(ofKey key: String, raw: String, integrity: LabelSet, limits: ProvenanceLimits) -> LabelSet {
        var result = unattributed
        if !sealed.isEmpty { result.formUnion(sealed.labels(of: raw, integrity: integrity)) }
        let length = key.utf8.count
        guard length > 0, !entries.isEmpty else { return result }
        var argumentTyped: Bool?  // computed on first need
        for entry in entries {
            let entryLength = entry.text.utf8.count
            if entryLength >= limits.minimumValueLength, entryLength <= length, ByteSearch.contains(key, entry.text) {
                // A remembered value inside the argument: clear integrity if the user supplied that value.
                result.formUnion(entry.trusted ? entry.labels.subtracting(integrity) : entry.labels)
            } else if length >= limits.minimumFragmentLength, entryLength > length, ByteSearch.contains(entry.text, key)
            {
                // The argument is a piece of a remembered text: clear integrity if the user typed that
                // piece, or typed every distinctive word of it (a command wrapped around their URL).
                if argumentTyped == nil {
                    argumentTyped =
                        trustedTexts.contains { ByteSearch.contains($0, key) }
                        || typedEveryWord(of: raw, limits: limits)
                }
                result.formUnion(argumentTyped! ? entry.labels.subtracting(integrity) : entry.labels)
            }
        }
        return result
    }

    /// Labels of remembered values found only in several arguments taken together (a value split across
    /// two arguments): `joined` is the arguments' keys concatenated.
    func labels(ofJoined joined: String, integrity: LabelSet, limits: ProvenanceLimits) -> LabelSet {
        var result = LabelSet()
        let length = joined.utf8.count
        for entry in entries {
            let entryLength = entry.text.utf8.count
            if entryLength >= limits.minimumFragmentLength, entryLength <= length,
                ByteSearch.contains(joined, entry.text)
            {
                result.formUnion(entry.trusted ? entry.labels.subtracting(integrity) : entry.labels)
            }
        }
        return result
    }

    private func typedEveryWord(of raw: String, limits: ProvenanceLimits) -> Bool {
        let keys = Self.tokens(of: raw, minimumLength: limits.minimumTokenLength).map(MatchKey.of)
            .filter { $0.utf8.count >= limits.minimumValueLength }
        return !keys.isEmpty && keys.allSatisfy { key in trustedTexts.contains { ByteSearch.contains($0, key) } }
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
}
