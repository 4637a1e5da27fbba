import CountersignCore

/// What one agent session has seen: the labels its content carried and where each value came from.
///
/// Tool outputs are recorded with the labels the policy's label sources give them; the user's own
/// prompt is recorded as trusted. A later action's argument is labelled by the values it shares with
/// what was recorded: a remembered value inside the argument, or the argument inside a remembered text.
/// Integrity labels (`untrusted`, `poisoned-suspect`) are dropped for a value the user also typed;
/// confidentiality labels (`secret`, `private`) never are.
public struct SessionState: Sendable, Hashable {
    public let id: String
    public let registry: LabelRegistry
    public let limits: ProvenanceLimits
    /// Every label any recorded content carried (integrity labels are not cleared here: the
    /// content did enter the session).
    public private(set) var labels: LabelSet
    public private(set) var values: ValueIndex

    public init(id: String, registry: LabelRegistry = .standard, limits: ProvenanceLimits = .default) {
        self.id = id
        self.registry = registry
        self.limits = limits
        self.labels = LabelSet()
        self.values = ValueIndex()
    }

    /// Rebuilds a session from stored rows (see `SessionStore`).
    public init(
        id: String, registry: LabelRegistry, limits: ProvenanceLimits = .default, labels: LabelSet,
        values: [ValueIndex.Entry], trustedTexts: [String], unattributed: LabelSet = LabelSet()
    ) {
        self.init(id: id, registry: registry, limits: limits)
        self.labels = labels
        self.values = ValueIndex(entries: values, trustedTexts: trustedTexts, unattributed: unattributed)
    }

    init(
        id: String, registry: LabelRegistry, limits: ProvenanceLimits, labels: LabelSet, values: [ValueIndex.Entry],
        trustedTexts: [String], unattributed: LabelSet, sealed: SealedValues
    ) {
        self.init(id: id, registry: registry, limits: limits)
        self.labels = labels
        self.values = ValueIndex(
            entries: values, trustedTexts: trustedTexts, unattributed: unattributed, sealed: sealed)
    }

    /// Records a tool output (any JSON) with the labels of its source.
    public mutating func recordOutput(_ output: JSONValue, labels outputLabels: LabelSet) {
        labels.formUnion(outputLabels)
        guard !outputLabels.isEmpty else { return }
        let trusted = outputLabels.contains(registry.trustedSet)
        let confidential = outputLabels.intersects(registry.mask(.confidentiality))
        output.forEachString { text in
            values.record(text, labels: outputLabels, trusted: trusted, limits: limits, confidential: confidential)
        }
    }

    /// Records text the user typed (the prompt): trusted provenance for every value in it.
    public mutating func recordTrustedInput(_ text: String) {
        labels.formUnion(registry.trustedSet)
        values.record(text, labels: registry.trustedSet, trusted: true, limits: limits)
    }

    /// Adds labels to the session without values (e.g. a flagged tool descriptor).
    public mutating func addSessionLabels(_ extra: LabelSet) {
        labels.formUnion(extra)
    }

    /// Records content whose values could not be read (an output the agent saw but that could not be
    /// parsed): its labels go to the session and to every later argument, since nobody can tell which
    /// values came from it.
    public mutating func recordUnreadableOutput(labels outputLabels: LabelSet) {
        labels.formUnion(outputLabels)
        values.addUnattributed(outputLabels)
    }

    /// Labels every argument carries because some labelled content could not be remembered value by value
    /// (a bound was reached, or an output could not be read); empty normally.
    public var unattributedLabels: LabelSet { values.unattributed }

    /// The labels of one argument string.
    public func labels(ofArgument text: String) -> LabelSet {
        values.labels(of: text, integrity: registry.mask(.integrity), limits: limits)
    }

    /// The union of the labels of every string (and number) leaf of `value`, and of values found only in
    /// the leaves taken together (one value split across two arguments), in either order.
    public func labels(of value: JSONValue) -> LabelSet {
        guard !values.isEmpty else { return LabelSet() }
        let integrity = registry.mask(.integrity)
        var result = LabelSet()
        var keys: [String] = []
        var texts: [String] = []
        Self.forEachLeafText(value) { text in
            let key = MatchKey.of(text)
            keys.append(key)
            if !values.sealed.isEmpty { texts.append(text) }
            result.formUnion(values.labels(ofKey: key, raw: text, integrity: integrity, limits: limits))
        }
        if keys.count > 1 {
            result.formUnion(values.labels(ofJoined: keys.joined(), integrity: integrity, limits: limits))
            result.formUnion(values.labels(ofJoined: keys.reversed().joined(), integrity: integrity, limits: limits))
            if !values.sealed.isEmpty {
                result.formUnion(values.sealed.labels(of: texts.joined(), integrity: integrity))
                result.formUnion(values.sealed.labels(of: texts.reversed().joined(), integrity: integrity))
            }
        }
        return result
    }

    /// Leaves that can carry a value: strings, and numbers in their JSON spelling (an amount or an
    /// account number can come from untrusted content as easily as a URL).
    static func forEachLeafText(_ value: JSONValue, _ body: (String) -> Void) {
        switch value {
        case .string(let s): body(s)
        case .int(let i): body(String(i))
        case .double(let d): body(ECMAScriptNumber.format(d))
        case .array(let items): for item in items { forEachLeafText(item, body) }
        case .object(let members):
            // Sorted, so that the joined text of an object's leaves does not depend on dictionary order.
            for key in members.keys.sorted() { forEachLeafText(members[key]!, body) }
        case .null, .bool: break
        }
    }
}

/// Bounds on what a session remembers, so a hostile tool output cannot make provenance slow or large.
public struct ProvenanceLimits: Sendable, Hashable {
    /// A remembered value must be at least this long to label an argument that contains it.
    public var minimumValueLength: Int
    /// An argument must be at least this long to be labelled by a remembered text that contains it.
    public var minimumFragmentLength: Int
    /// Tokens (whitespace- and quote-separated words of longer texts) at least this long are remembered too.
    public var minimumTokenLength: Int
    /// At most this many distinct values per session; beyond it, new values' labels are kept for the
    /// whole session (every argument carries them) instead of being forgotten.
    public var maximumEntries: Int
    /// At most this many bytes of remembered text per session, with the same fallback.
    public var maximumBytes: Int

    public init(
        minimumValueLength: Int = 4, minimumFragmentLength: Int = 8, minimumTokenLength: Int = 8,
        maximumEntries: Int = 20_000, maximumBytes: Int = 32 * 1024 * 1024
    ) {
        self.minimumValueLength = minimumValueLength
        self.minimumFragmentLength = minimumFragmentLength
        self.minimumTokenLength = minimumTokenLength
        self.maximumEntries = maximumEntries
        self.maximumBytes = maximumBytes
    }

    public static let `default` = ProvenanceLimits()
}
