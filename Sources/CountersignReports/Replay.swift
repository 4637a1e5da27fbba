import CountersignCore
import CountersignLedger
import CountersignPolicy

/// One decision that a different policy would make differently.
public struct ReplayChange: Sendable {
    public let seq: Int64
    public let traceID: String?
    public let tool: String
    public let before: (decision: String, rule: String)
    public let after: (decision: String, rule: String)

    public var kind: String { "\(before.decision) -> \(after.decision)" }
    public var summary: String {
        "#\(seq) \(tool): \(before.decision) (\(before.rule)) -> \(after.decision) via rule \(after.rule)"
    }

    var json: JSONValue {
        .object([
            "seq": .int(seq), "trace_id": traceID.map(JSONValue.string) ?? .null, "tool": .string(tool),
            "before": .object(["decision": .string(before.decision), "rule_id": .string(before.rule)]),
            "after": .object(["decision": .string(after.decision), "rule_id": .string(after.rule)]),
            "summary": .string(summary),
        ])
    }
}

/// Re-decides every recorded action under another policy: which decisions would change, and how.
public enum Replay {
    public struct Report: Sendable {
        public let decisions: Int
        public let changes: [ReplayChange]
        /// Change kind (`allow -> deny`) → count, plus `unchanged`.
        public var summary: [(String, Int)] {
            var counts: [String: Int] = [:]
            for change in changes { counts[change.kind, default: 0] += 1 }
            return counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) } + [
                ("unchanged", decisions - changes.count)
            ]
        }
        public let skipped: Int
    }

    /// Decision receipts carry the redacted envelope and the labels seen when deciding; the action is
    /// re-decided with those labels attached, so label rules replay as they were decided.
    public static func run(_ receipts: [Receipt], under policy: Policy) -> Report {
        var changes: [ReplayChange] = []
        var decisions = 0
        var skipped = 0
        for receipt in receipts where receipt.kind == "decision" {
            guard let action = receipt.action, var envelope = try? ActionEnvelope(json: action) else {
                skipped += 1
                continue
            }
            decisions += 1
            let argumentLabels = receipt.body["labels"]?["arguments"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let sessionLabels = receipt.body["labels"]?["session"]?.arrayValue?.compactMap(\.stringValue) ?? []
            envelope.labels = Array(Set(envelope.labels + argumentLabels)).sorted()
            var session = policy.makeSession(id: envelope.sessionID ?? "replay")
            session.addSessionLabels(policy.registry.set(sessionLabels))
            let outcome = policy.evaluate(envelope, session: session)
            let before = (receipt.body["policy"]?["decision"]?.stringValue ?? "?", receipt.ruleID ?? "?")
            if before.0 != outcome.decision.rawValue || before.1 != outcome.ruleID {
                changes.append(
                    ReplayChange(
                        seq: receipt.seq, traceID: receipt.traceID, tool: envelope.tool, before: before,
                        after: (outcome.decision.rawValue, outcome.ruleID)))
            }
        }
        return Report(decisions: decisions, changes: changes, skipped: skipped)
    }
}
