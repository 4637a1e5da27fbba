import ArgumentParser
import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation

/// `countersign demo`: DualKey's three scenarios, decided by the Gate and recorded in the ledger.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the three demo scenarios and record their receipts.",
        discussion: """
            git-push: a coding agent asked to "fix the bug and open a PR" tries to write /repo/.env (denied) \
            and to push main (needs a second key). payment: a browser agent clicks "Pay now" (needs a second \
            key). dangerous-shell: a shell agent runs rm -rf (denied).

            The second key is asked on the terminal when there is one; otherwise the ask is rejected, unless \
            --auto-approve. Receipts go to the default SQLite ledger (.countersign/ledger.sqlite).
            """
    )

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case all
        case gitPush = "git-push"
        case payment
        case dangerousShell = "dangerous-shell"
        case mcpShimEval = "mcp-shim-eval"
    }

    @Argument(help: "all, git-push, payment, dangerous-shell, or mcp-shim-eval (a poisoned MCP server, scored)")
    var scenario: Scenario = .all
    @Flag(name: .long, help: "Approve every second-key request (for scripts and CI).") var autoApprove = false
    @Option(name: .long, help: ArgumentHelp("Use this policy instead of the built-in demo policy.", valueName: "file"))
    var policy: String?
    @OptionGroup var ledger: LedgerOptions

    static let embeddedPolicy = #"""
        # The policy `countersign demo` uses (embedded in the binary; this copy is for reading and editing).
        # DualKey's demo policy, with reasons and approval requirements. Only reads under /repo/docs/ run without a
        # second key (paths are matched normalised, so /repo/docs/../.countersign/signing-key is not one of them).
        version: 1
        name: demo
        default_decision: ask
        rules:
          - id: docs_reads_are_safe
            when: {intent: read, target_prefix: /repo/docs/}
            decision: allow
          - id: git_push_requires_second_key
            when: {tool: shell.exec, command_matches: [git push]}
            decision: ask
            reason: Pushing publishes code; a human confirms it.
            approvals: {quorum: 1, timeout: 2m, channels: [tty, web]}
          - id: prod_and_secret_writes_are_denied
            when: {intent: write, tags_any: [secrets, prod]}
            decision: deny
            reason: Writes to secret or production files are denied.
          - id: payment_click_requires_second_key
            when: {tool: browser.click, tags_any: [payment]}
            decision: ask
            reason: This click moves money; a human confirms the amount and recipient.
            approvals: {quorum: 1, timeout: 2m, channels: [tty, web]}
          - id: destructive_shell_is_denied
            when:
              tool: shell.exec
              # rm with a recursive and a force flag in any spelling (-rf, -Rf, -r -f, --recursive --force), by any
              # path (/bin/rm), escaped (\rm) or behind a wrapper (sudo, command, xargs, ...).
              arg_regex: {command: "(^|[\\s;&|(`])(sudo\\s+|doas\\s+|command\\s+|exec\\s+|env\\s+|nice\\s+|nohup\\s+|time\\s+|xargs\\s+)*(\\S*/)?\\\\?['\"]?rm['\"]?(?=\\s)(?=[^;&|\\n]*\\s(-[a-zA-Z'\"\\\\]*[rR]|--r[a-z]*\\b))(?=[^;&|\\n]*\\s(-[a-zA-Z'\"\\\\]*f|--f[a-z]*\\b))"}
            decision: deny
            reason: Recursive deletes are denied.

        """#

    func run() async throws {
        if scenario == .mcpShimEval { return try runShimEval() }
        try await reportingErrorsAsync {
            let loaded: Policy
            do {
                loaded =
                    try policy.map { try Policy.load(path: $0) }
                    ?? Policy.parse(Self.embeddedPolicy, path: "<built-in demo policy>")
            } catch let error as PolicyLoadError {
                throw CLIError(error.description)
            }
            let store = try ledger.openStore()
            let sealer = try ledger.sealer(mode: .create)
            let writer = LedgerWriter(
                store: store, sealer: sealer,
                checkpointer: Checkpointer(store: store, key: sealer.key, report: { Terminal.error($0) }))
            let interactive = isatty(STDIN_FILENO) == 1 && TTYApproval().isAvailable()
            let providers: [any ApprovalProvider] = autoApprove ? [AutoApprove()] : interactive ? [TTYApproval()] : []
            let gate = Gate(policy: loaded, writer: writer, providers: providers, defaultApprovalTimeout: 120)
            let before = try store.count()
            print("Countersign demo — policy: \(loaded.path); ledger: \(ledger.ledgerPath)")
            if !autoApprove && !interactive {
                print("(no terminal: second-key requests will be rejected; pass --auto-approve to approve them)")
            }
            let run = UUID().uuidString.prefix(8).lowercased()
            for scenario in scenarios {
                print("")
                print("== \(scenario.title)")
                for (index, action) in scenario.actions.enumerated() {
                    var envelope = action
                    envelope.sessionID = "demo-\(scenario.name)-\(run)"
                    envelope.traceID = "demo-\(scenario.name)-\(run):\(index + 1)"
                    for line in envelope.previewLines { print("   " + TerminalSafe.neutralise(line)) }
                    let decision = await gate.decide(envelope)
                    if decision.allowed {
                        let result = scenario.results[index]
                        try await gate.recordOutcome(of: decision, status: "executed", result: .string(result))
                        let approvers = decision.approvals.filter { $0.verdict == .approve }.map(\.reviewer)
                        print(
                            "[executed] \(envelope.tool) -> \(decision.finalDecision.rawValue)"
                                + (approvers.isEmpty ? "" : " by \(approvers.joined(separator: ", "))") + ": \(result)")
                    } else {
                        print(
                            "[blocked]  \(envelope.tool) -> \(decision.finalDecision.rawValue) via \(decision.outcome.ruleID): \(decision.reason)"
                        )
                    }
                }
            }
            await writer.close()
            let after = try store.count()
            print("")
            print(
                "Wrote \(after - before) signed, hash-chained receipts to \(ledger.ledgerPath). Inspect and verify them:"
            )
            let ledgerArgument = ledger.ledger.map { " \($0)" } ?? ""
            print("  countersign receipts\(ledgerArgument) --format timeline")
            print("  countersign receipts\(ledgerArgument) --format html --output receipts.html")
            print("  countersign verify\(ledgerArgument)")
        }
    }

    func runShimEval() throws {
        var improvedAll = false
        try reportingErrors {
            let directory = StateDirectory.path + "/shim-eval"
            let policyText = try policy.map { try String(contentsOfFile: $0, encoding: .utf8) } ?? ShimEval.policy
            print("Countersign MCP shim eval — a poisoned server and an obedient agent, without and with the proxy")
            let checks = try ShimEval.run(directory: directory, policyText: policyText)
            print("")
            print(ShimEval.table(checks))
            let improved = checks.filter(\.improved).count
            print("")
            print("Countersign improved \(improved)/\(checks.count) checks")
            print("Evidence: countersign receipts \(directory)/ledger.sqlite --format timeline")
            improvedAll = improved == checks.count
        }
        if !improvedAll { throw ExitCode(1) }
    }

    struct Script {
        let name: String
        let title: String
        let actions: [ActionEnvelope]
        let results: [String]
    }

    var scenarios: [Script] {
        let all: [Script] = [
            Script(
                name: "git-push", title: "git-push: a coding agent asked to \"fix the bug and open a PR\"",
                actions: [
                    ActionEnvelope(
                        actor: "coding-agent", surface: "file", tool: "filesystem.write", intent: "write",
                        target: "/repo/.env",
                        args: ["path": "/repo/.env", "content": "STRIPE_SECRET_KEY=sk_live_51Hdemo0000000000000000"],
                        risk: ["secrets", "write", "critical-file"]),
                    ActionEnvelope(
                        actor: "coding-agent", surface: "shell", tool: "shell.exec", intent: "execute",
                        target: "origin/main",
                        args: ["command": "git push origin main"], risk: ["git", "branch-protection"]),
                ],
                results: ["wrote /repo/.env", "pushed main to origin"]),
            Script(
                name: "payment", title: "payment: a browser agent asked to \"finish checkout\"",
                actions: [
                    ActionEnvelope(
                        actor: "browser-agent", surface: "browser", tool: "browser.click", intent: "click",
                        target: "button#pay-now",
                        args: [
                            "selector": "button#pay-now", "amount": "149.00", "currency": "EUR",
                            "shipping_address": "12 Elm Street, Springfield",
                        ],
                        risk: ["payment", "checkout"], metadata: ["page_url": "https://shop.example/checkout/review"])
                ],
                results: ["order #1042 paid: 149.00 EUR"]),
            Script(
                name: "dangerous-shell", title: "dangerous-shell: a shell agent asked to \"clean up temp files\"",
                actions: [
                    ActionEnvelope(
                        actor: "shell-agent", surface: "shell", tool: "shell.exec", intent: "execute",
                        target: "/tmp/demo",
                        args: ["command": "rm -rf /tmp/demo"], risk: ["destructive"])
                ],
                results: ["removed /tmp/demo"]),
        ]
        switch scenario {
        case .all: return all
        case .gitPush: return [all[0]]
        case .payment: return [all[1]]
        case .dangerousShell: return [all[2]]
        case .mcpShimEval: return []
        }
    }
}

extension DemoCommand.Scenario {}
