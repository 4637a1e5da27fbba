/// Every key a rule's (or label source's) `when:` accepts, in the fixed order they are checked —
/// DualKey's order first, then Countersign's label matchers.
public enum MatcherKey: String, CaseIterable, Sendable, Hashable, Comparable {
    case actor, surface, tool, intent
    case actorGlob = "actor_glob"
    case surfaceGlob = "surface_glob"
    case toolGlob = "tool_glob"
    case intentGlob = "intent_glob"
    case targetPrefix = "target_prefix"
    case targetGlob = "target_glob"
    case targetRegex = "target_regex"
    case toolIn = "tool_in"
    case tagsAny = "tags_any"
    case tagsAll = "tags_all"
    case tagsNone = "tags_none"
    case commandMatches = "command_matches"
    case argEquals = "arg_equals"
    case argPrefix = "arg_prefix"
    case argContains = "arg_contains"
    case argGlob = "arg_glob"
    case argRegex = "arg_regex"
    case argExists = "arg_exists"
    case metadataEquals = "metadata_equals"
    case metadataContains = "metadata_contains"
    case metadataGlob = "metadata_glob"
    case metadataRegex = "metadata_regex"
    case metadataExists = "metadata_exists"
    case sessionLabelsAny = "session_labels_any"
    case sessionLabelsAll = "session_labels_all"
    case sessionLabelsNone = "session_labels_none"
    case argsLabelsAny = "args_labels_any"
    case argsLabelsAll = "args_labels_all"
    case argsLabelsNone = "args_labels_none"
    case argLabels = "arg_labels"

    public static func < (a: MatcherKey, b: MatcherKey) -> Bool { a.order < b.order }

    var order: Int { Self.allCases.firstIndex(of: self)! }

    public static var names: [String] { allCases.map(\.rawValue) }

    /// The shape of value the key takes.
    enum Shape {
        /// One string.
        case string
        /// A string or a list of strings.
        case list
        /// A mapping from dotted path to a value.
        case pathMap
        /// A mapping from dotted path to a string or list of strings.
        case pathMapOfLists
        /// A path or a list of paths.
        case paths
        /// A label or a list of labels.
        case labels
        /// A mapping from dotted path to a label or list of labels.
        case pathMapOfLabels
    }

    var shape: Shape {
        switch self {
        case .actor, .surface, .tool, .intent, .targetPrefix: return .string
        case .actorGlob, .surfaceGlob, .toolGlob, .intentGlob, .targetGlob, .targetRegex, .toolIn, .tagsAny,
            .tagsAll, .tagsNone, .commandMatches:
            return .list
        case .argEquals, .metadataEquals: return .pathMap
        case .argPrefix, .argContains, .argGlob, .argRegex, .metadataContains, .metadataGlob, .metadataRegex:
            return .pathMapOfLists
        case .argExists, .metadataExists: return .paths
        case .sessionLabelsAny, .sessionLabelsAll, .sessionLabelsNone, .argsLabelsAny, .argsLabelsAll,
            .argsLabelsNone:
            return .labels
        case .argLabels: return .pathMapOfLabels
        }
    }

    /// Keys whose empty list can never match (an any-of over nothing).
    var emptyListNeverMatches: Bool {
        switch self {
        case .actorGlob, .surfaceGlob, .toolGlob, .intentGlob, .targetGlob, .targetRegex, .toolIn, .tagsAny,
            .commandMatches, .sessionLabelsAny, .argsLabelsAny:
            return true
        default: return false
        }
    }
}
