import CountersignCore
import CountersignProvenance
import Foundation

/// The result of evaluating one action: the decision and which rule made it.
public struct PolicyOutcome: Sendable, Hashable {
    public let decision: Decision
    /// The matched rule's id, or `default` when no rule matched.
    public let ruleID: String
    /// The rule's `reason:`, else DualKey's `matched rule '<id>'` / `fell through to default decision`.
    public let reason: String
    /// The `approvals:` block of an `ask` rule.
    public let approvals: ApprovalRequirement?
    /// Regex faults met while deciding (a search that erred or ran past its time limit); each counted as a
    /// match for deny and ask rules and as no match for allow rules. Recorded with the decision.
    public var faults: [String] = []

    public var isDefault: Bool { ruleID == Policy.defaultRuleID }

    public init(decision: Decision, ruleID: String, reason: String, approvals: ApprovalRequirement? = nil) {
        self.decision = decision
        self.ruleID = ruleID
        self.reason = reason
        self.approvals = approvals
    }
}

/// A loaded, validated and compiled policy. Immutable and `Sendable`: compile once, share everywhere.
public struct Policy: Sendable {
    public static let defaultRuleID = "default"

    public let document: PolicyDocument
    let rules: [CompiledRule]
    let labelSources: [CompiledLabelSource]
    let defaultOutcome: PolicyOutcome
    let defaultOutputLabels: LabelSet?
    /// Narrows the rules to try from the envelope's actor, surface, tool and intent.
    let candidates: CandidateIndex

    public var path: String { document.path }
    public var sourceHash: String { document.sourceHash }
    public var registry: LabelRegistry { document.registry }
    public var defaultDecision: Decision { document.defaultDecision }
    public var ruleIDs: [String] { rules.map(\.id) }

    /// A class, so the decision loop borrows rules instead of copying them.
    final class CompiledRule: Sendable {
        let id: String
        let decision: Decision
        let matchers: [Matcher]
        let checks: ContiguousArray<Check>
        let outcome: PolicyOutcome
        let conditions: [Condition]

        init(id: String, decision: Decision, matchers: [Matcher], outcome: PolicyOutcome, conditions: [Condition]) {
            self.id = id
            self.decision = decision
            self.matchers = matchers
            self.checks = ContiguousArray(matchers.map(Check.compile))
            self.outcome = outcome
            self.conditions = conditions
        }

        @inline(__always)
        func matches(_ context: inout EvaluationContext) -> Bool {
            context.faultMeansMatch = decision != .allow
            return checks.withUnsafeBufferPointer { buffer in
                for index in buffer.indices where !buffer[index].matches(&context) { return false }
                return true
            }
        }
    }

    struct CompiledLabelSource: Sendable {
        let id: String
        let matchers: [Matcher]
        let output: LabelSet
    }

    public init(document: PolicyDocument) {
        self.document = document
        rules = document.rules.map { spec in
            CompiledRule(
                id: spec.id, decision: spec.decision, matchers: Matcher.byCost(spec.conditions.flatMap(\.matchers)),
                outcome: PolicyOutcome(
                    decision: spec.decision, ruleID: spec.id, reason: spec.reason ?? "matched rule '\(spec.id)'",
                    approvals: spec.decision == .ask ? (spec.approvals ?? ApprovalRequirement()) : nil),
                conditions: spec.conditions)
        }
        labelSources = document.labelSources.map {
            CompiledLabelSource(
                id: $0.id, matchers: $0.conditions.flatMap(\.matchers), output: document.registry.set($0.output))
        }
        defaultOutcome = PolicyOutcome(
            decision: document.defaultDecision, ruleID: Self.defaultRuleID, reason: "fell through to default decision",
            approvals: document.defaultDecision == .ask ? ApprovalRequirement() : nil)
        defaultOutputLabels = document.defaultOutputLabels.map { document.registry.set($0) }

        candidates = CandidateIndex(rules: rules.map(\.matchers))
    }

    /// Loads, validates and compiles a policy file (YAML or JSON).
    public static func load(path: String) throws(PolicyLoadError) -> Policy {
        let data: Data
        guard FileManager.default.fileExists(atPath: path) else {
            throw PolicyLoadError(
                SourceLocation(file: path, line: 0, column: 0),
                "no policy file at \(path): run 'countersign init' to create .countersign/policy.yaml, or pass --policy FILE"
            )
        }
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PolicyLoadError(
                SourceLocation(file: path, line: 0, column: 0), "cannot read policy file: \(Self.describe(error))",
                hint: "check the path; policies are YAML or JSON files")
        }
        return try parse(data, path: path)
    }

    public static func parse(_ data: Data, path: String) throws(PolicyLoadError) -> Policy {
        guard let text = String(data: data, encoding: .utf8) else {
            throw PolicyLoadError(SourceLocation(file: path, line: 1, column: 1), "policy file is not UTF-8 text")
        }
        let root = try SourceNode.parse(text, file: path)
        var parser = PolicyParser(file: path)
        let document = try parser.parse(root, sourceHash: "sha256:" + Digest.sha256Hex(data))
        return Policy(document: document)
    }

    public static func parse(_ text: String, path: String = "<policy>") throws(PolicyLoadError) -> Policy {
        try parse(Data(text.utf8), path: path)
    }

    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
            let code = POSIXErrorCode(rawValue: Int32(underlying.code))
        {
            return String(cString: strerror(code.rawValue))
        }
        if ns.domain == NSCocoaErrorDomain && ns.code == NSFileReadNoSuchFileError { return "no such file" }
        return ns.localizedDescription
    }

    // MARK: - Evaluation

    /// Decides one action: the first rule whose every check holds, else the default decision.
    public func evaluate(_ envelope: ActionEnvelope, session: SessionState? = nil) -> PolicyOutcome {
        var context = EvaluationContext(envelope: envelope, session: session, registry: document.registry)
        return evaluate(&context)
    }

    /// Decides and returns the arguments' labels too (for the receipt), from one evaluation context, so
    /// labels a rule already computed are not computed again.
    public func evaluateWithLabels(_ envelope: ActionEnvelope, session: SessionState?) -> (
        outcome: PolicyOutcome, argumentLabels: LabelSet
    ) {
        var context = EvaluationContext(envelope: envelope, session: session, registry: document.registry)
        let outcome = evaluate(&context)
        return (outcome, context.argumentLabels())
    }

    func evaluate(_ context: inout EvaluationContext) -> PolicyOutcome {
        let envelope = context.envelope
        let fields = ActionEnvelopeFields(
            actor: envelope.actor, surface: envelope.surface, tool: envelope.tool, intent: envelope.intent)
        let match = rules.withUnsafeBufferPointer { rules in
            candidates.first(for: fields) { rules[$0].matches(&context) }
        }
        var outcome = match.map { rules[$0].outcome } ?? defaultOutcome
        if !context.faults.isEmpty { outcome.faults = context.faults }
        return outcome
    }

    /// The labels this action's output gets from the policy's label sources (union of every match),
    /// or `default_output_labels` when none matches.
    public func outputLabels(for envelope: ActionEnvelope, session: SessionState? = nil) -> LabelSet {
        var context = EvaluationContext(envelope: envelope, session: session, registry: document.registry)
        var labels = LabelSet()
        var matched = false
        for source in labelSources where source.matchers.allSatisfy({ $0.matches(&context) }) {
            labels.formUnion(source.output)
            matched = true
        }
        if !matched, let defaultOutputLabels { return defaultOutputLabels }
        return labels
    }

    /// Ids of the label sources that match this action.
    public func matchingLabelSources(for envelope: ActionEnvelope, session: SessionState? = nil) -> [String] {
        var context = EvaluationContext(envelope: envelope, session: session, registry: document.registry)
        return labelSources.filter { $0.matchers.allSatisfy { $0.matches(&context) } }.map(\.id)
    }

    /// The longest second-key wait any `ask` rule sets (`approvals.timeout`), nil when none sets one: an
    /// adapter that waits for reviewers must be given at least this long.
    public var longestApprovalWait: Double? {
        document.rules.compactMap { $0.approvals?.timeoutSeconds }.max()
    }

    /// A fresh session whose labels use this policy's label names.
    public func makeSession(id: String, limits: ProvenanceLimits = .default) -> SessionState {
        SessionState(id: id, registry: document.registry, limits: limits)
    }
}
