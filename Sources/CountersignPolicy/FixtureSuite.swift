import CountersignCore
import CountersignProvenance
import Foundation

/// A fixture file: DualKey's cases (a list, or `cases:`) and Countersign's session cases
/// (`sessions:`), where each step's output feeds the session's labels before the next step.
public struct FixtureSuite: Sendable {
    public struct Expectation: Sendable {
        public var decision: Decision?
        public var ruleID: String?
        public var reasonContains: [String] = []
        /// Exactly these labels on the action's arguments.
        public var argsLabels: [String]?
        /// Exactly these labels on the session before the step.
        public var sessionLabels: [String]?

        var isEmpty: Bool {
            decision == nil && ruleID == nil && reasonContains.isEmpty && argsLabels == nil && sessionLabels == nil
        }
    }

    public struct Case: Sendable {
        public let id: String
        public let description: String?
        public let location: SourceLocation
        public let action: ActionEnvelope
        public let expect: Expectation
    }

    public struct Step: Sendable {
        public let id: String
        public let description: String?
        public let location: SourceLocation
        /// Trusted input the user gives before this step's action.
        public let prompt: String?
        public let action: ActionEnvelope?
        public let output: JSONValue?
        public let expect: Expectation
    }

    public struct Session: Sendable {
        public let id: String
        public let description: String?
        public let location: SourceLocation
        public let prompt: String?
        public let steps: [Step]
    }

    public let path: String
    public let cases: [Case]
    public let sessions: [Session]

    public var count: Int { cases.count + sessions.reduce(0) { $0 + $1.steps.filter { $0.action != nil }.count } }

    public static func load(path: String) throws(PolicyLoadError) -> FixtureSuite {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PolicyLoadError(
                SourceLocation(file: path, line: 0, column: 0), "cannot read fixture file: \(Policy.describe(error))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PolicyLoadError(SourceLocation(file: path, line: 1, column: 1), "fixture file is not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String = "<cases>") throws(PolicyLoadError) -> FixtureSuite {
        let root = try SourceNode.parse(text, file: path)
        var parser = FixtureParser(file: path)
        let suite = parser.parse(root)
        if !parser.diagnostics.isEmpty { throw PolicyLoadError(parser.diagnostics) }
        return suite
    }
}

struct FixtureParser {
    let file: String
    var diagnostics: [Diagnostic] = []

    mutating func error(_ location: SourceLocation, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(.error, location, message, hint: hint))
    }

    mutating func parse(_ root: SourceNode?) -> FixtureSuite {
        var cases: [FixtureSuite.Case] = []
        var sessions: [FixtureSuite.Session] = []
        guard let root else {
            error(
                SourceLocation(file: file, line: 1, column: 1), "fixture file is empty",
                hint: "add 'cases:' or 'sessions:'")
            return FixtureSuite(path: file, cases: [], sessions: [])
        }
        if let items = root.sequence {
            cases = parseCases(items)
        } else if let pairs = root.mapping {
            for pair in pairs where !["cases", "sessions", "description", "policy"].contains(pair.key) {
                error(
                    pair.keyNode.location, "unknown key '\(pair.key)'",
                    hint: Suggestion.hint(for: pair.key, in: ["cases", "sessions", "description"], kind: "keys"))
            }
            if let node = root["cases"] {
                if let items = node.sequence {
                    cases = parseCases(items)
                } else if !node.isNull {
                    error(node.location, "cases must be a list")
                }
            }
            if let node = root["sessions"] {
                if let items = node.sequence {
                    sessions = parseSessions(items)
                } else if !node.isNull {
                    error(node.location, "sessions must be a list")
                }
            }
            if root["cases"] == nil && root["sessions"] == nil {
                error(root.location, "no 'cases' or 'sessions' in fixture file")
            }
        } else {
            error(root.location, "a fixture file must be a list of cases or a mapping with 'cases' and/or 'sessions'")
        }
        return FixtureSuite(path: file, cases: cases, sessions: sessions)
    }

    mutating func parseCases(_ items: [SourceNode]) -> [FixtureSuite.Case] {
        var result: [FixtureSuite.Case] = []
        for (index, item) in items.enumerated() {
            guard item.mapping != nil else {
                error(item.location, "a case must be a mapping with 'action' and 'expect'")
                continue
            }
            checkKeys(item, ["id", "description", "action", "expect"])
            let id = item["id"]?.string ?? "case_\(index + 1)"
            guard let actionNode = item["action"] else {
                error(item.location, "case '\(id)' has no 'action'")
                continue
            }
            guard let action = envelope(actionNode, sessionID: nil) else { continue }
            let expect = item["expect"].map { expectation($0) } ?? FixtureSuite.Expectation()
            result.append(
                FixtureSuite.Case(
                    id: id, description: item["description"]?.string, location: item.location, action: action,
                    expect: expect))
        }
        return result
    }

    mutating func parseSessions(_ items: [SourceNode]) -> [FixtureSuite.Session] {
        var result: [FixtureSuite.Session] = []
        for (index, item) in items.enumerated() {
            guard item.mapping != nil else {
                error(item.location, "a session must be a mapping with 'id' and 'steps'")
                continue
            }
            checkKeys(item, ["id", "description", "prompt", "steps"])
            let id = item["id"]?.string ?? "session_\(index + 1)"
            let prompt = optionalString(item["prompt"], what: "prompt")
            guard let stepNodes = item["steps"]?.sequence, !stepNodes.isEmpty else {
                error(item["steps"]?.location ?? item.location, "session '\(id)' needs a non-empty 'steps' list")
                continue
            }
            var steps: [FixtureSuite.Step] = []
            for (offset, node) in stepNodes.enumerated() {
                guard node.mapping != nil else {
                    error(node.location, "a step must be a mapping with 'action' (and optional 'output', 'expect')")
                    continue
                }
                checkKeys(node, ["id", "description", "prompt", "action", "output", "expect"])
                let stepID = node["id"]?.string ?? "\(id)#\(offset + 1)"
                let stepPrompt = optionalString(node["prompt"], what: "prompt")
                var action: ActionEnvelope?
                if let actionNode = node["action"] {
                    action = envelope(actionNode, sessionID: id)
                    if action == nil { continue }
                } else if stepPrompt == nil {
                    error(node.location, "step '\(stepID)' needs an 'action' or a 'prompt'")
                    continue
                }
                if action == nil, node["expect"] != nil {
                    error(node.location, "step '\(stepID)' has 'expect' but no 'action' to decide")
                }
                if action == nil, node["output"] != nil {
                    error(node.location, "step '\(stepID)' has 'output' but no 'action' that produced it")
                }
                steps.append(
                    FixtureSuite.Step(
                        id: stepID, description: node["description"]?.string, location: node.location,
                        prompt: stepPrompt,
                        action: action, output: node["output"]?.json,
                        expect: node["expect"].map { expectation($0) } ?? FixtureSuite.Expectation()))
            }
            result.append(
                FixtureSuite.Session(
                    id: id, description: item["description"]?.string, location: item.location, prompt: prompt,
                    steps: steps))
        }
        return result
    }

    mutating func envelope(_ node: SourceNode, sessionID: String?) -> ActionEnvelope? {
        var json = node.json
        if let sessionID, case .object(var object) = json, object["session_id"] == nil {
            object["session_id"] = .string(sessionID)
            json = .object(object)
        }
        do {
            return try ActionEnvelope(json: json)
        } catch {
            let location = error.field.flatMap { node[$0]?.location } ?? node.location
            self.error(
                location, "invalid action: \(error.description)",
                hint: "an action needs actor, surface, tool and intent strings")
            return nil
        }
    }

    mutating func expectation(_ node: SourceNode) -> FixtureSuite.Expectation {
        var expect = FixtureSuite.Expectation()
        guard node.mapping != nil else {
            error(
                node.location,
                "expect must be a mapping (decision, rule_id, reason_contains, args_labels, session_labels)")
            return expect
        }
        checkKeys(node, ["decision", "rule_id", "reason_contains", "args_labels", "session_labels"])
        if let d = node["decision"] {
            if let s = d.string, let decision = Decision(rawValue: s) {
                expect.decision = decision
            } else {
                error(d.location, "expect.decision must be allow, ask or deny")
            }
        }
        expect.ruleID = optionalString(node["rule_id"], what: "expect.rule_id")
        if let r = node["reason_contains"] { expect.reasonContains = strings(r, what: "reason_contains") }
        if let l = node["args_labels"] { expect.argsLabels = strings(l, what: "args_labels") }
        if let l = node["session_labels"] { expect.sessionLabels = strings(l, what: "session_labels") }
        return expect
    }

    mutating func optionalString(_ node: SourceNode?, what: String) -> String? {
        guard let node else { return nil }
        if let s = node.string { return s }
        error(node.location, "\(what) must be a string, got a \(node.typeName)")
        return nil
    }

    mutating func strings(_ node: SourceNode, what: String) -> [String] {
        if let s = node.string { return [s] }
        if let items = node.sequence {
            var result: [String] = []
            for item in items {
                if let s = item.string { result.append(s) } else { error(item.location, "\(what) must hold strings") }
            }
            return result
        }
        error(node.location, "\(what) must be a string or a list of strings")
        return []
    }

    mutating func checkKeys(_ node: SourceNode, _ allowed: [String]) {
        for pair in node.mapping ?? [] where !allowed.contains(pair.key) {
            error(
                pair.keyNode.location, "unknown key '\(pair.key)'",
                hint: Suggestion.hint(for: pair.key, in: allowed, kind: "keys"))
        }
    }
}
