import ArgumentParser

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Evaluate, test and check policies.",
        discussion: """
            A policy is a YAML (or JSON) file: an ordered list of rules, first match wins, and a default \
            decision. DualKey policy files load unchanged. See docs/policy-language.md.
            """,
        subcommands: [PolicyEvalCommand.self, PolicyTestCommand.self, PolicyCheckCommand.self]
    )
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
