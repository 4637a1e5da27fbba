import CountersignCore

/// Turns a policy's YAML tree into a `PolicyDocument`, refusing everything DualKey would silently
/// misread: unknown keys, wrong value types, invalid regexes and decisions, duplicate rule ids,
/// undeclared labels. It collects every error rather than stopping at the first.
struct PolicyParser {
    static let topLevelKeys = [
        "version", "name", "description", "default_decision", "declared_labels", "labels",
        "default_output_labels", "rules",
    ]
    static let ruleKeys = ["id", "description", "when", "decision", "reason", "approvals"]
    static let labelSourceKeys = ["id", "description", "when", "output"]
    static let approvalKeys = ["quorum", "reviewers", "groups", "timeout", "channels"]

    let file: String
    var diagnostics: [Diagnostic] = []
    var registry = LabelRegistry()

    init(file: String) { self.file = file }

    mutating func error(_ location: SourceLocation, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(.error, location, message, hint: hint))
    }

    mutating func parse(_ root: SourceNode?, sourceHash: String) throws(PolicyLoadError) -> PolicyDocument {
        let start = SourceLocation(file: file, line: 1, column: 1)
        var document = PolicyDocument(
            path: file, defaultDecision: .ask, defaultDecisionLocation: start, registry: registry, labelSources: [],
            defaultOutputLabels: nil, rules: [], sourceHash: sourceHash)
        guard let root, !root.isNull else { return document }
        guard let pairs = root.mapping else {
            throw PolicyLoadError(
                root.location, "a policy must be a mapping, got a \(root.typeName)",
                hint: "start with 'default_decision: ask' and a 'rules:' list")
        }
        checkKeys(pairs, allowed: Self.topLevelKeys, kind: "top-level keys")

        // Labels first: rules may use the declared names.
        if let declared = root["declared_labels"] { declareLabels(declared) }
        document.registry = registry

        if let node = root["version"] {
            if case .int(1) = node.value {
            } else {
                error(node.location, "version must be 1", hint: "omit it or write 'version: 1'")
            }
        }
        for key in ["name", "description"] {
            if let node = root[key], node.string == nil { error(node.location, "\(key) must be a string") }
        }
        if let node = root["default_decision"] {
            document.defaultDecisionLocation = node.location
            document.defaultDecision = decision(node, what: "default_decision") ?? .deny
        }
        if let node = root["default_output_labels"] {
            document.defaultOutputLabels = labelList(node, what: "default_output_labels")
        }
        if let node = root["labels"] {
            document.labelSources = labelSources(node)
        }
        if let node = root["rules"] {
            document.rules = rules(node)
        }
        if !diagnostics.isEmpty { throw PolicyLoadError(diagnostics) }
        return document
    }

    // MARK: - Sections

    mutating func declareLabels(_ node: SourceNode) {
        guard let items = node.sequence else {
            error(
                node.location, "declared_labels must be a list",
                hint: "e.g. declared_labels: [pii, {name: customer-data, kind: confidentiality}]")
            return
        }
        for item in items {
            var name: String?
            var kind = LabelKind.confidentiality
            var location = item.location
            if let s = item.string {
                name = s
            } else if let pairs = item.mapping {
                checkKeys(pairs, allowed: ["name", "kind", "description"], kind: "label declaration keys")
                name = item["name"]?.string
                location = item["name"]?.location ?? item.location
                if name == nil { error(item.location, "a declared label needs a string 'name'") }
                if let kindNode = item["kind"] {
                    if let k = kindNode.string.flatMap(LabelKind.init(rawValue:)) {
                        kind = k
                    } else {
                        error(
                            kindNode.location, "label kind must be integrity, confidentiality or origin",
                            hint: "integrity labels are cleared by trusted input; confidentiality labels never are")
                    }
                }
            } else {
                error(item.location, "a declared label must be a name or a mapping with 'name' and 'kind'")
            }
            guard let name else { continue }
            if !LabelRegistry.isValidName(name) {
                error(location, "invalid label name '\(name)'", hint: "use lower-case letters, digits, '-' and '_'")
            } else if registry.isKnown(name) {
                error(
                    location,
                    "label '\(name)' is already declared"
                        + (LabelRegistry.builtIns.contains { $0.name == name } ? " (it is built in)" : ""))
            } else if !registry.declare(name, kind: kind) {
                error(location, "too many labels (at most \(LabelRegistry.capacity) including the built-in ones)")
            }
        }
    }

    mutating func labelSources(_ node: SourceNode) -> [LabelSourceSpec] {
        guard let items = node.sequence else {
            error(
                node.location, "labels must be a list of label sources",
                hint: "e.g. labels: [{id: web, when: {tool: WebFetch}, output: [untrusted]}]")
            return []
        }
        var result: [LabelSourceSpec] = []
        var seen: [String: SourceLocation] = [:]
        for (index, item) in items.enumerated() {
            guard let pairs = item.mapping else {
                error(item.location, "a label source must be a mapping with 'when' and 'output'")
                continue
            }
            checkKeys(pairs, allowed: Self.labelSourceKeys, kind: "label source keys")
            let id = identifier(item, fallback: "label_source_\(index + 1)")
            if let first = seen[id] {
                error(
                    item["id"]?.location ?? item.location,
                    "duplicate label source id '\(id)' (first at line \(first.line))")
            }
            seen[id] = item.location
            let conditions = item["when"].map { self.conditions($0) } ?? []
            var output: [String] = []
            if let out = item["output"] {
                output = labelList(out, what: "output") ?? []
                if output.isEmpty, out.sequence != nil { error(out.location, "output lists no labels") }
            } else {
                error(
                    item.location, "label source '\(id)' has no 'output'",
                    hint: "add output: [untrusted] (or other labels)")
            }
            result.append(
                LabelSourceSpec(
                    id: id, location: item.location, description: item["description"]?.string,
                    conditions: conditions, output: output))
        }
        return result
    }

    mutating func rules(_ node: SourceNode) -> [RuleSpec] {
        if node.isNull { return [] }
        guard let items = node.sequence else {
            error(node.location, "rules must be a list", hint: "each rule starts with '- id: ...'")
            return []
        }
        var result: [RuleSpec] = []
        var seen: [String: SourceLocation] = [:]
        for (index, item) in items.enumerated() {
            guard let pairs = item.mapping else {
                error(
                    item.location, "a rule must be a mapping with 'id', 'when' and 'decision', got a \(item.typeName)")
                continue
            }
            checkKeys(pairs, allowed: Self.ruleKeys, kind: "rule keys")
            let id = identifier(item, fallback: "rule_\(index + 1)")
            let idLocation = item["id"]?.location ?? item.location
            if let first = seen[id] {
                error(
                    idLocation, "duplicate rule id '\(id)' (first used at line \(first.line))",
                    hint: "rule ids name decisions in receipts; each must be unique")
            }
            seen[id] = idLocation
            var decision = Decision.deny
            if let node = item["decision"] {
                decision = self.decision(node, what: "decision") ?? .deny
            } else {
                error(item.location, "rule '\(id)' has no 'decision'", hint: "add decision: allow, ask or deny")
            }
            var reason: String?
            if let node = item["reason"] {
                reason = node.string
                if reason == nil { error(node.location, "reason must be a string") }
            }
            if let node = item["description"], node.string == nil {
                error(node.location, "description must be a string")
            }
            var conditions: [Condition] = []
            if let when = item["when"] { conditions = self.conditions(when) }
            var approvals: ApprovalRequirement?
            if let node = item["approvals"] {
                approvals = approvalRequirement(node)
                if decision != .ask {
                    error(
                        node.location, "approvals only apply to 'ask' rules; rule '\(id)' decides \(decision.rawValue)",
                        hint: "remove approvals or change the decision to ask")
                }
            }
            result.append(
                RuleSpec(
                    id: id, location: item.location, description: item["description"]?.string, decision: decision,
                    reason: reason, conditions: conditions, approvals: approvals))
        }
        return result
    }

    mutating func approvalRequirement(_ node: SourceNode) -> ApprovalRequirement? {
        guard let pairs = node.mapping else {
            error(
                node.location, "approvals must be a mapping",
                hint: "e.g. approvals: {quorum: 2, reviewers: [alice, bob], timeout: 10m}")
            return nil
        }
        checkKeys(pairs, allowed: Self.approvalKeys, kind: "approvals keys")
        var requirement = ApprovalRequirement()
        if let q = node["quorum"] {
            if case .int(let n) = q.value, n >= 1, n <= 100 {
                requirement.quorum = Int(n)
            } else {
                error(q.location, "quorum must be a whole number from 1 to 100")
            }
        }
        requirement.reviewers = node["reviewers"].flatMap { scalarList($0, what: "reviewers") } ?? []
        requirement.groups = node["groups"].flatMap { scalarList($0, what: "groups") } ?? []
        if let t = node["timeout"] {
            var seconds: Double?
            switch t.value {
            case .int(let n) where n > 0: seconds = Double(n)
            case .double(let d) where d > 0 && d.isFinite: seconds = d
            case .string(let s): seconds = DurationText.seconds(s)
            default: break
            }
            if seconds == nil {
                error(
                    t.location, "timeout must be a duration such as 30s, 10m or 1h", hint: "a bare number means seconds"
                )
            }
            requirement.timeoutSeconds = seconds
        }
        if let c = node["channels"], let names = scalarList(c, what: "channels") {
            for (offset, name) in names.enumerated() {
                if let channel = ApprovalChannel(rawValue: name) {
                    requirement.channels.append(channel)
                } else {
                    let location = c.sequence?[offset].location ?? c.location
                    error(
                        location, "unknown approval channel '\(name)'",
                        hint: Suggestion.hint(for: name, in: ApprovalChannel.allCases.map(\.rawValue), kind: "channels")
                    )
                }
            }
        }
        if requirement.groups.isEmpty, !requirement.reviewers.isEmpty, requirement.quorum > requirement.reviewers.count
        {
            error(
                node["quorum"]?.location ?? node.location,
                "quorum \(requirement.quorum) is more than the \(requirement.reviewers.count) reviewers listed",
                hint: "no approval could ever be complete")
        }
        return requirement
    }

    // MARK: - Conditions

    mutating func conditions(_ node: SourceNode) -> [Condition] {
        if node.isNull { return [] }
        guard let pairs = node.mapping else {
            error(
                node.location, "'when' must be a mapping of matchers, got a \(node.typeName)",
                hint: "e.g. when: {tool: Bash, command_matches: [\"rm -rf\"]}")
            return []
        }
        var result: [Condition] = []
        for pair in pairs {
            guard let key = MatcherKey(rawValue: pair.key) else {
                error(
                    pair.keyNode.location, "unknown matcher '\(pair.key)'",
                    hint: Suggestion.hint(for: pair.key, in: MatcherKey.names, kind: "matchers"))
                continue
            }
            if let condition = condition(key, pair.value) { result.append(condition) }
        }
        return result.sorted { $0.key < $1.key }
    }

    mutating func condition(_ key: MatcherKey, _ node: SourceNode) -> Condition? {
        let name = key.rawValue
        var matchers: [Matcher] = []
        switch key.shape {
        case .string:
            guard let value = node.string else {
                let hint =
                    key == .targetPrefix
                    ? "target_prefix takes one string; use target_glob for several"
                    : "quote the value; for several, use \(name)_glob or tool_in"
                error(node.location, "\(name) must be a string, got a \(node.typeName)", hint: hint)
                return nil
            }
            switch key {
            case .actor: matchers = [.equals(.actor, value)]
            case .surface: matchers = [.equals(.surface, value)]
            case .tool: matchers = [.equals(.tool, value)]
            case .intent: matchers = [.equals(.intent, value)]
            default: matchers = [.targetPrefix(value)]
            }
        case .list:
            guard let values = scalarList(node, what: name) else { return nil }
            switch key {
            case .actorGlob: matchers = [.glob(.actor, values.map(Glob.init))]
            case .surfaceGlob: matchers = [.glob(.surface, values.map(Glob.init))]
            case .toolGlob: matchers = [.glob(.tool, values.map(Glob.init))]
            case .intentGlob: matchers = [.glob(.intent, values.map(Glob.init))]
            case .targetGlob: matchers = [.targetGlob(values.map(Glob.init))]
            case .targetRegex:
                guard let patterns = patterns(values, node) else { return nil }
                matchers = [.targetRegex(patterns)]
            case .toolIn: matchers = [.toolIn(values)]
            case .tagsAny: matchers = [.tagsAny(values)]
            case .tagsAll: matchers = [.tagsAll(values)]
            case .tagsNone: matchers = [.tagsNone(values)]
            default: matchers = [.commandMatches(values)]
            }
        case .pathMap, .pathMapOfLists, .pathMapOfLabels:
            guard let pairs = node.mapping else {
                error(
                    node.location, "\(name) must be a mapping from argument path to value, got a \(node.typeName)",
                    hint: "e.g. \(name): {command: \"git push\"}")
                return nil
            }
            if pairs.isEmpty {
                error(node.location, "\(name) is empty, so it checks nothing", hint: "add a path or remove \(name)")
                return nil
            }
            let source: Matcher.Source = name.hasPrefix("metadata") ? .metadata : .args
            for pair in pairs {
                guard validPath(pair.key, pair.keyNode.location) else { continue }
                switch key.shape {
                case .pathMap:
                    matchers.append(
                        .path(
                            label: name, source: source, path: pair.key,
                            test: .equals(pair.value.json, PythonText.str(pair.value.json))))
                case .pathMapOfLabels:
                    guard let labels = labelList(pair.value, what: "\(name).\(pair.key)") else { continue }
                    matchers.append(.argLabels(path: pair.key, labels: registry.set(labels)))
                default:
                    guard let values = scalarList(pair.value, what: "\(name).\(pair.key)") else { continue }
                    let test: Matcher.LeafTest
                    switch key {
                    case .argPrefix: test = .prefix(values)
                    case .argContains, .metadataContains: test = .contains(values)
                    case .argGlob, .metadataGlob: test = .glob(values.map(Glob.init))
                    default:
                        guard let patterns = patterns(values, pair.value) else { continue }
                        test = .regex(patterns)
                    }
                    matchers.append(.path(label: name, source: source, path: pair.key, test: test))
                }
            }
        case .paths:
            guard let paths = scalarList(node, what: name) else { return nil }
            if paths.isEmpty {
                error(node.location, "\(name) is empty, so it checks nothing", hint: "list a path or remove \(name)")
                return nil
            }
            let source: Matcher.Source = name.hasPrefix("metadata") ? .metadata : .args
            for path in paths where validPath(path, node.location) {
                matchers.append(.exists(label: name, source: source, path: path))
            }
        case .labels:
            guard let labels = labelList(node, what: name) else { return nil }
            let set = registry.set(labels)
            let test: Matcher.LabelTest =
                name.hasSuffix("_any") ? .any(set) : name.hasSuffix("_all") ? .all(set) : .none(set)
            matchers = [name.hasPrefix("session") ? .sessionLabels(test) : .argsLabels(test)]
        }
        return Condition(key: key, location: node.location, value: node.json, matchers: matchers)
    }

    mutating func validPath(_ path: String, _ location: SourceLocation) -> Bool {
        if path.isEmpty || path.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            error(
                location, "invalid path '\(path)'",
                hint: "a path is keys and list indexes joined by '.', e.g. tool_input.command or items.0")
            return false
        }
        return true
    }

    mutating func patterns(_ sources: [String], _ node: SourceNode) -> [Pattern]? {
        var result: [Pattern] = []
        for (offset, source) in sources.enumerated() {
            do {
                result.append(try Pattern(source))
            } catch {
                let location = node.sequence?[offset].location ?? node.location
                self.error(
                    location, error.message,
                    hint:
                        "patterns use Python 're' syntax and are searched anywhere in the value; escape literal characters such as '.' as '\\.'"
                )
            }
        }
        return result.count == sources.count ? result : nil
    }

    // MARK: - Values

    mutating func decision(_ node: SourceNode, what: String) -> Decision? {
        if let s = node.string, let d = Decision(rawValue: s) { return d }
        let shown = node.string.map { "'\($0)'" } ?? "a \(node.typeName)"
        error(
            node.location, "\(what) must be allow, ask or deny, got \(shown)",
            hint: node.string.flatMap { Suggestion.closest(to: $0.lowercased(), in: Decision.allCases.map(\.rawValue)) }
                .map { "did you mean '\($0)'?" })
        return nil
    }

    mutating func identifier(_ item: SourceNode, fallback: String) -> String {
        guard let node = item["id"] else { return fallback }
        guard let id = node.string, !id.isEmpty else {
            error(node.location, "id must be a non-empty string, got a \(node.typeName)", hint: "quote it: id: \"...\"")
            return fallback
        }
        return id
    }

    /// A string or a list of plain scalars, as strings (numbers spelled as Python prints them).
    mutating func scalarList(_ node: SourceNode, what: String) -> [String]? {
        func scalar(_ n: SourceNode) -> String? {
            switch n.value {
            case .string(let s): return s
            case .int, .double: return PythonText.str(n.json)
            default:
                let hint =
                    n.isNull
                    ? "the value is empty; write it or remove the key"
                    : (n.typeName == "boolean"
                        ? "quote it: YAML reads yes/no/on/off/true/false as booleans" : "each item must be a string")
                error(n.location, "\(what) must be a string or a list of strings, found a \(n.typeName)", hint: hint)
                return nil
            }
        }
        if let items = node.sequence {
            let values = items.compactMap(scalar)
            return values.count == items.count ? values : nil
        }
        return scalar(node).map { [$0] }
    }

    /// Label names, each built in or declared.
    mutating func labelList(_ node: SourceNode, what: String) -> [String]? {
        guard let names = scalarList(node, what: what) else { return nil }
        var ok = true
        for (offset, name) in names.enumerated() where !registry.isKnown(name) {
            let location = node.sequence?[offset].location ?? node.location
            error(
                location, "unknown label '\(name)' in \(what)",
                hint: (Suggestion.closest(to: name, in: registry.names).map { "did you mean '\($0)'? " } ?? "")
                    + "declare custom labels under declared_labels; built-in: \(LabelRegistry.builtIns.map(\.name).joined(separator: ", "))"
            )
            ok = false
        }
        return ok ? names : nil
    }

    mutating func checkKeys(
        _ pairs: [(key: String, keyNode: SourceNode, value: SourceNode)], allowed: [String], kind: String
    ) {
        for pair in pairs where !allowed.contains(pair.key) {
            var hint = Suggestion.hint(for: pair.key, in: allowed, kind: kind)
            if kind == "rule keys", MatcherKey(rawValue: pair.key) != nil { hint = "matchers go under 'when:'" }
            error(pair.keyNode.location, "unknown key '\(pair.key)'", hint: hint)
        }
    }
}
