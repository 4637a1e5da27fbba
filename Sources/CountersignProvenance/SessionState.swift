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
        values: [ValueIndex.Entry], trustedTexts: [String]
    ) {
        self.init(id: id, registry: registry, limits: limits)
        self.labels = labels
        self.values = ValueIndex(entries: values, trustedTexts: trustedTexts)
    }

    /// Records a tool output (any JSON) with the labels of its source.
    public mutating func recordOutput(_ output: JSONValue, labels outputLabels: LabelSet) {
        labels.formUnion(outputLabels)
        guard !outputLabels.isEmpty else { return }
        let trusted = outputLabels.contains(registry.trustedSet)
        output.forEachString { text in
            values.record(text, labels: outputLabels, trusted: trusted, limits: limits)
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

    /// The labels of one argument string.
    public func labels(ofArgument text: String) -> LabelSet {
        values.labels(of: text, integrity: registry.mask(.integrity), limits: limits)
    }

    /// The union of the labels of every string (and number) leaf of `value`.
    public func labels(of value: JSONValue) -> LabelSet {
        guard !values.isEmpty else { return LabelSet() }
        let integrity = registry.mask(.integrity)
        var result = LabelSet()
        Self.forEachLeafText(value) { text in
            result.formUnion(values.labels(of: text, integrity: integrity, limits: limits))
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
        case .object(let members): for (_, item) in members { forEachLeafText(item, body) }
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
    /// Texts longer than this are cut before they are remembered.
    public var maximumTextLength: Int
    /// At most this many distinct values per session; the oldest are forgotten first.
    public var maximumEntries: Int

    public init(
        minimumValueLength: Int = 4, minimumFragmentLength: Int = 8, minimumTokenLength: Int = 8,
        maximumTextLength: Int = 65_536, maximumEntries: Int = 20_000
    ) {
        self.minimumValueLength = minimumValueLength
        self.minimumFragmentLength = minimumFragmentLength
        self.minimumTokenLength = minimumTokenLength
        self.maximumTextLength = maximumTextLength
        self.maximumEntries = maximumEntries
    }

    public static let `default` = ProvenanceLimits()
}
