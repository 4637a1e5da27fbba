// `countersign-hook <agent> …`: the coding-agent hook as a small executable of its own. It links only
// the hook layer (no server, no MCP proxy), so the agent waits for a process that starts fast.
import CountersignCore
import CountersignHooks
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

StateDirectory.restrictNewFiles()
HookProcess.installCrashGuard()
let options: HookProcess.Options
do {
    options = try HookProcess.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    FileHandle.standardError.write(Data((error.message + "\n").utf8))
    // A usage mistake in the agent's settings must still block the tool call (exit 2), never allow it.
    exit(error.isHelp ? 0 : 2)
}
if options.signer != nil {
    // The signer service decides and records: nothing here loads a policy, opens a ledger or holds a key.
    let answer = HookProcess.forwarded(options, input: [UInt8](FileHandle.standardInput.readDataToEndOfFile()))!
    if !answer.stdout.isEmpty { FileHandle.standardOutput.write(Data(answer.stdout.utf8)) }
    if !answer.stderr.isEmpty { FileHandle.standardError.write(Data(answer.stderr.utf8)) }
    exit(answer.exitCode)
}
if options.approvalServer != nil {
    // Waiting for reviewers takes seconds: hand the call to the full binary, which has the HTTP client.
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    let full = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("countersign").path
    let argv = [full, "hook"] + CommandLine.arguments.dropFirst()
    var cArgs = argv.map { strdup($0) } + [nil]
    execv(full, &cArgs)
    FileHandle.standardError.write(Data("countersign-hook: --approval-server needs \(full): \(errno)\n".utf8))
    exit(2)
}
let input = FileHandle.standardInput.readDataToEndOfFile()
let result = await HookProcess.answer(options, input: input)
if !result.stdout.isEmpty { FileHandle.standardOutput.write(Data(result.stdout.utf8)) }
if !result.stderr.isEmpty { FileHandle.standardError.write(Data(result.stderr.utf8)) }
exit(result.exitCode)
