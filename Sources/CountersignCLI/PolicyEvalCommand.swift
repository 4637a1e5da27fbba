import ArgumentParser
import CountersignCore
import CountersignPolicy
import CountersignProvenance
import Foundation

struct PolicyEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Decide one action and explain the decision.",
        discussion: """
            Prints the decision, the matched rule and its reason, and for every rule before it which check \
            failed and why. The action is an envelope (actor, surface, tool, intent, target, args, risk, \
            session_id, trace_id, metadata, labels) as JSON or YAML, from --action-json, --action-file or stdin.

            Example:
              countersign policy eval --policy examples/policies/claude-code.yaml \\
                --action-json '{"actor":"claude-code","surface":"claude-code","tool":"Bash","intent":"execute","args":{"command":"rm -rf build"}}'

            Exit codes: 0 whatever the decision; 1 for an invalid policy or action.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The policy file (YAML or JSON).", valueName: "file"))
    var policy: String

    @Option(name: .long, help: ArgumentHelp("Read the action from this file.", valueName: "file"))
    var actionFile: String?

    @Option(name: .long, help: ArgumentHelp("The action as inline JSON or YAML.", valueName: "json"))
    var actionJSON: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Trusted text the user typed, recorded before deciding (repeatable).", valueName: "text"))
    var prompt: [String] = []

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(name: .long, help: ArgumentHelp("Write the result to this file instead of stdout.", valueName: "path"))
    var output: String?

    func validate() throws {
        if actionFile != nil && actionJSON != nil {
            throw ValidationError("give the action once: --action-file or --action-json, not both")
        }
    }

    func run() throws {
        do {
            let loaded = try Policy.load(path: policy)
            let action = try readAction()
            var session: SessionState?
            if !prompt.isEmpty {
                var state = loaded.makeSession(id: action.sessionID ?? "cli")
                for text in prompt { state.recordTrustedInput(text) }
                session = state
            }
            let explanation = loaded.explain(action, session: session)
            switch format {
            case .text: try Terminal.write(Self.text(explanation, policyPath: policy), to: output)
            case .json: try Terminal.write(Terminal.prettyJSON(Self.json(explanation, policyPath: policy)), to: output)
            }
        } catch let error as PolicyLoadError {
            Terminal.error(error.description)
            throw ExitCode(1)
        } catch let error as CLIError {
            Terminal.error("error: \(error.description)")
            throw ExitCode(1)
        }
    }

    func readAction() throws -> ActionEnvelope {
        let text: String
        let origin: String
        if let actionJSON {
            text = actionJSON
            origin = "--action-json"
        } else if let actionFile {
            guard let data = FileManager.default.contents(atPath: actionFile) else {
                throw CLIError("cannot read action file '\(actionFile)'")
            }
            text = String(decoding: data, as: UTF8.self)
            origin = actionFile
        } else {
            text = String(decoding: try Terminal.readStandardInput(), as: UTF8.self)
            origin = "<stdin>"
        }
        guard !text.allSatisfy(\.isWhitespace) else {
            throw CLIError("no action payload provided; pass --action-json, --action-file or pipe JSON on stdin")
        }
        guard let node = try SourceNode.parse(text, file: origin) else {
            throw CLIError("no action payload provided")
        }
        do {
            return try ActionEnvelope(json: node.json)
        } catch {
            let location = error.field.flatMap { node[$0]?.location } ?? node.location
            throw CLIError("\(location): invalid action: \(error.description)")
        }
    }

    static func text(_ explanation: Explanation, policyPath: String) -> String {
        var lines = [
            "Policy: \(policyPath)", "Decision: \(explanation.outcome.decision.rawValue)",
            "Matched rule: \(explanation.outcome.ruleID)", "Reason: \(explanation.outcome.reason)",
        ]
        if let approvals = explanation.outcome.approvals, explanation.outcome.decision == .ask {
            var parts = ["quorum \(approvals.quorum)"]
            if !approvals.reviewers.isEmpty { parts.append("reviewers \(approvals.reviewers.joined(separator: ", "))") }
            if !approvals.groups.isEmpty { parts.append("groups \(approvals.groups.joined(separator: ", "))") }
            if let timeout = approvals.timeoutSeconds { parts.append("timeout \(Int(timeout))s") }
            if !approvals.channels.isEmpty {
                parts.append("channels \(approvals.channels.map(\.rawValue).joined(separator: ", "))")
            }
            lines.append("Second key: \(parts.joined(separator: "; "))")
        }
        if !explanation.sessionLabels.isEmpty || !explanation.argumentLabels.isEmpty {
            lines.append(
                "Labels: session [\(explanation.sessionLabels.joined(separator: ", "))], arguments [\(explanation.argumentLabels.joined(separator: ", "))]"
            )
        }
        lines.append("")
        lines.append("Action:")
        lines += explanation.action.previewLines.map { "- \($0)" }
        lines.append("")
        lines.append("Rule trace:")
        for (index, rule) in explanation.rules.enumerated() {
            let state = rule.skipped ? "skipped" : rule.matched ? "matched" : "no-match"
            lines.append("\(index + 1). \(rule.ruleID) -> \(state) (\(rule.decision.rawValue))")
            lines.append("   \(rule.summary)")
            for check in rule.checks { lines.append("   \(check.matched ? "+" : "x") \(check.detail)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func json(_ explanation: Explanation, policyPath: String) -> JSONValue {
        .object([
            "policy_path": .string(policyPath), "action": explanation.action.jsonValue,
            "action_hash": .string(explanation.action.actionHash), "outcome": explanation.outcomeJSON,
            "rules": explanation.rulesJSON,
            "labels": .object([
                "session": .array(explanation.sessionLabels.map(JSONValue.string)),
                "arguments": .array(explanation.argumentLabels.map(JSONValue.string)),
            ]),
        ])
    }
}
