import CountersignCore
import CountersignProvenance

/// The outcome of running a fixture suite against a policy.
public struct FixtureReport: Sendable {
    public struct Result: Sendable {
        public let id: String
        public let description: String?
        public let session: String?
        public let expected: FixtureSuite.Expectation
        public let explanation: Explanation
        public let mismatches: [String]
        public var passed: Bool { mismatches.isEmpty }
        public var outcome: PolicyOutcome { explanation.outcome }
    }

    public let policyPath: String
    public let casesPath: String
    public let results: [Result]

    public var passed: Int { results.filter(\.passed).count }
    public var failed: Int { results.count - passed }
    /// `N passed, M failed`.
    public var summary: String { "\(passed) passed, \(failed) failed" }
}

extension FixtureSuite {
    /// Runs every case and every session step; with `failFast`, stops after the first failure.
    public func run(against policy: Policy, failFast: Bool = false) -> FixtureReport {
        var results: [FixtureReport.Result] = []
        func finish() -> FixtureReport { FixtureReport(policyPath: policy.path, casesPath: path, results: results) }

        for item in cases {
            let result = Self.check(
                policy, item.action, session: nil, id: item.id, description: item.description, sessionID: nil,
                expect: item.expect)
            results.append(result)
            if failFast && !result.passed { return finish() }
        }
        for session in sessions {
            var state = policy.makeSession(id: session.id)
            if let prompt = session.prompt { state.recordTrustedInput(prompt) }
            for step in session.steps {
                if let prompt = step.prompt { state.recordTrustedInput(prompt) }
                guard let action = step.action else { continue }
                let result = Self.check(
                    policy, action, session: state, id: step.id, description: step.description, sessionID: session.id,
                    expect: step.expect)
                results.append(result)
                if failFast && !result.passed { return finish() }
                if let output = step.output {
                    state.recordOutput(output, labels: policy.outputLabels(for: action, session: state))
                }
            }
        }
        return finish()
    }

    static func check(
        _ policy: Policy, _ action: ActionEnvelope, session: SessionState?, id: String, description: String?,
        sessionID: String?,
        expect: Expectation
    ) -> FixtureReport.Result {
        let explanation = policy.explain(action, session: session)
        let outcome = explanation.outcome
        var mismatches: [String] = []
        if let decision = expect.decision, decision != outcome.decision {
            mismatches.append("expected decision='\(decision.rawValue)', got '\(outcome.decision.rawValue)'")
        }
        if let ruleID = expect.ruleID, ruleID != outcome.ruleID {
            mismatches.append("expected rule_id='\(ruleID)', got '\(outcome.ruleID)'")
        }
        for needle in expect.reasonContains where !outcome.reason.contains(needle) {
            mismatches.append("expected reason to contain '\(needle)', got '\(outcome.reason)'")
        }
        if let labels = expect.argsLabels, Set(labels) != Set(explanation.argumentLabels) {
            mismatches.append(
                "expected args_labels=\(PythonText.repr(labels.sorted())), got \(PythonText.repr(explanation.argumentLabels.sorted()))"
            )
        }
        if let labels = expect.sessionLabels, Set(labels) != Set(explanation.sessionLabels) {
            mismatches.append(
                "expected session_labels=\(PythonText.repr(labels.sorted())), got \(PythonText.repr(explanation.sessionLabels.sorted()))"
            )
        }
        return FixtureReport.Result(
            id: id, description: description, session: sessionID, expected: expect, explanation: explanation,
            mismatches: mismatches)
    }
}
