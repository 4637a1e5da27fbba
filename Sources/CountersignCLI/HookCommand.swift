import ArgumentParser
import CountersignCore
import CountersignGate
import CountersignHooks
import Foundation

/// `countersign hook <agent>`: one process per hook call, reading the agent's JSON on stdin.
///
/// Its arguments are parsed by the hook layer's own parser (the one `countersign-hook` uses), not by the
/// argument parser: a usage mistake in an agent's settings must answer with the agent's blocking exit code
/// 2, never the parser's 64, which the agent would treat as "let the call through".
struct HookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "Answer one coding-agent hook call (Claude Code, Codex, Gemini CLI, Cursor) from its JSON on stdin.",
        usage: """
            countersign hook <claude-code|codex|gemini|cursor> [--policy FILE] [--ledger PATH] [--sessions PATH]
                             [--key FILE] [--sync normal|full] [--lock-timeout SECONDS] [--no-redaction]
                             [--approval-server URL] [--approval-server-token-env NAME]
            countersign hook <agent> --signer unix:/PATH|http://HOST:PORT [--signer-timeout SECONDS]
            """,
        discussion: """
            Configure the agent to run it for PreToolUse, PermissionRequest, PostToolUse, PostToolUseFailure, \
            PermissionDenied and UserPromptSubmit (countersign install does). Decisions answer in the agent's \
            schema. Every failure — an unknown or missing option, a bad value, an extra argument, a bad payload, \
            an unreadable policy, ledger or key, an internal error, even a crash — answers with the agent's \
            blocking signal: exit code 2 and the reason on stderr, never another code, which the agent treats as \
            non-blocking. A tool that ran with no allow on record is recorded as `unmediated` \
            (countersign receipts --status unmediated).

            With --signer (or $COUNTERSIGN_SIGNER) the call is forwarded to the signer service (countersign \
            serve --socket PATH), which decides and records it: this process loads no policy, opens no ledger \
            and holds no key. If the service is down or does not answer within --signer-timeout (30s), the call \
            is blocked (exit 2). The thin client countersign-hook-client does the same and starts faster. See \
            docs/hooks.md and docs/deployment.md.
            """
    )

    @Argument(parsing: .allUnrecognized, help: "The agent, then the options above.")
    var arguments: [String] = []

    func run() async throws {
        HookProcess.installCrashGuard()
        let options: HookProcess.Options
        do {
            options = try HookProcess.parse(arguments)
        } catch {
            FileHandle.standardError.write(Data((error.message + "\n").utf8))
            throw ExitCode(error.isHelp ? 0 : 2)
        }
        let input = (try? Terminal.readStandardInput()) ?? Data()
        let result = await answer(options, input)
        if !result.stdout.isEmpty { FileHandle.standardOutput.write(Data(result.stdout.utf8)) }
        if !result.stderr.isEmpty { FileHandle.standardError.write(Data(result.stderr.utf8)) }
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }

    func answer(_ options: HookProcess.Options, _ input: Data) async -> HookResult {
        if let forwarded = HookProcess.forwarded(options, input: [UInt8](input)) { return forwarded }
        let secondKey: (any ApprovalProvider)?
        do {
            secondKey = try ApprovalServerOptions.provider(
                url: options.approvalServer, tokenEnv: options.approvalServerTokenEnv)
        } catch {
            return .block("\(error)")
        }
        return await HookProcess.answer(options, input: input, secondKey: secondKey)
    }
}
