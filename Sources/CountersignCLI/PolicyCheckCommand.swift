import ArgumentParser
import CountersignCore
import CountersignPolicy

struct PolicyCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a policy and lint it.",
        discussion: """
            Errors (exit 1): unknown keys, wrong value types, invalid regexes or decisions, duplicate rule ids, \
            undeclared labels, approvals on a rule that does not ask. Warnings (exit 0): rules shadowed by an \
            earlier rule, rules that can never match, a default that allows. Every finding has file:line:column \
            and a hint.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The policy file.", valueName: "file"))
    var policy: String

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Flag(name: .long, help: "Treat warnings as errors (exit 1 when there are any).")
    var strict = false

    func run() throws {
        var diagnostics: [Diagnostic]
        var loaded: Policy?
        do {
            let p = try Policy.load(path: policy)
            loaded = p
            diagnostics = PolicyLint.check(p)
        } catch {
            diagnostics = error.diagnostics
        }
        let errors = diagnostics.filter { $0.severity == .error }.count
        let warnings = diagnostics.count - errors
        switch format {
        case .text:
            var lines = diagnostics.map(\.description)
            if let loaded {
                lines.append(
                    "\(policy): \(loaded.ruleIDs.count) rules, default \(loaded.defaultDecision.rawValue); "
                        + "\(warnings) warning\(warnings == 1 ? "" : "s")")
            } else {
                lines.append(
                    "\(policy): \(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")"
                )
            }
            let text = lines.joined(separator: "\n") + "\n"
            if errors > 0 { Terminal.error(text) } else { try Terminal.write(text) }
        case .json:
            let value: JSONValue = .object([
                "policy_path": .string(policy), "valid": .bool(errors == 0),
                "errors": .int(Int64(errors)), "warnings": .int(Int64(warnings)),
                "rules": .int(Int64(loaded?.ruleIDs.count ?? 0)),
                "diagnostics": .array(
                    diagnostics.map {
                        .object([
                            "severity": .string($0.severity.rawValue), "file": .string($0.location.file),
                            "line": .int(Int64($0.location.line)), "column": .int(Int64($0.location.column)),
                            "message": .string($0.message), "hint": $0.hint.map(JSONValue.string) ?? .null,
                        ])
                    }),
            ])
            try Terminal.write(Terminal.prettyJSON(value))
        }
        if errors > 0 || (strict && warnings > 0) { throw ExitCode(1) }
    }
}
