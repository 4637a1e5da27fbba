// `countersign-hook-client <agent> --signer ADDR`: the thin hook command for agents that can only run a
// command per tool call. It forwards the payload on stdin to the signer service and prints its answer; it
// links no policy, YAML, SQLite or crypto code (only the C library), so the agent waits for a process that
// does almost nothing. Every failure, a usage mistake included, exits 2: the agent's blocking code.
import CountersignSignerClient

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

let usage = """
    usage: countersign-hook-client <claude-code|codex|gemini|cursor> [--signer ADDR] [--timeout SECONDS]
    Forwards one hook call (the agent's JSON on stdin) to the Countersign signer service and prints its
    answer. ADDR is unix:/PATH or http://HOST:PORT (default: $COUNTERSIGN_SIGNER); a token for an HTTP
    signer comes from $COUNTERSIGN_TOKEN. If the service is down or late, the call is blocked (exit 2).

    """

func fail(_ message: String) -> Never {
    let text = "countersign-hook-client: \(message)\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    exit(2)
}

var agent: String?
var signer = HookForwarder.environment(SignerAddress.environmentVariable)
var timeout = HookForwarder.defaultTimeout
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--signer":
        guard let value = arguments.popFirst() else { fail("--signer needs an address") }
        signer = value
    case "--timeout":
        guard let value = arguments.popFirst(), let seconds = Double(value), seconds > 0, seconds <= 3600 else {
            fail("--timeout needs a number of seconds (0 < s <= 3600)")
        }
        timeout = seconds
    case "-h", "--help":
        _ = usage.utf8CString.withUnsafeBufferPointer { write(1, $0.baseAddress, $0.count - 1) }
        exit(0)
    default:
        if argument.hasPrefix("-") { fail("unknown option '\(argument)'\n" + usage) }
        if let agent { fail("unexpected argument '\(argument)' (the agent is '\(agent)')") }
        agent = argument
    }
}
guard let agent, ["claude-code", "codex", "gemini", "cursor"].contains(agent) else {
    fail("which agent? claude-code, codex, gemini or cursor\n" + usage)
}
guard let signer else { fail("no signer: pass --signer ADDR or set \(SignerAddress.environmentVariable)") }
let address: SignerAddress
do { address = try SignerAddress.parse(signer) } catch { fail(error.description) }
let answer = HookForwarder.forward(
    agent: agent, payload: HookForwarder.readStandardInput(), address: address, timeout: timeout,
    token: HookForwarder.environment("COUNTERSIGN_TOKEN"))
_ = answer.stdout.withUnsafeBufferPointer { write(1, $0.baseAddress, $0.count) }
_ = answer.stderr.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
exit(answer.exitCode)
