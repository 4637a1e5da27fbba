import ArgumentParser
import CountersignCore
import CountersignGate
import CountersignHooks
import CountersignLedger
import CountersignPolicy
import CountersignProvenance
import Foundation

/// `countersign hook <agent>`: one process per hook call, reading the agent's JSON on stdin.
struct HookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "Answer one coding-agent hook call (Claude Code, Codex, Gemini CLI, Cursor) from its JSON on stdin.",
        discussion: """
            Configure the agent to run `countersign hook claude-code --policy P` for PreToolUse, \
            PermissionRequest, PostToolUse, PostToolUseFailure, PermissionDenied and UserPromptSubmit. \
            Decisions answer in the agent's schema; every failure (bad payload, unreadable policy or \
            ledger, internal error) answers with the agent's blocking signal — exit code 2 and the reason \
            on stderr — never exit 1, which the agent treats as non-blocking. A tool that ran with no allow \
            on record is recorded as `unmediated` (countersign receipts --status unmediated).
            """
    )

    @Argument(help: "claude-code, codex, gemini or cursor") var agent: String
    @Option(name: .long, help: ArgumentHelp("The policy (default .countersign/policy.yaml).", valueName: "file"))
    var policy: String?
    @OptionGroup var ledger: LedgerOptions
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Session state shared by hook processes (default .countersign/sessions.sqlite).", valueName: "path"))
    var sessions: String?
    @OptionGroup var approvalServer: ApprovalServerOptions

    func run() async throws {
        let input = (try? Terminal.readStandardInput()) ?? Data()
        let result = await answer(input)
        if !result.stdout.isEmpty { FileHandle.standardOutput.write(Data(result.stdout.utf8)) }
        if !result.stderr.isEmpty { FileHandle.standardError.write(Data(result.stderr.utf8)) }
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }

    func answer(_ input: Data) async -> HookResult {
        var options = HookProcess.Options()
        options.agent = agent
        options.policy = policy
        options.ledger = ledger.ledger
        options.sessions = sessions
        options.sync = ledger.sync
        options.key = ledger.key
        options.noRedaction = ledger.noRedaction
        let secondKey: (any ApprovalProvider)?
        do { secondKey = try approvalServer.provider() } catch { return .block("\(error)") }
        return await HookProcess.answer(options, input: input, secondKey: secondKey)
    }
}
