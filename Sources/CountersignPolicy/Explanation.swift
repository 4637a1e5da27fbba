import CountersignCore
import CountersignProvenance

/// Why a policy decided what it did: every rule up to the match, each check with its result.
/// Built only on request (`policy eval`, fixture failures), never on the decision path.
public struct Explanation: Sendable {
    public struct Check: Sendable, Hashable {
        public let label: String
        public let matched: Bool
        public let detail: String
    }

    public struct RuleTrace: Sendable, Hashable {
        public let ruleID: String
        public let decision: Decision
        public let matched: Bool
        public let skipped: Bool
        public let summary: String
        public let checks: [Check]
    }

    public let action: ActionEnvelope
    public let outcome: PolicyOutcome
    public let rules: [RuleTrace]
    public let sessionLabels: [String]
    public let argumentLabels: [String]

    /// DualKey's explanation object (`rule_id`, `decision`, `matched`, `summary`, `skipped`, `checks`).
    public var rulesJSON: JSONValue {
        .array(
            rules.map { rule in
                .object([
                    "rule_id": .string(rule.ruleID), "decision": .string(rule.decision.rawValue),
                    "matched": .bool(rule.matched), "skipped": .bool(rule.skipped), "summary": .string(rule.summary),
                    "checks": .array(
                        rule.checks.map {
                            .object([
                                "label": .string($0.label), "matched": .bool($0.matched), "detail": .string($0.detail),
                            ])
                        }
                    ),
                ])
            })
    }

    public var outcomeJSON: JSONValue {
        var object: [String: JSONValue] = [
            "decision": .string(outcome.decision.rawValue), "rule_id": .string(outcome.ruleID),
            "reason": .string(outcome.reason),
        ]
        if let approvals = outcome.approvals {
            object["approvals"] = .object([
                "quorum": .int(Int64(approvals.quorum)), "reviewers": .array(approvals.reviewers.map(JSONValue.string)),
                "groups": .array(approvals.groups.map(JSONValue.string)),
                "timeout_seconds": approvals.timeoutSeconds.map(JSONValue.double) ?? .null,
                "channels": .array(approvals.channels.map { .string($0.rawValue) }),
            ])
        }
        return .object(object)
    }
}

extension Policy {
    public func explain(_ envelope: ActionEnvelope, session: SessionState? = nil) -> Explanation {
        var context = EvaluationContext(envelope: envelope, session: session, registry: document.registry)
        var traces: [Explanation.RuleTrace] = []
        var matchedRule: String?
        for rule in rules {
            if let matchedRule {
                traces.append(
                    Explanation.RuleTrace(
                        ruleID: rule.id, decision: rule.decision, matched: false, skipped: true,
                        summary: "skipped because rule '\(matchedRule)' already matched", checks: []))
                continue
            }
            var checks: [Explanation.Check] = []
            for condition in rule.conditions {
                for matcher in condition.matchers {
                    checks.append(matcher.explain(&context, raw: condition.value))
                }
            }
            let matched = checks.allSatisfy(\.matched)
            let summary =
                checks.isEmpty
                ? "matched because the rule has no conditions"
                : matched ? "matched \(checks.count) configured conditions" : checks.first { !$0.matched }!.detail
            traces.append(
                Explanation.RuleTrace(
                    ruleID: rule.id, decision: rule.decision, matched: matched, skipped: false, summary: summary,
                    checks: checks))
            if matched { matchedRule = rule.id }
        }
        let outcome = evaluate(envelope, session: session)
        if outcome.isDefault {
            traces.append(
                Explanation.RuleTrace(
                    ruleID: Self.defaultRuleID, decision: document.defaultDecision, matched: true, skipped: false,
                    summary: "fell through to default decision", checks: []))
        }
        return Explanation(
            action: envelope, outcome: outcome, rules: traces,
            sessionLabels: registry.names(session?.labels ?? LabelSet()),
            argumentLabels: registry.names(context.argumentLabels()))
    }
}

extension Matcher {
    /// The check's result with DualKey's wording (values in Python `repr`).
    func explain(_ context: inout EvaluationContext, raw: JSONValue) -> Explanation.Check {
        let matched = matches(&context)
        func check(_ label: String, _ ok: @autoclosure () -> String, _ fail: @autoclosure () -> String)
            -> Explanation.Check
        {
            Explanation.Check(label: label, matched: matched, detail: matched ? ok() : fail())
        }
        let envelope = context.envelope
        let r = PythonText.repr(raw)
        switch self {
        case .equals(let field, let expected):
            let name = "\(field)"
            return check(
                name, "\(name) matched \(PythonText.repr(expected))",
                "\(name) expected \(PythonText.repr(expected)), got \(PythonText.repr(envelope.field(field)))")
        case .glob(let field, _):
            let name = "\(field)_glob"
            return check(
                name, "\(name) matched \(r)", "\(name) \(r) did not match \(PythonText.repr(envelope.field(field)))")
        case .targetPrefix(let prefix):
            let target = context.target
            return check(
                "target_prefix", "target_prefix matched \(PythonText.repr(prefix))",
                "target_prefix \(PythonText.repr(prefix)) did not match \(PythonText.repr(target))")
        case .targetGlob:
            let target = context.target
            return check(
                "target_glob", "target_glob matched \(r)", "target_glob \(r) did not match \(PythonText.repr(target))")
        case .targetRegex:
            let target = context.target
            return check(
                "target_regex", "target_regex matched \(r)",
                "target_regex \(r) did not match \(PythonText.repr(target))")
        case .toolIn(let tools):
            return check(
                "tool_in", "tool \(PythonText.repr(envelope.tool)) is in tool_in",
                "tool \(PythonText.repr(envelope.tool)) is not in \(PythonText.repr(tools))")
        case .tagsAny(let tags):
            let overlap = Set(envelope.risk).intersection(tags).sorted()
            return check(
                "tags_any", "tags_any matched on \(PythonText.repr(overlap))",
                "tags_any expected overlap with \(PythonText.repr(tags)), got \(PythonText.repr(envelope.risk))")
        case .tagsAll(let tags):
            let missing = tags.filter { !envelope.risk.contains($0) }
            return check(
                "tags_all", "tags_all matched \(PythonText.repr(tags))",
                "tags_all missing \(PythonText.repr(missing)) from \(PythonText.repr(envelope.risk))")
        case .tagsNone(let tags):
            let overlap = envelope.risk.filter { tags.contains($0) }
            return check(
                "tags_none", "tags_none avoided \(PythonText.repr(tags))",
                "tags_none forbids \(PythonText.repr(overlap))")
        case .commandMatches(let snippets):
            let command = context.command
            let hit = snippets.first { ByteSearch.contains(command, $0) } ?? ""
            return check(
                "command_matches", "command matched snippet \(PythonText.repr(hit))",
                "command did not contain any of \(PythonText.repr(snippets)): \(PythonText.repr(command))")
        case .path(let label, let source, let path, _):
            let name = "\(label).\(path)"
            guard let actual = envelope.value(source, path) else {
                return Explanation.Check(label: name, matched: false, detail: "\(name) missing")
            }
            let expected = PythonText.repr(PythonValue.stringify(raw[path] ?? .null))
            return check(
                name, "\(name) matched \(expected)",
                "\(name) expected \(expected), got \(PythonText.repr(PythonValue.stringify(actual)))")
        case .exists(let label, _, let path):
            let name = "\(label).\(path)"
            return check(name, "\(name) exists", "\(name) missing")
        case .sessionLabels(let test):
            return Self.explainLabels(
                test, context.sessionLabels, prefix: "session_labels", registry: context.registry, matched: matched)
        case .argsLabels(let test):
            return Self.explainLabels(
                test, context.argumentLabels(), prefix: "args_labels", registry: context.registry, matched: matched)
        case .argLabels(let path, let labels):
            let name = "arg_labels.\(path)"
            let actual = context.registry.names(context.labels(ofArgumentAt: path))
            let wanted = context.registry.names(labels)
            return check(
                name, "\(name) carries \(PythonText.repr(actual.filter(wanted.contains)))",
                "\(name) expected any of \(PythonText.repr(wanted)), got \(PythonText.repr(actual))")
        }
    }

    static func explainLabels(
        _ test: LabelTest, _ actual: LabelSet, prefix: String, registry: LabelRegistry, matched: Bool
    ) -> Explanation.Check {
        let have = registry.names(actual)
        switch test {
        case .any(let wanted):
            let label = "\(prefix)_any"
            let detail =
                matched
                ? "\(label) matched on \(PythonText.repr(registry.names(actual.intersection(wanted))))"
                : "\(label) expected overlap with \(PythonText.repr(registry.names(wanted))), got \(PythonText.repr(have))"
            return Explanation.Check(label: label, matched: matched, detail: detail)
        case .all(let wanted):
            let label = "\(prefix)_all"
            let detail =
                matched
                ? "\(label) matched \(PythonText.repr(registry.names(wanted)))"
                : "\(label) missing \(PythonText.repr(registry.names(wanted.subtracting(actual)))) from \(PythonText.repr(have))"
            return Explanation.Check(label: label, matched: matched, detail: detail)
        case .none(let forbidden):
            let label = "\(prefix)_none"
            let detail =
                matched
                ? "\(label) avoided \(PythonText.repr(registry.names(forbidden)))"
                : "\(label) forbids \(PythonText.repr(registry.names(actual.intersection(forbidden))))"
            return Explanation.Check(label: label, matched: matched, detail: detail)
        }
    }
}

extension LabelSet {
    func intersection(_ other: LabelSet) -> LabelSet { LabelSet(bits: bits & other.bits) }
}
