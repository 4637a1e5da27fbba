import Foundation
import Testing

@Suite("demo, receipts, verify, replay, keys")
struct LedgerCLITests {
    @Test func demoWritesAVerifiableSQLiteLedger() throws {
        let dir = CLI.temporaryDirectory()
        let demo = try CLI.run(["demo"], stdin: "", in: dir)
        #expect(demo.status == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains("[blocked]  filesystem.write -> deny via prod_and_secret_writes_are_denied"))
        #expect(demo.stdout.contains("[blocked]  shell.exec -> ask->rejected via git_push_requires_second_key"))
        #expect(demo.stdout.contains("[blocked]  browser.click -> ask->rejected via payment_click_requires_second_key"))
        #expect(demo.stdout.contains("[blocked]  shell.exec -> deny via destructive_shell_is_denied"))
        #expect(demo.stdout.contains("countersign verify"))
        #expect(demo.stderr.contains("generated a new signing key"))
        #expect(FileManager.default.fileExists(atPath: dir + "/.countersign/ledger.sqlite"))
        let verify = try CLI.run(["verify"], in: dir)
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect(verify.stdout.contains("VALID"))
        #expect(verify.stdout.contains("receipts: 6"))
        #expect(verify.stdout.contains("trust: pinned (\(dir)/.xdg-config/countersign/trusted-keys.json)"))
        #expect(verify.stdout.contains("checkpoint: checked against checkpoint 6 (beside the ledger)"))

        let approved = try CLI.run(["demo", "git-push", "--auto-approve"], in: dir)
        #expect(approved.stdout.contains("[executed] shell.exec -> ask->approved by auto-approve"))
        #expect(!approved.stderr.contains("generated a new signing key"))  // said once
        let executed = try CLI.run(["receipts", "--status", "executed", "--format", "json"], in: dir)
        let rows = try JSONSerialization.jsonObject(with: Data(executed.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.count == 1)
        #expect((rows?.first?["result"] as? [String: Any])?["preview"] as? String == "pushed main to origin")
        #expect(try CLI.run(["verify"], in: dir).status == 0)
    }

    @Test func receiptsFormats() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["demo", "--auto-approve"], in: dir)
        let table = try CLI.run(["receipts"], in: dir)
        #expect(table.stdout.hasPrefix("seq  time"))
        let timeline = try CLI.run(["receipts", "--format", "timeline", "--decision", "deny"], in: dir)
        #expect(timeline.stdout.contains("rule=destructive_shell_is_denied"))
        #expect(!timeline.stdout.contains("ask->approved"))
        let markdown = try CLI.run(["receipts", "--format", "markdown"], in: dir)
        #expect(markdown.stdout.hasPrefix("# Countersign audit report"))
        let jsonl = try CLI.run(["receipts", "--format", "jsonl", "--kind", "approval"], in: dir)
        #expect(jsonl.stdout.split(separator: "\n").count == 2)
        let html = try CLI.run(["receipts", "--format", "html", "--output", "view.html"], in: dir)
        #expect(html.status == 0)
        let page = try String(contentsOfFile: dir + "/view.html", encoding: .utf8)
        #expect(page.contains("Content-Security-Policy"))
        #expect(page.contains("id=\"search\""))
        #expect(!page.contains("<script src"))
        let missing = try CLI.run(["receipts", "nope.sqlite"], in: dir)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no ledger at nope.sqlite"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/nope.sqlite"))
    }

    @Test func bundlesExportAndVerifyAndCatchTampering() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["demo", "--auto-approve", "--ledger", "l.jsonl"], in: dir)
        let trace = try CLI.run(["receipts", "l.jsonl", "--format", "jsonl", "--kind", "outcome"], in: dir).stdout
        let traceID =
            (try JSONSerialization.jsonObject(with: Data(trace.split(separator: "\n")[0].utf8)) as? [String: Any])?[
                "trace_id"] as! String
        let export = try CLI.run(
            ["receipts", "l.jsonl", "--trace", traceID, "--format", "bundle", "--output", "bundle"], in: dir)
        #expect(export.status == 0, "\(export.stderr)")
        let good = try CLI.run(["verify", "bundle"], in: dir)
        #expect(good.status == 0, "\(good.stdout)")
        #expect(good.stdout.contains("file receipts.jsonl: ok"))
        try "tampered\n".write(toFile: dir + "/bundle/timeline.txt", atomically: true, encoding: .utf8)
        let bad = try CLI.run(["verify", "bundle", "--format", "json"], in: dir)
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("timeline.txt was changed after export"))
    }

    @Test func verifyNamesTheFirstBadReceiptAndHonoursTrustedKeys() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["demo", "--ledger", "l.jsonl"], in: dir)
        let key = try CLI.run(["keys", "show", "--format", "json"], in: dir)
        let publicKey =
            (try JSONSerialization.jsonObject(with: Data(key.stdout.utf8)) as? [String: Any])?["public_key"] as! String
        #expect(try CLI.run(["verify", "l.jsonl", "--trusted-key", publicKey], in: dir).status == 0)
        let other = String(repeating: "3b", count: 32)
        let untrusted = try CLI.run(
            ["verify", "l.jsonl", "--trusted-key", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"],
            in: dir)
        #expect(untrusted.status == 1)
        #expect(untrusted.stdout.contains("not a trusted signer"))
        _ = other
        var lines = try String(contentsOfFile: dir + "/l.jsonl", encoding: .utf8).split(separator: "\n").map(
            String.init)
        lines[2] = lines[2].replacingOccurrences(of: "\"blocked\"", with: "\"authorized\"")
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/l.jsonl", atomically: true, encoding: .utf8)
        let edited = try CLI.run(["verify", "l.jsonl"], in: dir)
        #expect(edited.status == 1)
        #expect(edited.stdout.contains("first problem: receipt #3"))
        #expect(edited.stdout.contains("hash mismatch"))
    }

    @Test func replayListsChangesUnderANewPolicy() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["demo", "--auto-approve"], in: dir)
        let strict = try CLI.temporaryFile(
            "strict.yaml",
            "default_decision: deny\nrules:\n  - {id: pay_ok, when: {tool: browser.click}, decision: allow}\n")
        let timeline = try CLI.run(["replay"], in: dir)
        #expect(timeline.status == 0)
        #expect(!timeline.stdout.contains("Replay under"))
        let replay = try CLI.run(["replay", "--policy", strict], in: dir)
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.contains("4 decisions, 4 changed"))
        #expect(replay.stdout.contains("ask (git_push_requires_second_key) -> deny via rule default"))
        #expect(replay.stdout.contains("ask (payment_click_requires_second_key) -> allow via rule pay_ok"))
        #expect(
            replay.stdout.contains("Summary: ask -> deny: 1, ask -> allow: 1, deny -> deny: 2, unchanged: 0")
                || replay.stdout.contains("deny -> deny: 2"))
        let html = try CLI.run(["replay", "--policy", strict, "--format", "html", "--output", "what-if.html"], in: dir)
        #expect(html.status == 0)
        #expect(try String(contentsOfFile: dir + "/what-if.html", encoding: .utf8).contains("4 of 4 decisions change"))
    }

    @Test func keysGenerateShowRotateAndVerifyRotation() throws {
        let dir = CLI.temporaryDirectory()
        let generated = try CLI.run(["keys", "generate", "--out", "k/key"], in: dir)
        #expect(generated.status == 0)
        #expect(try CLI.run(["keys", "generate", "--out", "k/key"], in: dir).status == 1)
        let rotated = try CLI.run(["keys", "rotate", "--key", "k/key", "--manifest", "rotation.json"], in: dir)
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(try CLI.run(["keys", "verify-rotation", "rotation.json"], in: dir).status == 0)
        var manifest = try String(contentsOfFile: dir + "/rotation.json", encoding: .utf8)
        manifest = manifest.replacingOccurrences(of: "\"rotated_at\" : \"2", with: "\"rotated_at\" : \"1")
        try manifest.write(toFile: dir + "/rotation.json", atomically: true, encoding: .utf8)
        let tampered = try CLI.run(["keys", "verify-rotation", "rotation.json"], in: dir)
        #expect(tampered.status == 1)
        #expect(tampered.stderr.contains("payload hash mismatch"))
    }

    @Test func pruneKeepsAVerifiableLedger() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["ledger", "bench", "--ledger", "l.sqlite", "--count", "50"], in: dir)
        let prune = try CLI.run(["ledger", "prune", "--ledger", "l.sqlite", "--keep-last", "10"], in: dir)
        #expect(prune.stdout.contains("pruned 40 receipts; checkpoint #51"))
        let verify = try CLI.run(["verify", "l.sqlite"], in: dir)
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect(verify.stdout.contains("pruned: seq 1…40 (40 receipts), recorded by checkpoint #51"))
    }
}

@Suite("Several processes, one ledger")
struct MultiProcessLedgerTests {
    func start(_ arguments: [String], in dir: String) throws -> Process {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        process.environment = CLI.environment(in: dir)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test func twoProcessesAppendingTenThousandEachLeaveOneValidChain() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["keys", "generate"], in: dir)  // both processes sign with the same local key
        let a = try start(["ledger", "bench", "--ledger", "shared.sqlite", "--count", "10000"], in: dir)
        let b = try start(["ledger", "bench", "--ledger", "shared.sqlite", "--count", "10000"], in: dir)
        a.waitUntilExit()
        b.waitUntilExit()
        #expect(a.terminationStatus == 0 && b.terminationStatus == 0)
        let verify = try CLI.run(["verify", "shared.sqlite", "--format", "json"], in: dir)
        let report = try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any]
        #expect(report?["valid"] as? Bool == true, "\(verify.stdout)")
        #expect(report?["receipts"] as? Int == 20_000)
        #expect(report?["last_seq"] as? Int == 20_000)
    }

    @Test func processesStartingTogetherOnANewLedgerAllSucceed() throws {
        // They race to create the schema; opening happens under a shared lock, so none may fail.
        for round in 0..<3 {
            let dir = CLI.temporaryDirectory()
            _ = try CLI.run(["keys", "generate"], in: dir)
            let writers = try (0..<8).map { _ in
                try start(["ledger", "bench", "--ledger", "new-\(round).sqlite", "--count", "20"], in: dir)
            }
            let hooks = try (0..<4).map { i -> Process in
                let process = Process()
                process.executableURL = CLI.binary
                process.arguments = [
                    "hook", "claude-code", "--policy",
                    CLI.root.appendingPathComponent("examples/policies/claude-code.yaml").path,
                ]
                process.currentDirectoryURL = URL(fileURLWithPath: dir)
                process.environment = CLI.environment(in: dir)
                let input = Pipe()
                process.standardInput = input
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                input.fileHandleForWriting.write(
                    Data(
                        #"{"session_id":"s","hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{"file_path":"/a"},"tool_use_id":"t\#(i)"}"#
                            .utf8))
                try input.fileHandleForWriting.close()
                return process
            }
            for process in writers + hooks { process.waitUntilExit() }
            #expect(writers.allSatisfy { $0.terminationStatus == 0 }, "round \(round)")
            #expect(hooks.allSatisfy { $0.terminationStatus == 0 }, "round \(round)")
            let verify = try CLI.run(["verify", "new-\(round).sqlite", "--format", "json"], in: dir)
            #expect(verify.stdout.contains(#""receipts" : 160"#), "\(verify.stdout)")
        }
    }

    @Test(arguments: ["killed.sqlite", "killed.jsonl"])
    func aKilledWriterLosesNoAcknowledgedReceipt(ledger: String) throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["keys", "generate"], in: dir)
        let writer = try start(
            ["ledger", "bench", "--ledger", ledger, "--count", "1000000", "--concurrency", "8"], in: dir)
        Thread.sleep(forTimeInterval: 1.5)
        kill(writer.processIdentifier, SIGKILL)
        writer.waitUntilExit()
        // A torn JSONL line is possible: it was never acknowledged, and the next writer recovers it.
        let after = try CLI.run(["ledger", "bench", "--ledger", ledger, "--count", "5"], in: dir)
        #expect(after.status == 0, "\(after.stderr)")
        let verify = try CLI.run(["verify", ledger], in: dir)
        #expect(verify.status == 0, "\(verify.stdout)")
    }
}
