import CountersignCore
import CountersignGate
import CountersignHooks
import CountersignPolicy
import Foundation
import FuzzSupport

/// A hook payload of one dialect, through `HookRunner.run` and a real Gate writing a real JSONL ledger:
/// event → stage → tool call → envelope → decision → the dialect's answer (or a recorded outcome).
///
/// The first byte picks the dialect (its value modulo 4: `0` Claude Code, `1` Codex, `2` Gemini CLI,
/// `3` Cursor, so seeds can start with an ASCII digit); the rest is the payload. Checked:
/// - a payload that is not a JSON object with a string `hook_event_name` is blocked (exit 2, nothing on
///   stdout): an unparseable payload never gets an allow;
/// - the exit code is 0 or 2, and 2 only with a reason on stderr and nothing on stdout;
/// - what goes to stdout is empty or one line holding one JSON object.
let policy: Policy = {
    do {
        return try Policy.parse(
            """
            default_decision: ask
            labels:
              - {id: web, when: {surface: network}, output: [untrusted, external]}
            rules:
              - {id: no_rm, when: {surface: shell, command_matches: ["rm -rf"]}, decision: deny, reason: no recursive deletes}
              - {id: env, when: {target_glob: ["*.env"]}, decision: deny}
              - {id: tainted, when: {surface: shell, args_labels_any: [untrusted]}, decision: ask}
              - {id: push, when: {surface: shell, command_matches: ["git push"]}, decision: ask}
              - {id: reads, when: {intent: read}, decision: allow}
              - {id: shell, when: {surface: shell}, decision: allow}
            """)
    } catch {
        fatalError("the fuzz policy does not load: \(error)")
    }
}()
let gates = ScratchGate(name: "hooks", policy: policy)

@main
struct FuzzHooksMain {
    static func main() { runFuzzer { data, size in fuzzHooks(input(data, size)) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHooks(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzHooks(input(data, size))
}

func fuzzHooks(_ bytes: UnsafeBufferPointer<UInt8>) -> CInt {
    guard let first = bytes.first else { return 0 }
    let dialect = HookDialect.allCases[Int(first) % HookDialect.allCases.count]
    let payload = Data(UnsafeBufferPointer(rebasing: bytes.dropFirst()))
    let gate = gates.next()
    let result = runBlocking { await HookRunner(dialect: dialect, gate: gate).run(payload) }

    let parsed = try? JSONValue.parse(payload)
    let wellFormed = parsed?.objectValue?["hook_event_name"]?.stringValue != nil
    // A malformed payload blocks — except an after-event (the tool already ran) whose output cannot be read:
    // that one is recorded as `unreadable` and taints the session, and the hook says so on stderr.
    let unreadableOutcome =
        result.exitCode == 0 && result.stdout.isEmpty
        && result.stderr.contains("the session now treats every argument as carrying the output's labels")
    if !wellFormed && !unreadableOutcome && (result.exitCode != 2 || !result.stdout.isEmpty) {
        finding("a malformed \(dialect.rawValue) payload was not blocked: exit \(result.exitCode), \(result.stdout)")
    }
    switch result.exitCode {
    case 0: break
    case 2:
        guard result.stdout.isEmpty, !result.stderr.isEmpty else {
            finding("a block must say why on stderr and print nothing on stdout: \(result)")
        }
    default: finding("exit code \(result.exitCode) (agents treat only 2 as a block)")
    }
    if !result.stdout.isEmpty {
        guard result.stdout.hasSuffix("\n"), result.stdout.utf8.filter({ $0 == 0x0A }).count == 1,
            case .object = try? JSONValue.parse(String(result.stdout.dropLast()))
        else {
            finding("stdout is not one line of one JSON object: \(result.stdout)")
        }
    }
    return 0
}
