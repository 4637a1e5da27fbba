import Foundation
import Testing

/// A `countersign witness serve` process on a free loopback port.
final class WitnessProcess {
    let process = Process()
    let url: String
    let publicKey: String

    init(in dir: String, name: String, logKey: String) throws {
        _ = try CLI.run(["keys", "generate", "--out", "\(name)-key"], in: dir)
        let shown = try CLI.run(["keys", "show", "--key", "\(name)-key", "--format", "json"], in: dir)
        let document = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
        publicKey = document?["public_key"] as? String ?? ""
        process.executableURL = CLI.binary
        process.arguments = [
            "witness", "serve", "--key", "\(name)-key", "--listen", "127.0.0.1:0", "--log-key", logKey, "--state",
            "\(name)-state", "--name", "test.countersign.dev/\(name)",
        ]
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line names the bound port.
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while !text.contains("\n") && Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = text.range(of: "listening on "), let end = text[range.upperBound...].firstIndex(of: " ")
        else {
            process.terminate()
            throw CLIFailure("the witness did not start: \(text)")
        }
        url = String(text[range.upperBound..<end])
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func json(_ text: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
}

/// Keeps the first `count` lines of a JSONL ledger: what an attacker with write access does to hide receipts.
func truncateLedger(_ path: String, to count: Int) throws {
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").prefix(count)
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
}

@Suite("Merkle checkpoints, proofs and anchors")
struct MerkleCheckpointCLITests {
    @Test func checkpointProveAndAnchoredVerify() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["keys", "generate", "--out", "log-key"], in: dir)
        let bench = try CLI.run(
            ["ledger", "bench", "--ledger", "l.jsonl", "--key", "log-key", "--count", "30", "--no-checkpoints"], in: dir
        )
        #expect(bench.status == 0, "\(bench.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/l.jsonl.checkpoint"))

        let checkpoint = try CLI.run(
            ["checkpoint", "--ledger", "l.jsonl", "--key", "log-key", "--output", "cp-30"], in: dir)
        #expect(checkpoint.status == 0, "\(checkpoint.stderr)")
        let note = try String(contentsOfFile: dir + "/cp-30", encoding: .utf8)
        let lines = note.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0].hasPrefix("countersign.dev/ledger/") && lines[1] == "30")
        #expect(lines[4].hasPrefix("— ed25519:"))
        #expect(try String(contentsOfFile: dir + "/l.jsonl.checkpoint", encoding: .utf8) == note)

        let proof = try CLI.run(["prove", "--ledger", "l.jsonl", "--seq", "7", "--format", "json"], in: dir)
        #expect(proof.status == 0, "\(proof.stderr)")
        let inclusion = json(proof.stdout)
        #expect(inclusion["leaf_index"] as? Int == 6 && inclusion["tree_size"] as? Int == 30)
        #expect((inclusion["hashes"] as? [String])?.count == 5)  // ⌈log2 30⌉ levels

        _ = try CLI.run(["ledger", "bench", "--ledger", "l.jsonl", "--key", "log-key", "--count", "12"], in: dir)
        // The bench's writer checkpointed on close; the tree grew from 30 to 42.
        let consistency = try CLI.run(
            ["prove", "--ledger", "l.jsonl", "--consistency", "cp-30", "--format", "json"], in: dir)
        #expect(consistency.status == 0, "\(consistency.stderr)")
        #expect(
            json(consistency.stdout)["old_size"] as? Int == 30 && json(consistency.stdout)["new_size"] as? Int == 42)

        let anchored = try CLI.run(["verify", "l.jsonl", "--checkpoint", "cp-30", "--format", "json"], in: dir)
        #expect(anchored.status == 0, "\(anchored.stdout)")
        #expect(json(anchored.stdout)["assurance"] as? String == "anchored")
        let text = try CLI.run(["verify", "l.jsonl", "--checkpoint", "cp-30"], in: dir)
        #expect(text.stdout.contains("assurance: anchored (the ledger extends checkpoint 30)"))

        // Truncation: receipts 26…30 (and the later ones) removed.
        try truncateLedger(dir + "/l.jsonl", to: 25)
        let truncated = try CLI.run(["verify", "l.jsonl", "--checkpoint", "cp-30"], in: dir)
        #expect(truncated.status == 1)
        #expect(
            truncated.stdout.contains(
                "the ledger has 25 receipts but the checkpoint commits to 30: receipts 26…30 are missing"),
            "\(truncated.stdout)")
        #expect(truncated.stdout.contains("assurance: none"))

        // Rewrite: the same length again, re-signed with the log key after receipt 20.
        try truncateLedger(dir + "/l.jsonl", to: 20)
        // The checkpoint the writers keep beside the ledger already stops a writer from continuing it...
        let rebuild = [
            "ledger", "bench", "--ledger", "l.jsonl", "--key", "log-key", "--count", "15", "--no-checkpoints",
        ]
        let stopped = try CLI.run(rebuild, in: dir)
        #expect(stopped.status == 1 && stopped.stderr.contains("receipts were cut"), "\(stopped.stderr)")
        // ...until the attacker, who holds the log key and the user's account, removes every copy: then the
        // chain alone is valid.
        try coverTracks(dir + "/l.jsonl", user: dir)
        #expect(try CLI.run(rebuild, in: dir).status == 0)
        #expect(try CLI.run(["verify", "l.jsonl"], in: dir).status == 1)  // no checkpoint beside it
        #expect(try CLI.run(["checkpoint", "--ledger", "l.jsonl", "--key", "log-key"], in: dir).status == 0)
        #expect(try CLI.run(["verify", "l.jsonl"], in: dir).status == 0)
        let rewritten = try CLI.run(["verify", "l.jsonl", "--checkpoint", "cp-30"], in: dir)
        #expect(rewritten.status == 1)
        #expect(rewritten.stdout.contains("do not hash to the checkpoint's root: receipts were rewritten"))
        let refused = try CLI.run(["prove", "--ledger", "l.jsonl", "--consistency", "cp-30"], in: dir)
        #expect(refused.status == 1)
    }

    @Test func proveAndCheckpointRefuseUsageMistakes() throws {
        let dir = CLI.temporaryDirectory()
        #expect(try CLI.run(["prove", "--ledger", "none.jsonl", "--seq", "1"], in: dir).stderr.contains("no ledger"))
        #expect(try CLI.run(["prove", "--seq", "1", "--consistency", "x"], in: dir).status == 64)
        _ = try CLI.run(["keys", "generate", "--out", "k"], in: dir)
        _ = try CLI.run(["ledger", "bench", "--ledger", "l.jsonl", "--key", "k", "--count", "3"], in: dir)
        let beyond = try CLI.run(["prove", "--ledger", "l.jsonl", "--seq", "9"], in: dir)
        #expect(beyond.status == 1 && beyond.stderr.contains("not covered by the latest checkpoint (size 3)"))
        try "not a note\n".write(toFile: dir + "/bad", atomically: true, encoding: .utf8)
        let bad = try CLI.run(["verify", "l.jsonl", "--checkpoint", "bad"], in: dir)
        #expect(bad.status == 1 && bad.stderr.contains("no blank line"))
        #expect(try CLI.run(["witness", "serve", "--key", "k"], in: dir).status == 64)
    }
}

@Suite("Witnesses")
struct WitnessCLITests {
    @Test func witnessesRefuseARewrittenLogAndVerifyFailsEvenWithTheLogKey() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["keys", "generate", "--out", "log-key"], in: dir)
        let logKey =
            json(try CLI.run(["keys", "show", "--key", "log-key", "--format", "json"], in: dir).stdout)[
                "public_key"] as? String ?? ""
        let w1 = try WitnessProcess(in: dir, name: "w1", logKey: logKey)
        defer { w1.stop() }
        let w2 = try WitnessProcess(in: dir, name: "w2", logKey: logKey)
        defer { w2.stop() }

        // The writer submits its checkpoints to the configured witnesses.
        let bench = try CLI.run(
            [
                "ledger", "bench", "--ledger", "l.jsonl", "--key", "log-key", "--count", "40", "--witness", w1.url,
                "--witness", w2.url,
            ], in: dir)
        #expect(bench.status == 0, "\(bench.stderr)")
        let witnessed = try CLI.run(
            ["verify", "l.jsonl", "--witness", w1.publicKey, "--witness", w2.publicKey, "--format", "json"], in: dir)
        #expect(witnessed.status == 0, "\(witnessed.stdout)")
        let report = json(witnessed.stdout)
        #expect(report["assurance"] as? String == "witnessed")
        #expect((report["witnesses"] as? [String: Any])?["cosigned"] as? Int == 2)
        try FileManager.default.copyItem(atPath: dir + "/l.jsonl.checkpoint", toPath: dir + "/cosigned-40")

        // Growth on demand, with a consistency proof from what each witness last cosigned.
        _ = try CLI.run(
            ["ledger", "bench", "--ledger", "l.jsonl", "--key", "log-key", "--count", "10", "--no-checkpoints"], in: dir
        )
        let grown = try CLI.run(
            ["checkpoint", "--ledger", "l.jsonl", "--key", "log-key", "--witness", w1.url, "--witness", w2.url], in: dir
        )
        #expect(grown.status == 0, "\(grown.stderr)")
        #expect(grown.stdout.components(separatedBy: "\n— ").count == 4)  // the log and two witnesses
        let quorum = try CLI.run(
            ["verify", "l.jsonl", "--witness", w1.publicKey, "--witness", w2.publicKey, "--witness-quorum", "2"],
            in: dir)
        #expect(quorum.stdout.contains("assurance: witnessed (2 of 2 witnesses cosigned checkpoint 50; 2 required)"))

        // The attacker holds the log key: drops receipts 31…50, appends 25 of its own, signs a checkpoint.
        try truncateLedger(dir + "/l.jsonl", to: 30)
        let caught = try CLI.run(["verify", "l.jsonl"], in: dir)
        #expect(caught.status == 1 && caught.stdout.contains("missing (truncated or rolled back)"), "\(caught.stdout)")
        try coverTracks(dir + "/l.jsonl", user: dir)  // the attacker removes every local copy
        _ = try CLI.run(
            ["ledger", "bench", "--ledger", "l.jsonl", "--key", "log-key", "--count", "25", "--no-checkpoints"], in: dir
        )
        let rewrite = try CLI.run(
            ["checkpoint", "--ledger", "l.jsonl", "--key", "log-key", "--witness", w1.url, "--witness", w2.url], in: dir
        )
        #expect(rewrite.status == 1)
        #expect(rewrite.stderr.contains("the witness refused (422)"), "\(rewrite.stderr)")
        #expect(rewrite.stderr.contains("2 of 2 witnesses did not cosign"))
        #expect(try CLI.run(["verify", "l.jsonl"], in: dir).status == 0)  // without witnesses, it got away
        let failed = try CLI.run(["verify", "l.jsonl", "--witness", w1.publicKey, "--witness", w2.publicKey], in: dir)
        #expect(failed.status == 1)
        #expect(failed.stdout.contains("only 0 of 2 witnesses cosigned checkpoint 55"), "\(failed.stdout)")
        // Keeping the old cosigned checkpoint does not help: the ledger no longer extends it.
        let old = try CLI.run(
            ["verify", "l.jsonl", "--checkpoint", "cosigned-40", "--witness", w1.publicKey, "--witness", w2.publicKey],
            in: dir)
        #expect(old.status == 1)
        #expect(old.stdout.contains("receipts were rewritten"), "\(old.stdout)")

        // Truncation below what the witnesses cosigned is refused as a rollback.
        try truncateLedger(dir + "/l.jsonl", to: 20)
        try coverTracks(dir + "/l.jsonl", user: dir)
        let rollback = try CLI.run(
            ["checkpoint", "--ledger", "l.jsonl", "--key", "log-key", "--witness", w1.url], in: dir)
        #expect(rollback.status == 1)
        #expect(rollback.stderr.contains("larger than this checkpoint's 20: the log was truncated or rolled back"))
    }

    @Test func bundlesCarryCosignedCheckpoints() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["keys", "generate", "--out", "log-key"], in: dir)
        let logKey =
            json(try CLI.run(["keys", "show", "--key", "log-key", "--format", "json"], in: dir).stdout)[
                "public_key"] as? String ?? ""
        let w1 = try WitnessProcess(in: dir, name: "w1", logKey: logKey)
        defer { w1.stop() }
        _ = try CLI.run(
            ["ledger", "bench", "--ledger", "l.sqlite", "--key", "log-key", "--count", "20", "--witness", w1.url],
            in: dir)
        let export = try CLI.run(
            ["receipts", "l.sqlite", "--limit", "6", "--format", "bundle", "--output", "b", "--key", "log-key"], in: dir
        )
        #expect(export.status == 0, "\(export.stderr)")
        let verified = try CLI.run(["verify", "b", "--witness", w1.publicKey, "--format", "json"], in: dir)
        let report = json(verified.stdout)
        #expect(verified.status == 0, "\(verified.stdout)")
        #expect(report["assurance"] as? String == "witnessed" && report["inclusion_proofs_verified"] as? Int == 6)
        // A planted file is caught.
        try "planted\n".write(toFile: dir + "/b/notes.txt", atomically: true, encoding: .utf8)
        let planted = try CLI.run(["verify", "b"], in: dir)
        #expect(planted.status == 1 && planted.stdout.contains("notes.txt is not listed in the manifest"))
    }
}

/// What an attacker with the user's account does around a rewrite: drop the checkpoint beside the ledger,
/// the frontier, and the copy the user's writers keep (CLI.run gives each test directory its own config).
func coverTracks(_ ledger: String, user directory: String) throws {
    for path in [ledger + ".checkpoint", ledger + ".frontier", directory + "/.xdg-config/countersign/logs"]
    where FileManager.default.fileExists(atPath: path) {
        try FileManager.default.removeItem(atPath: path)
    }
}
