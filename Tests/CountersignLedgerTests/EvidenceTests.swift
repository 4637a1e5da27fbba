import CountersignCore
import Foundation
import GRDB
import Testing

@testable import CountersignLedger

@Suite("Index columns: every one is compared with the body")
struct IndexColumnTests {
    /// Each column that answers a query (`receipts --rule/--status`, the dashboard, `/v1/receipts`).
    @Test(arguments: [
        "id", "time", "kind", "status", "decision", "rule_id", "session_id", "trace_id", "action_hash", "prev",
    ])
    func aColumnThatLiesIsCaught(column: String) throws {
        let path = temporaryDirectory() + "/l.sqlite"
        let store = try filled(path, count: 4)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "UPDATE receipts SET \(column) = 'forged' WHERE seq = 3")
        }
        let report = try store.verify(trust: trusted)
        #expect(!report.valid)
        #expect(report.firstFailure?.seq == 3)
        #expect(
            report.firstFailure?.reason.contains("indexed column \(column) disagrees") == true, "\(report.failures)")
        // The lie is what a query would answer: it no longer finds the receipt by its true value.
        if column == "rule_id" {
            var query = ReceiptQuery()
            query.ruleID = "forged"
            #expect(try store.query(query).map(\.seq) == [3])
        }
    }

    @Test func aNullColumnWhereTheBodyHasAValueIsCaught() throws {
        let path = temporaryDirectory() + "/l.sqlite"
        let store = try filled(path, count: 3)
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "UPDATE receipts SET rule_id = NULL, trace_id = NULL WHERE seq = 2")
        }
        let report = try store.verify(trust: trusted)
        #expect(report.firstFailure?.reason.contains("trace_id, rule_id disagree") == true, "\(report.failures)")
    }

    @Test(arguments: ["status", "rule_id", "decision", "kind", "trace_id", "time"])
    func aColumnStoredAsABlobOfTheSameBytesIsCaught(column: String) throws {
        // The same bytes as a BLOB read back equal, but no query for the text finds the row.
        let path = temporaryDirectory() + "/l.sqlite"
        let store = try filled(path, count: 4)
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "UPDATE receipts SET \(column) = CAST(\(column) AS BLOB) WHERE seq = 3")
        }
        let report = try store.verify(trust: trusted)
        #expect(report.firstFailure?.seq == 3)
        #expect(report.firstFailure?.reason.contains(column) == true, "\(report.failures)")
    }

    /// Spellings that read back "equal" through C strings or Swift's canonical string equality, while a
    /// query comparing bytes no longer finds the row.
    @Test(arguments: [
        ("status", "status || char(0)"), ("rule_id", "rule_id || char(0)"), ("hash", "hash || char(0)"),
        ("id", "id || char(0)"), ("trace_id", "'t' || char(0x0301)"),
    ])
    func aColumnThatDiffersOnlyInBytesIsCaught(column: String, expression: String) throws {
        let path = temporaryDirectory() + "/l.sqlite"
        let store = try filled(path, count: 4)
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "UPDATE receipts SET \(column) = \(expression) WHERE seq = 3")
        }
        let report = try store.verify(trust: trusted)
        #expect(report.firstFailure?.seq == 3, "\(report.failures)")
        #expect(report.firstFailure?.reason.contains(column) == true, "\(report.failures)")
    }

    @Test func bytesHiddenAfterANulInTheBodyAreCaught() throws {
        let path = temporaryDirectory() + "/l.sqlite"
        let store = try filled(path, count: 3)
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "UPDATE receipts SET body = body || char(0) || '{\"seq\":99}' WHERE seq = 2")
        }
        #expect(!(try store.verify(trust: trusted)).valid)
    }

    @Test func aTriggerPlantedInTheFileStopsWritersAndFailsVerify() throws {
        let path = temporaryDirectory() + "/l.sqlite"
        let store = try filled(path, count: 3)
        try DatabaseQueue(path: path).write { db in
            try db.execute(
                sql:
                    "CREATE TRIGGER hide BEFORE INSERT ON receipts WHEN new.status = 'authorized' BEGIN SELECT RAISE(IGNORE); END"
            )
        }
        #expect {
            _ = try store.append([draft(9)], sealer: sealer)
        } throws: { "\($0)".contains("triggers Countersign did not create") }
        #expect(try store.count() == 3)
        let report = try store.verify(trust: trusted)
        #expect(!report.valid)
        #expect(report.failures.contains { $0.reason.contains("triggers Countersign did not create (hide)") })
    }

    @Test func anUpperCaseSignatureIsNotTheTextThatWasWritten() throws {
        let path = temporaryDirectory() + "/l.jsonl"
        let store = try filled(path, count: 3)
        var content = lines(path)
        let receipt = try Receipt.parse(content[1])
        content[1] = content[1].replacingOccurrences(of: receipt.signature, with: receipt.signature.uppercased())
        write(content, path)
        let report = try store.verify(trust: trusted)
        #expect(report.firstFailure?.seq == 2)
        #expect(report.firstFailure?.reason.contains("signature is not in canonical form") == true)
    }

    @Test func aReSpacedBodyIsRefusedEvenWhenItsColumnsAgree() throws {
        let path = temporaryDirectory() + "/l.sqlite"
        let store = try filled(path, count: 3)
        try DatabaseQueue(path: path).write { db in
            try db.execute(
                sql: "UPDATE receipts SET body = replace(body, '\"status\":', '\"status\" : ') WHERE seq = 2")
        }
        let report = try store.verify(trust: trusted)
        #expect(report.firstFailure?.seq == 2)
        #expect(report.firstFailure?.reason.contains("not the canonical encoding") == true)
    }
}

@Suite("Cut tails and empty ledgers")
struct CutTailTests {
    @Test(arguments: ["l.sqlite", "l.jsonl"])
    func anEmptyLedgerIsNeverValid(name: String) throws {
        let path = temporaryDirectory() + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        let store = try ReceiptStores.open(path: path)
        let report = try store.verify(trust: trusted)
        #expect(!report.valid)
        #expect(report.firstFailure?.reason.contains("holds no receipts") == true)
    }

    @Test(arguments: ["l.sqlite", "l.jsonl"])
    func aWriterNeverReplacesACheckpointTheLedgerNoLongerExtends(name: String) throws {
        let path = temporaryDirectory() + "/" + name
        let store = try filled(path, count: 10)
        let first = try #require(try LedgerCheckpoints.advance(store: store, key: testKey))
        #expect(first.checkpoint.size == 10)
        // Cut the last 4 receipts, then let a writer append and checkpoint again.
        try cut(path, keeping: 6)
        let reopened = try ReceiptStores.open(path: path)
        _ = try reopened.append([draft(1), draft(2)], sealer: sealer)  // seqs 7 and 8 again, different receipts
        #expect {
            try LedgerCheckpoints.advance(store: reopened, key: testKey)
        } throws: { $0 is LedgerCheckpoints.Divergence }
        // The checkpoint is kept as it was: the evidence of the cut.
        let kept = try SignedCheckpoint.read(LedgerLog.checkpointPath(forLedger: path))
        #expect(kept.checkpoint == first.checkpoint)
    }

    @Test func theFrontierResumesWhereTheLastCheckpointEnded() throws {
        let path = temporaryDirectory() + "/l.sqlite"
        let store = try filled(path, count: 7)
        try LedgerCheckpoints.advance(store: store, key: testKey)
        for i in 0..<13 {
            _ = try store.append([draft(i)], sealer: sealer)
            try LedgerCheckpoints.advance(store: store, key: testKey)
        }
        let signed = try SignedCheckpoint.read(LedgerLog.checkpointPath(forLedger: path))
        let (tree, origin) = try LedgerLog.load(store)
        #expect(signed.checkpoint.size == 20)
        #expect(signed.checkpoint.rootHash == (try tree.root()))
        #expect(signed.checkpoint.origin == origin)
        // A stale or planted frontier is never trusted: the writer rebuilds from the ledger.
        try "{\"origin\":\"x\",\"last_leaf\":\"00\",\"size\":1,\"nodes\":[]}".write(
            toFile: path + ".frontier", atomically: true, encoding: .utf8)
        _ = try store.append([draft(99)], sealer: sealer)
        let again = try #require(try LedgerCheckpoints.advance(store: store, key: testKey))
        #expect(again.checkpoint.rootHash == (try LedgerLog.load(store).tree.root()))
    }

    @Test func frontierRootsMatchTheTreeAtEverySize() throws {
        var tree = MerkleTree()
        var frontier = MerkleFrontier()
        for i in 0..<70 {
            let leaf = Merkle.leafHash(Array("leaf \(i)".utf8))
            tree.append(leafHash: leaf)
            frontier.append(leafHash: leaf)
            #expect(frontier.root == (try tree.root()), "size \(i + 1)")
            #expect(try MerkleFrontier(tree: tree) == frontier)
        }
    }

    func cut(_ path: String, keeping count: Int) throws {
        if path.hasSuffix(".jsonl") {
            let kept = lines(path).prefix(count)
            try (kept.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        } else {
            try DatabaseQueue(path: path).write { try $0.execute(sql: "DELETE FROM receipts WHERE seq > \(count)") }
        }
    }
}

@Suite("Redacted values cannot be recovered from hashes")
struct KeyedHashTests {
    func envelope(_ command: String) -> ActionEnvelope {
        ActionEnvelope(
            actor: "agent", surface: "shell", tool: "Bash", intent: "execute", args: ["command": .string(command)],
            traceID: "t")
    }

    /// One member per way a guess could be confirmed: the action hash, the result hash, both spellings.
    @Test(arguments: [
        "mysql --password hunter2 -e 'select 1'", "PASSWORD='hunter2' ./deploy.sh",
        "curl -H 'Authorization: Token hunter2hunter2' https://api.example",
        "psql postgres://admin:hunter2@db.internal/app",
    ])
    func aRedactedActionGetsAKeyedHash(command: String) throws {
        let action = envelope(command)
        let draft = ReceiptDraft.forAction(action, kind: .decision, status: "authorized", redactor: sealer.redactor)
        let receipt = sealer.seal(draft, seq: 1, prev: Receipt.genesis)
        let text = receipt.canonicalText
        #expect(!text.contains("hunter2"), "\(text)")
        let hash = try #require(receipt.actionHash)
        #expect(hash.hasPrefix("hmac-sha256:"))
        // The plain hash of the action (what an attacker computes for each guess) appears nowhere.
        #expect(!text.contains(String(action.actionHash.dropFirst("sha256:".count))))
        // Correlation still works: the same action, the same keyed hash; another secret, another hash.
        let again = ReceiptDraft.forAction(action, kind: .outcome, status: "executed", redactor: sealer.redactor)
        #expect(again.actionHash == hash)
        let other = ReceiptDraft.forAction(
            envelope(command.replacingOccurrences(of: "hunter2", with: "swordfish")), kind: .decision,
            status: "authorized", redactor: sealer.redactor)
        #expect(other.actionHash != hash)
        // Another signer's key gives another hash: nobody without the key can compute it.
        let stranger = Sealer(key: SigningKey.generate())
        #expect(
            ReceiptDraft.forAction(action, kind: .decision, status: "authorized", redactor: stranger.redactor)
                .actionHash != hash)
    }

    @Test func anActionWithNothingRedactedKeepsItsPlainHash() {
        let action = envelope("ls -la")
        let draft = ReceiptDraft.forAction(action, kind: .decision, status: "authorized", redactor: sealer.redactor)
        #expect(draft.actionHash == action.actionHash)
    }

    @Test func secretOutputsGetAKeyedResultHash() throws {
        var draft = ReceiptDraft.forAction(
            envelope("cat pw.txt"), kind: .outcome, status: "executed", redactor: sealer.redactor)
        draft.result = ResultRecord(value: .string("hunter2"), labels: ["secret"])
        let secret = sealer.seal(draft, seq: 1, prev: Receipt.genesis)
        #expect(secret.body["result"]?["sha256"] == nil)
        #expect(secret.body["result"]?["hmac_sha256"]?.stringValue?.hasPrefix("hmac-sha256:") == true)
        #expect(!secret.canonicalText.contains(Digest.canonicalHash(.string("hunter2"))))
        // Nor is it previewed: its words are the secret.
        #expect(!secret.canonicalText.contains("hunter2"))
        draft.result = ResultRecord(value: .string("token=abcdefgh12345678"), labels: [])
        let redacted = sealer.seal(draft, seq: 1, prev: Receipt.genesis)
        #expect(redacted.body["result"]?["hmac_sha256"] != nil)
        draft.result = ResultRecord(value: .string("total 0"), labels: ["untrusted"])
        let plain = sealer.seal(draft, seq: 1, prev: Receipt.genesis)
        #expect(plain.body["result"]?["sha256"]?.stringValue == Digest.canonicalHash(.string("total 0")))
    }
}
