/// Information-flow labels and label sets.
///
/// A `LabelSet` is a 64-bit set so matching labels on the decision path costs a few instructions.
/// Bit positions come from a `LabelRegistry`: the built-in labels always hold bits 0–5, and the
/// labels a policy declares take the next ones.
public struct LabelSet: Sendable, Hashable {
    public var bits: UInt64

    public init(bits: UInt64 = 0) { self.bits = bits }

    public static let empty = LabelSet()

    public var isEmpty: Bool { bits == 0 }
    public func contains(_ other: LabelSet) -> Bool { bits & other.bits == other.bits }
    public func intersects(_ other: LabelSet) -> Bool { bits & other.bits != 0 }
    public func union(_ other: LabelSet) -> LabelSet { LabelSet(bits: bits | other.bits) }
    public func subtracting(_ other: LabelSet) -> LabelSet { LabelSet(bits: bits & ~other.bits) }
    public mutating func formUnion(_ other: LabelSet) { bits |= other.bits }
    public mutating func subtract(_ other: LabelSet) { bits &= ~other.bits }

    /// Bit positions that are set, in ascending order.
    public var indices: [Int] {
        (0..<64).filter { bits & (1 << UInt64($0)) != 0 }
    }
}

/// What a label says about a value, which decides whether trusted input may clear it.
public enum LabelKind: String, Sendable, Hashable {
    /// Where a value came from (`untrusted`, `poisoned-suspect`): cleared when the user also typed the value.
    case integrity
    /// What a value is (`secret`, `private`): never cleared.
    case confidentiality
    /// Neither: `trusted` and `external` only describe the origin.
    case origin
}

/// The label names a policy may use, and their bit positions.
public struct LabelRegistry: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public let name: String
        public let kind: LabelKind
        public let builtIn: Bool
    }

    public static let trusted = "trusted"
    public static let untrusted = "untrusted"
    public static let external = "external"
    public static let `private` = "private"
    public static let secret = "secret"
    public static let poisonedSuspect = "poisoned-suspect"

    public static let builtIns: [Entry] = [
        Entry(name: trusted, kind: .origin, builtIn: true),
        Entry(name: untrusted, kind: .integrity, builtIn: true),
        Entry(name: external, kind: .origin, builtIn: true),
        Entry(name: `private`, kind: .confidentiality, builtIn: true),
        Entry(name: secret, kind: .confidentiality, builtIn: true),
        Entry(name: poisonedSuspect, kind: .integrity, builtIn: true),
    ]

    /// The most labels one registry can hold.
    public static let capacity = 64

    public private(set) var entries: [Entry]
    private var positions: [String: Int]

    public init() {
        entries = Self.builtIns
        positions = Dictionary(uniqueKeysWithValues: Self.builtIns.enumerated().map { ($1.name, $0) })
    }

    public static let standard = LabelRegistry()

    /// Adds a declared label; returns false when the name exists or the registry is full.
    @discardableResult
    public mutating func declare(_ name: String, kind: LabelKind) -> Bool {
        guard positions[name] == nil, entries.count < Self.capacity else { return false }
        positions[name] = entries.count
        entries.append(Entry(name: name, kind: kind, builtIn: false))
        return true
    }

    public func isKnown(_ name: String) -> Bool { positions[name] != nil }

    public var names: [String] { entries.map(\.name) }

    public func set(_ name: String) -> LabelSet? {
        positions[name].map { LabelSet(bits: 1 << UInt64($0)) }
    }

    /// The set of the known names among `names`; unknown names are ignored.
    public func set(_ names: some Sequence<String>) -> LabelSet {
        var result = LabelSet()
        for name in names {
            if let bit = set(name) { result.formUnion(bit) }
        }
        return result
    }

    public func names(_ set: LabelSet) -> [String] {
        set.indices.compactMap { $0 < entries.count ? entries[$0].name : nil }
    }

    /// Every label of the given kind.
    public func mask(_ kind: LabelKind) -> LabelSet {
        var result = LabelSet()
        for (index, entry) in entries.enumerated() where entry.kind == kind {
            result.bits |= 1 << UInt64(index)
        }
        return result
    }

    public var trustedSet: LabelSet { LabelSet(bits: 1) }

    /// Whether `name` is spelled like a label: lower-case letters, digits, `-` and `_`.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy {
                ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F
            }
    }
}
