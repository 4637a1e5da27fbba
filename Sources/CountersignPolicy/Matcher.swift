import CountersignCore
import CountersignProvenance

/// One compiled check of a rule. Matching allocates nothing for string fields; the explanation
/// (`explain`) is built only when a person asks for it.
enum Matcher: Sendable {
    enum Field: Sendable { case actor, surface, tool, intent }
    enum Source: Sendable { case args, metadata }
    enum LeafTest: Sendable {
        /// Python equality with the expected value, or any leaf equal to `str(expected)`.
        case equals(JSONValue, String)
        case prefix([String])
        case contains([String])
        case glob([Glob])
        case regex([Pattern])
    }
    enum LabelTest: Sendable {
        case any(LabelSet)
        case all(LabelSet)
        case none(LabelSet)
    }

    case equals(Field, String)
    case glob(Field, [Glob])
    case targetPrefix(String)
    case targetGlob([Glob])
    case targetRegex([Pattern])
    case toolIn([String])
    case tagsAny([String])
    case tagsAll([String])
    case tagsNone([String])
    case commandMatches([String])
    case path(label: String, source: Source, path: String, test: LeafTest)
    case exists(label: String, source: Source, path: String)
    case sessionLabels(LabelTest)
    case argsLabels(LabelTest)
    case argLabels(path: String, labels: LabelSet)

    /// Relative cost, so a rule checks its cheap conditions first. Checks are pure, so their order
    /// never changes a decision; explanations keep DualKey's documented order.
    var cost: Int {
        switch self {
        case .equals, .toolIn, .tagsAny, .tagsAll, .tagsNone, .sessionLabels: return 0
        case .glob, .targetPrefix, .exists: return 1
        case .targetGlob, .commandMatches: return 2
        case .path(_, _, _, let test):
            if case .regex = test { return 4 }
            return 3
        case .targetRegex: return 4
        case .argsLabels, .argLabels: return 5
        }
    }

    static func byCost(_ matchers: [Matcher]) -> [Matcher] {
        matchers.enumerated().sorted { ($0.element.cost, $0.offset) < ($1.element.cost, $1.offset) }.map(\.element)
    }

    func matches(_ context: inout EvaluationContext) -> Bool {
        let envelope = context.envelope
        switch self {
        case .equals(let field, let expected):
            return ByteSearch.equal(envelope.field(field), expected)
        case .glob(let field, let globs):
            let value = envelope.field(field)
            return globs.contains { $0.matches(value) }
        case .targetPrefix(let prefix):
            return context.anyTargetForm { ByteSearch.hasPrefix($0, prefix) }
        case .targetGlob(let globs):
            return context.anyTargetForm { target in globs.contains { $0.matches(target) } }
        case .targetRegex(let patterns):
            return context.anyTargetFormSearching(patterns)
        case .toolIn(let tools):
            return tools.contains { ByteSearch.equal(envelope.tool, $0) }
        case .tagsAny(let tags):
            return tags.contains { tag in envelope.risk.contains { ByteSearch.equal($0, tag) } }
        case .tagsAll(let tags):
            return tags.allSatisfy { tag in envelope.risk.contains { ByteSearch.equal($0, tag) } }
        case .tagsNone(let tags):
            return !tags.contains { tag in envelope.risk.contains { ByteSearch.equal($0, tag) } }
        case .commandMatches(let snippets):
            let command = context.command
            return snippets.contains { ByteSearch.contains(command, $0) }
        case .path(_, let source, let path, let test):
            guard let actual = envelope.value(source, path) else { return false }
            if source == .args, case .string(let text) = actual, let forms = context.pathForms(text, key: path) {
                return forms.contains { Self.evaluate(test, .string($0), &context) }
            }
            return Self.evaluate(test, actual, &context)
        case .exists(_, let source, let path):
            return envelope.value(source, path) != nil
        case .sessionLabels(let test):
            return Self.evaluate(test, context.sessionLabels)
        case .argsLabels(let test):
            return Self.evaluate(test, context.argumentLabels())
        case .argLabels(let path, let labels):
            return context.labels(ofArgumentAt: path).intersects(labels)
        }
    }

    static func evaluate(_ test: LabelTest, _ labels: LabelSet) -> Bool {
        switch test {
        case .any(let wanted): return labels.intersects(wanted)
        case .all(let wanted): return labels.contains(wanted)
        case .none(let forbidden): return !labels.intersects(forbidden)
        }
    }

    static func evaluate(_ test: LeafTest, _ actual: JSONValue, _ context: inout EvaluationContext) -> Bool {
        switch test {
        case .equals(let expected, let expectedText):
            return PythonValue.equal(actual, expected)
                || PythonValue.anyLeaf(actual) { ByteSearch.equal($0, expectedText) }
        case .prefix(let prefixes):
            return PythonValue.anyLeaf(actual) { leaf in prefixes.contains { ByteSearch.hasPrefix(leaf, $0) } }
        case .contains(let needles):
            return PythonValue.anyLeaf(actual) { leaf in needles.contains { ByteSearch.contains(leaf, $0) } }
        case .glob(let globs):
            return PythonValue.anyLeaf(actual) { leaf in globs.contains { $0.matches(leaf) } }
        case .regex(let patterns):
            let faultMeans = context.faultMeansMatch
            var faults: [String] = []
            defer { context.faults += faults }
            return PythonValue.anyLeaf(actual) { leaf in
                patterns.contains { $0.search(leaf, faultMeans: faultMeans, faults: &faults) }
            }
        }
    }
}

extension ActionEnvelope {
    @inline(__always)
    func field(_ field: Matcher.Field) -> String {
        switch field {
        case .actor: return actor
        case .surface: return surface
        case .tool: return tool
        case .intent: return intent
        }
    }

    func value(_ source: Matcher.Source, _ path: String) -> JSONValue? {
        switch source {
        case .args: return JSONValue.object(args).resolve(path: path)
        case .metadata: return JSONValue.object(metadata).resolve(path: path)
        }
    }
}

/// What one evaluation reads besides the envelope, computed at most once and only when a rule needs it.
struct EvaluationContext {
    let envelope: ActionEnvelope
    let session: SessionState?
    let registry: LabelRegistry
    private var cachedArgumentLabels: LabelSet?

    init(envelope: ActionEnvelope, session: SessionState?, registry: LabelRegistry) {
        self.envelope = envelope
        self.session = session
        self.registry = registry
    }

    /// Whether a regex fault counts as a match in the checks being evaluated: true for deny and ask rules
    /// and label sources, false for allow rules (fail closed either way).
    var faultMeansMatch = true
    /// Regex faults met so far (a search that erred or ran too long), for the decision's record.
    var faults: [String] = []

    /// The target as matched: the derived target, normalised when it is a path (see `PathForms`).
    var target: String {
        mutating get {
            prepareTarget()
            return targetStorage
        }
    }

    /// The derived target, computed once; read `targetStorage` (and `otherTargetForms`) after this.
    @inline(__always)
    mutating func prepareTarget() {
        if !targetReady {
            let raw = envelope.derivedTarget
            if PathForms.isPathLike(raw, fileSurface: envelope.surface == "file") {
                var forms = PathForms.forms(raw, cwd: envelope.metadata["cwd"]?.stringValue)
                targetStorage = forms.removeFirst()
                otherTargetForms = forms
            } else {
                targetStorage = raw
            }
            targetReady = true
        }
    }

    /// Whether `test` holds for any form of the target.
    @inline(__always)
    mutating func anyTargetForm(_ test: (String) -> Bool) -> Bool {
        prepareTarget()
        return test(targetStorage) || (!otherTargetForms.isEmpty && otherTargetForms.contains(where: test))
    }

    mutating func anyTargetFormSearching(_ patterns: [Pattern]) -> Bool {
        prepareTarget()
        let faultMeans = faultMeansMatch
        var found = false
        for form in [targetStorage] + otherTargetForms where !found {
            found = patterns.contains { $0.search(form, faultMeans: faultMeans, faults: &faults) }
        }
        return found
    }

    /// The forms of a path argument (`args.<key>` whose key names a path), or nil when it is not one.
    func pathForms(_ value: String, key: String) -> [String]? {
        let last = key.split(separator: ".").last.map(String.init) ?? key
        guard PathForms.isPathKey(last), PathForms.isPathLike(value, fileSurface: envelope.surface == "file") else {
            return nil
        }
        return PathForms.forms(value, cwd: envelope.metadata["cwd"]?.stringValue)
    }

    /// `args.command` as text, computed once; read `commandStorage` after calling this.
    @inline(__always)
    mutating func prepareCommand() {
        if !commandReady {
            commandStorage = envelope.args["command"].map(PythonText.str) ?? ""
            commandReady = true
        }
    }

    private(set) var targetStorage = ""
    private(set) var otherTargetForms: [String] = []
    private(set) var commandStorage = ""
    private var targetReady = false
    private var commandReady = false

    /// `str(args.command)`, empty when absent (DualKey's `command_matches` input).
    var command: String {
        mutating get {
            prepareCommand()
            return commandStorage
        }
    }

    var sessionLabels: LabelSet { session?.labels ?? LabelSet() }

    /// Labels the envelope carries itself plus those its arguments inherit from the session.
    mutating func argumentLabels() -> LabelSet {
        if let cachedArgumentLabels { return cachedArgumentLabels }
        var labels = envelope.labels.isEmpty ? LabelSet() : registry.set(envelope.labels)
        if let session { labels.formUnion(session.labels(of: .object(envelope.args))) }
        cachedArgumentLabels = labels
        return labels
    }

    func labels(ofArgumentAt path: String) -> LabelSet {
        var labels = envelope.labels.isEmpty ? LabelSet() : registry.set(envelope.labels)
        if let session, let value = JSONValue.object(envelope.args).resolve(path: path) {
            labels.formUnion(session.labels(of: value))
        }
        return labels
    }
}
