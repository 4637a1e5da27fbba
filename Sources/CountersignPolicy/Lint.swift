import CountersignCore

/// Warnings about a policy that loads but probably does not say what its author meant:
/// rules shadowed by an earlier rule, rules that can never match, a default that fails open.
public enum PolicyLint {
    public static func check(_ policy: Policy) -> [Diagnostic] {
        let document = policy.document
        var warnings: [Diagnostic] = []
        func warn(_ location: SourceLocation, _ message: String, hint: String? = nil) {
            warnings.append(Diagnostic(.warning, location, message, hint: hint))
        }
        if document.defaultDecision == .allow {
            warn(
                document.defaultDecisionLocation, "default_decision is allow: any action no rule names is allowed",
                hint: "fail closed with 'ask' or 'deny' and allow what you know")
        }
        for (index, rule) in document.rules.enumerated() {
            if let reason = neverMatches(rule.conditions) {
                warn(rule.location, "rule '\(rule.id)' can never match: \(reason)")
                continue
            }
            if let earlier = document.rules[..<index].first(where: { covers($0.conditions, rule.conditions) }) {
                let same = earlier.decision == rule.decision
                warn(
                    rule.location,
                    "rule '\(rule.id)' is shadowed by rule '\(earlier.id)' (line \(earlier.location.line)), which matches every action it matches",
                    hint: same
                        ? "remove it, or make '\(earlier.id)' narrower"
                        : "first match wins: move '\(rule.id)' (\(rule.decision.rawValue)) above '\(earlier.id)' (\(earlier.decision.rawValue))"
                )
            }
        }
        for source in document.labelSources {
            if let reason = neverMatches(source.conditions) {
                warn(source.location, "label source '\(source.id)' can never match: \(reason)")
            }
        }
        return warnings
    }

    /// Why a rule with these conditions can never match, or nil.
    static func neverMatches(_ conditions: [Condition]) -> String? {
        var byKey: [MatcherKey: JSONValue] = [:]
        for condition in conditions {
            byKey[condition.key] = condition.value
            if condition.key.emptyListNeverMatches, condition.value.arrayValue?.isEmpty == true {
                return "\(condition.key.rawValue) is an empty list"
            }
            if let mapping = condition.value.objectValue,
                condition.key.shape == .pathMapOfLists || condition.key.shape == .pathMapOfLabels
            {
                for (path, value) in mapping where value.arrayValue?.isEmpty == true {
                    return "\(condition.key.rawValue).\(path) is an empty list"
                }
            }
        }
        let fields: [(MatcherKey, MatcherKey)] = [
            (.actor, .actorGlob), (.surface, .surfaceGlob), (.tool, .toolGlob), (.intent, .intentGlob),
        ]
        for (exact, glob) in fields {
            if let value = byKey[exact]?.stringValue, let patterns = byKey[glob].map(strings),
                !patterns.contains(where: { Glob($0).matches(value) })
            {
                return "\(exact.rawValue) '\(value)' matches none of \(glob.rawValue) \(PythonText.repr(patterns))"
            }
        }
        if let tool = byKey[.tool]?.stringValue, let tools = byKey[.toolIn].map(strings), !tools.contains(tool) {
            return "tool '\(tool)' is not in tool_in \(PythonText.repr(tools))"
        }
        let pairs: [(MatcherKey, MatcherKey, MatcherKey)] = [
            (.tagsAll, .tagsAny, .tagsNone), (.sessionLabelsAll, .sessionLabelsAny, .sessionLabelsNone),
            (.argsLabelsAll, .argsLabelsAny, .argsLabelsNone),
        ]
        for (all, any, none) in pairs {
            guard let forbidden = byKey[none].map(strings).map(Set.init) else { continue }
            if let required = byKey[all].map(strings), let clash = required.first(where: forbidden.contains) {
                return "\(all.rawValue) requires '\(clash)' but \(none.rawValue) forbids it"
            }
            if let options = byKey[any].map(strings), !options.isEmpty, options.allSatisfy(forbidden.contains) {
                return "every label of \(any.rawValue) is forbidden by \(none.rawValue)"
            }
        }
        return nil
    }

    /// Whether every action matching `later` also matches `earlier` (conservative: false when unsure).
    static func covers(_ earlier: [Condition], _ later: [Condition]) -> Bool {
        let laterByKey = Dictionary(later.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        return earlier.allSatisfy { implied($0.key, $0.value, by: laterByKey) }
    }

    static func implied(_ key: MatcherKey, _ value: JSONValue, by later: [MatcherKey: JSONValue]) -> Bool {
        if let same = later[key], same == value { return true }
        let globOf: [MatcherKey: MatcherKey] = [
            .actorGlob: .actor, .surfaceGlob: .surface, .toolGlob: .tool, .intentGlob: .intent,
        ]
        switch key {
        case .actorGlob, .surfaceGlob, .toolGlob, .intentGlob:
            let patterns = strings(value).map(Glob.init)
            if let exact = later[globOf[key]!]?.stringValue { return patterns.contains { $0.matches(exact) } }
            if key == .toolGlob, let tools = later[.toolIn].map(strings) {
                return tools.allSatisfy { t in patterns.contains { $0.matches(t) } }
            }
            if let narrower = later[key].map(strings) { return Set(narrower).isSubset(of: Set(strings(value))) }
            return false
        case .toolIn:
            let tools = Set(strings(value))
            if let exact = later[.tool]?.stringValue { return tools.contains(exact) }
            if let narrower = later[.toolIn].map(strings) { return Set(narrower).isSubset(of: tools) }
            return false
        case .tagsAny, .sessionLabelsAny, .argsLabelsAny, .commandMatches, .targetGlob:
            if let narrower = later[key].map(strings) {
                return !narrower.isEmpty && Set(narrower).isSubset(of: Set(strings(value)))
            }
            let allKey: [MatcherKey: MatcherKey] = [
                .tagsAny: .tagsAll, .sessionLabelsAny: .sessionLabelsAll, .argsLabelsAny: .argsLabelsAll,
            ]
            if let all = allKey[key], let required = later[all].map(strings) {
                return !Set(required).isDisjoint(with: strings(value))
            }
            return false
        case .tagsAll, .sessionLabelsAll, .argsLabelsAll, .tagsNone, .sessionLabelsNone, .argsLabelsNone:
            if let wider = later[key].map(strings) { return Set(strings(value)).isSubset(of: Set(wider)) }
            return false
        case .targetPrefix:
            guard let prefix = value.stringValue, let narrower = later[.targetPrefix]?.stringValue else { return false }
            return narrower.hasPrefix(prefix)
        case .argEquals, .argPrefix, .argContains, .argGlob, .argRegex, .metadataEquals, .metadataContains,
            .metadataGlob,
            .metadataRegex, .argLabels:
            guard let mine = value.objectValue, let theirs = later[key]?.objectValue else { return false }
            return mine.allSatisfy { path, expected in theirs[path] == expected }
        case .argExists, .metadataExists:
            guard let theirs = later[key].map(strings) else { return false }
            return Set(strings(value)).isSubset(of: Set(theirs))
        default:
            return false
        }
    }

    static func strings(_ value: JSONValue) -> [String] {
        switch value {
        case .array(let items): return items.map { PythonText.str($0) }
        case .null: return []
        default: return [PythonText.str(value)]
        }
    }
}
