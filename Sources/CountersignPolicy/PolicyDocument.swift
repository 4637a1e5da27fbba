import CountersignCore

/// A validated policy file: what it says, with the position of every part, before compilation.
public struct PolicyDocument: Sendable {
    public var path: String
    public var defaultDecision: Decision
    public var defaultDecisionLocation: SourceLocation
    public var registry: LabelRegistry
    public var labelSources: [LabelSourceSpec]
    public var defaultOutputLabels: [String]?
    public var rules: [RuleSpec]
    /// SHA-256 of the file's bytes, recorded with every decision so it can be replayed.
    public var sourceHash: String
}

/// One entry of `rules:`.
public struct RuleSpec: Sendable {
    public var id: String
    public var location: SourceLocation
    public var description: String?
    public var decision: Decision
    public var reason: String?
    public var conditions: [Condition]
    public var approvals: ApprovalRequirement?
}

/// One entry of `labels:`: actions matching `when` produce output with these labels.
public struct LabelSourceSpec: Sendable {
    public var id: String
    public var location: SourceLocation
    public var description: String?
    public var conditions: [Condition]
    public var output: [String]
}

/// One `when:` entry, validated and compiled.
public struct Condition: Sendable {
    public let key: MatcherKey
    public let location: SourceLocation
    /// The value as written (for explanations and lint).
    public let value: JSONValue
    let matchers: [Matcher]
}

/// Who must give the second key for an `ask` rule, and how long they have.
public struct ApprovalRequirement: Sendable, Hashable, Codable {
    /// Distinct reviewers needed.
    public var quorum: Int
    /// Reviewer ids allowed to approve (empty: anyone the channel accepts).
    public var reviewers: [String]
    /// Reviewer groups allowed to approve.
    public var groups: [String]
    /// Seconds before an unanswered request expires (`ask->expired`); nil: the channel's default.
    public var timeoutSeconds: Double?
    /// Channels allowed, in order of preference (empty: any the adapter offers).
    public var channels: [ApprovalChannel]

    /// Whether a person may give this rule's second key: anyone when the rule names no reviewers and no
    /// groups, else a named reviewer or a member of a named group. The one check every channel applies.
    public func admits(reviewer: String, groups memberOf: [String]) -> Bool {
        if reviewers.isEmpty && groups.isEmpty { return true }
        return reviewers.contains(reviewer) || !Set(groups).isDisjoint(with: memberOf)
    }

    public init(
        quorum: Int = 1, reviewers: [String] = [], groups: [String] = [], timeoutSeconds: Double? = nil,
        channels: [ApprovalChannel] = []
    ) {
        self.quorum = quorum
        self.reviewers = reviewers
        self.groups = groups
        self.timeoutSeconds = timeoutSeconds
        self.channels = channels
    }
}

/// Where a second key can come from.
public enum ApprovalChannel: String, Sendable, Hashable, CaseIterable, Codable {
    case tty
    case elicitation
    case web
    case hookNative = "hook-native"
}

/// Durations as policies write them: `90s`, `10m`, `1h30m`, `2d`, or a number of seconds.
public enum DurationText {
    public static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        if let plain = Double(text), plain.isFinite, plain > 0 { return plain }
        var total = 0.0
        var number = ""
        var sawUnit = false
        for c in text {
            if c.isNumber || c == "." {
                number.append(c)
            } else if let unit = units[c], let value = Double(number), value >= 0 {
                total += value * unit
                number = ""
                sawUnit = true
            } else {
                return nil
            }
        }
        guard number.isEmpty, sawUnit, total > 0, total.isFinite else { return nil }
        return total
    }
}
