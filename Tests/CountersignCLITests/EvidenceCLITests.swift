import Foundation
import Testing

/// Trust, keys and cut tails as a user (and an attacker with write access to the project) meets them.
@Suite("verify: pinned trust, keys, cut tails")
struct EvidenceCLITests {
    static let pre =
        #"{"session_id":"s","hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{"file_path":"/repo/a.txt"},"tool_use_id":"t"}"#

    func hook(_ dir: String, extra: [String] = []) throws -> CLI.Result {
        try CLI.run(
            [
                "hook", "claude-code", "--policy",
                CLI.root.appendingPathComponent("examples/policies/claude-code.yaml").path,
            ]
                + extra, stdin: Self.pre, in: dir)
    }

    func json(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    @Test func withNoTrustedKeyVerifySaysUnverifiedAndExitsThree() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["demo", "--auto-approve"], in: dir)
        let ledger = dir + "/.countersign/ledger.sqlite"
        #expect(try CLI.run(["verify"], in: dir).status == 0)  // the key demo created is pinned for this user
        // Another user (a trust file of its own) has pinned nothing.
        let stranger = CLI.temporaryDirectory()
        let unverified = try CLI.run(["verify", ledger], in: stranger)
        #expect(unverified.status == 3, "\(unverified.stdout)")
        #expect(unverified.stdout.contains("UNVERIFIED (no trusted key)"))
        let report = try json(try CLI.run(["verify", ledger, "--format", "json"], in: stranger).stdout)
        #expect(report["valid"] as? Bool == true && report["verified"] as? Bool == false)
        #expect(report["assurance"] as? String == "unpinned")
        // The key file beside the ledger proves nothing: a project can ship one.
        let shown = try json(try CLI.run(["keys", "show", "--format", "json"], in: dir).stdout)
        let publicKey = try #require(shown["public_key"] as? String)
        let pinned = try CLI.run(["verify", ledger, "--trusted-key", publicKey], in: stranger)
        #expect(pinned.status == 0 && pinned.stdout.contains(": VALID"))
        // Hashes and links alone authenticate nothing: never VALID.
        let chainOnly = try CLI.run(["verify", "--chain-only"], in: dir)
        #expect(chainOnly.status == 3 && chainOnly.stdout.contains("UNVERIFIED (signatures not checked)"))
        // An empty or missing trust is never 0, even for an intact chain; a broken one is 1.
        try FileManager.default.removeItem(atPath: ledger + ".checkpoint")
        #expect(try CLI.run(["verify", ledger], in: stranger).status == 1)
    }

    @Test func adaptersNeverCreateOrSilentlyUseAKey() throws {
        let dir = CLI.temporaryDirectory()
        let none = try hook(dir)
        #expect(none.status == 2)
        #expect(none.stderr.contains("no signing key"), "\(none.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/.countersign/signing-key"))
        let proxy = try CLI.run(
            [
                "mcp", "proxy", "--policy", CLI.root.appendingPathComponent("examples/policies/mcp-proxy.yaml").path,
                "--",
                "cat",
            ], stdin: "", in: dir)
        #expect(proxy.status != 0 && proxy.stderr.contains("no signing key"), "\(proxy.stderr)")

        // A repository ships its own key (nobody pinned it): hooks and install refuse it.
        _ = try CLI.run(["keys", "generate", "--no-pin"], in: dir)
        let shipped = try hook(dir)
        #expect(shipped.status == 2)
        #expect(shipped.stderr.contains("is not in your trust file"), "\(shipped.stderr)")
        let install = try CLI.run(["install", "claude-code"], in: dir, home: dir)
        #expect(install.status == 1 && install.stderr.contains("not a key you created or pinned"), "\(install.stderr)")
        #expect(try CLI.run(["receipts", "--format", "jsonl"], in: dir).stdout.isEmpty)
        // The user decides to keep it: pinned, it is used.
        #expect(try CLI.run(["keys", "trust", "--key", ".countersign/signing-key"], in: dir).status == 0)
        #expect(try hook(dir).status == 0)
    }

    @Test func anAbsoluteLedgerIsSignedByTheKeyBesideItFromAnyDirectory() throws {
        let state = CLI.temporaryDirectory()
        let ledger = state + "/ledger.sqlite"
        _ = try CLI.run(["keys", "generate", "--out", state + "/signing-key"], in: state)
        for _ in 0..<2 {
            let elsewhere = CLI.temporaryDirectory()
            // Trust lives with the user, not the directory: give both runs the same trust file.
            let result = try CLI.run(
                [
                    "hook", "claude-code", "--policy",
                    CLI.root.appendingPathComponent("examples/policies/claude-code.yaml").path, "--ledger", ledger,
                    "--sessions", state + "/sessions.sqlite",
                ], stdin: Self.pre, in: elsewhere, trustOf: state)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: elsewhere + "/.countersign"))
        }
        let report = try json(try CLI.run(["verify", ledger, "--format", "json"], in: state).stdout)
        #expect((report["signers"] as? [String: Int])?.count == 1, "\(report)")
        #expect(report["receipts"] as? Int == 2)
    }

    @Test func aCutTailIsCaughtAndTheNextHookRefusesToWriteOverIt() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["keys", "generate"], in: dir)
        for _ in 0..<8 { #expect(try hook(dir).status == 0) }
        let ledger = dir + "/.countersign/ledger.sqlite"
        #expect(try CLI.run(["verify"], in: dir).status == 0)
        let backup = try Data(contentsOf: URL(fileURLWithPath: ledger))
        for statement in ["DELETE FROM receipts WHERE seq > 3", "DELETE FROM receipts"] {
            try backup.write(to: URL(fileURLWithPath: ledger))
            try sqlite(ledger, statement)
            let verify = try CLI.run(["verify"], in: dir)
            #expect(verify.status == 1, "\(statement): \(verify.stdout)")
            #expect(verify.stdout.contains("the checkpoint commits to 8"), "\(verify.stdout)")
        }
        // The next hook call sees the ledger no longer extends its checkpoint: blocked, evidence kept.
        let next = try hook(dir)
        #expect(next.status == 2)
        #expect(next.stderr.contains("was tampered with"), "\(next.stderr)")
        #expect(try CLI.run(["verify"], in: dir).status == 1)
        // Deleting the checkpoint as well is caught too: writers always keep one.
        try backup.write(to: URL(fileURLWithPath: ledger))
        try sqlite(ledger, "DELETE FROM receipts WHERE seq > 3")
        try FileManager.default.removeItem(atPath: ledger + ".checkpoint")
        let noCheckpoint = try CLI.run(["verify"], in: dir)
        #expect(noCheckpoint.status == 1 && noCheckpoint.stdout.contains("no checkpoint at"), "\(noCheckpoint.stdout)")
    }

    @Test func deletingTheCheckpointAfterACutDoesNotLetAWriterStartAfresh() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["keys", "generate"], in: dir)
        for _ in 0..<6 { #expect(try hook(dir).status == 0) }
        let ledger = dir + "/.countersign/ledger.sqlite"
        try sqlite(ledger, "DELETE FROM receipts WHERE seq > 2")
        try FileManager.default.removeItem(atPath: ledger + ".checkpoint")
        // The next hook neither appends over the cut nor writes a fresh checkpoint for it.
        let next = try hook(dir)
        #expect(next.status == 2, "\(next.stderr)")
        #expect(try CLI.run(["receipts", "--format", "jsonl"], in: dir).stdout.split(separator: "\n").count == 2)
        #expect(!FileManager.default.fileExists(atPath: ledger + ".checkpoint"))
        let verify = try CLI.run(["verify"], in: dir)
        #expect(verify.status == 1, "\(verify.stdout)")
    }

    @Test func aLedgerRolledBackWithItsOldCheckpointIsCaughtByTheUsersCopy() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["keys", "generate"], in: dir)
        let ledger = dir + "/.countersign/ledger.sqlite"
        for _ in 0..<4 { #expect(try hook(dir).status == 0) }
        // The attacker keeps copies of the ledger and its checkpoint as they are now...
        let oldLedger = try Data(contentsOf: URL(fileURLWithPath: ledger))
        let oldCheckpoint = try Data(contentsOf: URL(fileURLWithPath: ledger + ".checkpoint"))
        for _ in 0..<3 { #expect(try hook(dir).status == 0) }
        // ...and later puts both back (the WAL of the newer receipts removed with them).
        for suffix in ["-wal", "-shm", ".frontier"] where FileManager.default.fileExists(atPath: ledger + suffix) {
            try FileManager.default.removeItem(atPath: ledger + suffix)
        }
        try oldLedger.write(to: URL(fileURLWithPath: ledger))
        try oldCheckpoint.write(to: URL(fileURLWithPath: ledger + ".checkpoint"))
        let verify = try CLI.run(["verify"], in: dir)
        #expect(verify.status == 1, "\(verify.stdout)")
        #expect(verify.stdout.contains("the checkpoint you last saw for this ledger"), "\(verify.stdout)")
        #expect(try hook(dir).status == 2)  // and no writer continues the rolled-back ledger
    }

    @Test func aPlantedKeyIsRefusedHoweverItsPathIsSpelled() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["keys", "generate", "--no-pin"], in: dir)  // shipped with the repository
        for ledger in [dir + "/.countersign/l.sqlite", dir + "/./.countersign/../.countersign/l.sqlite"] {
            let result = try hook(dir, extra: ["--ledger", ledger])
            #expect(result.status == 2 && result.stderr.contains("is not in your trust file"), "\(result.stderr)")
        }
    }

    @Test func aLedgerDeletedWithEverythingBesideItIsNotStartedOverSilently() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["keys", "generate"], in: dir)
        for _ in 0..<3 { #expect(try hook(dir).status == 0) }
        let state = dir + "/.countersign"
        for file in try FileManager.default.contentsOfDirectory(atPath: state) where file.hasPrefix("ledger.sqlite") {
            try FileManager.default.removeItem(atPath: state + "/" + file)
        }
        let next = try hook(dir)
        #expect(next.status == 2 && next.stderr.contains("was replaced"), "\(next.stderr)")
        // Another ledger put in its place (a new log, even one signed by the same key) is reported by verify.
        _ = try CLI.run(["ledger", "bench", "--ledger", "other.sqlite", "--count", "3"], in: dir)
        for file in try FileManager.default.contentsOfDirectory(atPath: state) where file.hasPrefix("ledger.sqlite") {
            try FileManager.default.removeItem(atPath: state + "/" + file)  // the empty file the refused hook opened
        }
        for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasPrefix("other.sqlite") {
            try FileManager.default.moveItem(
                atPath: dir + "/" + file,
                toPath: state + "/" + file.replacingOccurrences(of: "other.sqlite", with: "ledger.sqlite"))
        }
        let swapped = try CLI.run(["verify"], in: dir)
        #expect(swapped.status == 1 && swapped.stdout.contains("was replaced"), "\(swapped.stdout)")
        // Starting over on purpose is one command.
        #expect(try CLI.run(["ledger", "forget", ".countersign/ledger.sqlite"], in: dir).status == 0)
        #expect(try CLI.run(["verify"], in: dir).status == 0)
    }

    @Test func anEmptiedJSONLLedgerIsInvalid() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["demo", "--auto-approve", "--ledger", "l.jsonl"], in: dir)
        #expect(try CLI.run(["verify", "l.jsonl"], in: dir).status == 0)
        try Data().write(to: URL(fileURLWithPath: dir + "/l.jsonl"))
        let empty = try CLI.run(["verify", "l.jsonl"], in: dir)
        #expect(empty.status == 1)
        #expect(empty.stdout.contains("holds no receipts"))
        try Data().write(to: URL(fileURLWithPath: dir + "/fresh.jsonl"))
        #expect(try CLI.run(["verify", "fresh.jsonl"], in: dir).status == 1)
    }

    @Test func rotationIsTrustedOnlyThroughATrustedKeyAndOldPrivateKeysAreGone() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["demo", "--auto-approve"], in: dir)
        let old = try json(try CLI.run(["keys", "show", "--format", "json"], in: dir).stdout)
        let oldPublic = try #require(old["public_key"] as? String)
        let oldPrivate = try String(contentsOfFile: dir + "/.countersign/signing-key", encoding: .utf8)
        let rotated = try CLI.run(["keys", "rotate", "--manifest", "rotation.json"], in: dir)
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.stdout.contains("recorded as receipt #"))
        _ = try CLI.run(["demo", "--auto-approve"], in: dir)
        // An auditor who pinned only the old key follows the chain to the new one.
        let stranger = CLI.temporaryDirectory()
        let followed = try CLI.run(
            ["verify", dir + "/.countersign/ledger.sqlite", "--trusted-key", oldPublic], in: stranger)
        #expect(followed.status == 0, "\(followed.stdout)")
        #expect(followed.stdout.contains("handed over to"))
        // The operator's own verify still passes (the new key was pinned by the rotation).
        #expect(try CLI.run(["verify"], in: dir).status == 0)
        // The old private key is nowhere in the state directory any more.
        let files = try FileManager.default.subpathsOfDirectory(atPath: dir + "/.countersign")
        for file in files {
            let text = (try? String(contentsOfFile: dir + "/.countersign/" + file, encoding: .utf8)) ?? ""
            #expect(!text.contains(oldPrivate.prefix(64)) || oldPrivate.isEmpty, "old private key in \(file)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/.countersign/retired-keys"))
        // verify-rotation: trusted previous key → 0; no trust → 3; a manifest signed by a key nobody trusts → 1.
        #expect(
            try CLI.run(["keys", "verify-rotation", "rotation.json", "--trusted-key", oldPublic], in: dir).status == 0)
        try FileManager.default.copyItem(atPath: dir + "/rotation.json", toPath: stranger + "/rotation.json")
        #expect(try CLI.run(["keys", "verify-rotation", "rotation.json"], in: stranger).status == 3)
        _ = try CLI.run(["keys", "generate", "--out", "attacker-key", "--no-pin"], in: stranger)
        _ = try CLI.run(["keys", "rotate", "--key", "attacker-key", "--manifest", "forged.json"], in: stranger)
        let forged = try CLI.run(["keys", "verify-rotation", "forged.json", "--trusted-key", oldPublic], in: stranger)
        #expect(forged.status == 1 && forged.stderr.contains("not a trusted key"), "\(forged.stderr)")
    }

    @Test func initSetsUpAProjectTheAdaptersCanUse() throws {
        let dir = CLI.temporaryDirectory()
        let missing = try CLI.run(["hook", "claude-code"], stdin: Self.pre, in: dir)
        #expect(missing.status == 2 && missing.stderr.contains("countersign init"), "\(missing.stderr)")
        let first = try CLI.run(["init"], in: dir)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("wrote the starter policy") && first.stdout.contains("pinned in"))
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/.countersign")
        #expect(attributes[.posixPermissions] as? Int == 0o700)
        #expect(try CLI.run(["init"], in: dir).stdout.contains("nothing to change"))
        // The hook finds the policy and the key on its own now, and verify trusts what it signed.
        let hooked = try CLI.run(["hook", "claude-code"], stdin: Self.pre, in: dir)
        #expect(hooked.status == 0, "\(hooked.stderr)")
        let verify = try CLI.run(["verify"], in: dir)
        #expect(verify.status == 0 && verify.stdout.contains(": VALID"), "\(verify.stdout)")
    }

    func sqlite(_ path: String, _ statement: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()",
            path, statement,
        ]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}
