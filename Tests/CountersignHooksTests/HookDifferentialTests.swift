import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import CountersignProvenance
import Foundation
import Testing

@testable import CountersignHooks

/// Every session case of every example suite, played through the hook — one fresh Gate per call, as one
/// process per call would, with session state on disk — decides exactly as the same steps evaluated in
/// process (what `countersign policy test` does), and, where the hook maps an action to the envelope the
/// suite wrote, exactly as the suite expects.
@Suite("Hook path and policy test agree")
struct HookDifferentialTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let suites: [String] = {
        let dir = root.appendingPathComponent("examples/policies").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
            $0.hasSuffix("-tests.yaml")
        }
        .sorted().map { dir + "/" + $0 }
    }()

    @Test(arguments: suites)
    func sessionsDecideTheSameThroughTheHook(suitePath: String) async throws {
        let suite = try FixtureSuite.load(path: suitePath)
        let policy = try Policy.load(path: suitePath.replacingOccurrences(of: "-tests.yaml", with: ".yaml"))
        var compared = 0
        for session in suite.sessions {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "cs-diff-\(UUID().uuidString)"
            ).path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let key = SigningKey.generate()
            func hook(_ payload: JSONValue) async throws -> HookResult {
                let gate = Gate(
                    policy: policy,
                    writer: LedgerWriter(
                        store: try ReceiptStores.open(path: directory + "/l.sqlite"), sealer: Sealer(key: key)),
                    sessions: try SessionStore(path: directory + "/s.sqlite", sealer: testSealer))
                return await HookRunner(dialect: .claudeCode, gate: gate).run(Data(CanonicalJSON.string(payload).utf8))
            }
            let sessionID = "diff-\(session.id)"
            var state = policy.makeSession(id: sessionID)
            func prompt(_ text: String) async throws {
                state.recordTrustedInput(text)
                _ = try await hook([
                    "session_id": .string(sessionID), "hook_event_name": "UserPromptSubmit", "prompt": .string(text),
                ])
            }
            if let text = session.prompt { try await prompt(text) }
            for (index, step) in session.steps.enumerated() {
                if let text = step.prompt { try await prompt(text) }
                guard let action = step.action else { continue }
                var payload: [String: JSONValue] = [
                    "session_id": .string(sessionID), "hook_event_name": "PreToolUse",
                    "tool_name": .string(action.tool),
                    "tool_input": .object(action.args), "tool_use_id": .string("step\(index)"),
                ]
                if let cwd = action.metadata["cwd"] { payload["cwd"] = cwd }
                // The envelope the hook builds for this call, decided in process on the in-memory session.
                let runner = HookRunner(
                    dialect: .claudeCode,
                    gate: Gate(
                        policy: policy,
                        writer: LedgerWriter(
                            store: try ReceiptStores.open(path: directory + "/x.sqlite"), sealer: Sealer(key: key))))
                let envelope = try runner.envelope("PreToolUse", payload)
                let expected = policy.evaluate(envelope, session: state)
                let answer = try JSONValue.parse(try await hook(.object(payload)).stdout)
                let got = answer["hookSpecificOutput"]?["permissionDecision"]?.stringValue
                let wanted =
                    expected.decision == .ask && !Gate.nativeDialogSatisfies(expected.approvals)
                    ? "deny" : expected.decision.rawValue
                #expect(
                    got == wanted,
                    "\(suitePath) \(session.id) step \(index): hook \(got ?? "nil"), in process \(wanted)")
                // Where the hook's envelope is the one the suite wrote, the suite's expectation holds too.
                if let decision = step.expect.decision, envelope.actor == action.actor,
                    envelope.surface == action.surface,
                    envelope.intent == action.intent, envelope.derivedTarget == action.derivedTarget
                {
                    #expect(expected.decision == decision, "\(session.id) step \(index)")
                }
                compared += 1
                if let output = step.output {
                    state.recordOutput(output, labels: policy.outputLabels(for: envelope, session: state))
                    var after = payload
                    after["hook_event_name"] = "PostToolUse"
                    after["tool_response"] = output
                    #expect(try await hook(.object(after)).exitCode == 0)
                }
            }
        }
        #expect(compared > 0 || suite.sessions.isEmpty)
    }
}
