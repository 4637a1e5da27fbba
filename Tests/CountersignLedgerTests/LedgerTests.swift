import CountersignCore
import Foundation
import GRDB
import Testing

@testable import CountersignLedger

func temporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("countersign-ledger-\(UUID().uuidString)")
        .path
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

let testKey = SigningKey.generate()
let sealer = Sealer(key: testKey)
let trusted = TrustedSigners(keys: [testKey.publicKey], source: "test")

func draft(_ i: Int, trace: String? = nil) -> ReceiptDraft {
    let envelope = ActionEnvelope(
        actor: "agent", surface: "shell", tool: "Bash", intent: "execute", args: ["command": .string("echo \(i)")],
        traceID: trace ?? "t\(i % 3)")
    var d = ReceiptDraft.forAction(envelope, kind: .decision, status: "authorized", redactor: Redactor())
    d.decision = "allow"
    d.policy = PolicyReference(
        path: "p.yaml", sourceHash: "sha256:00", ruleID: "r\(i % 2)", decision: .allow, reason: "ok")
    return d
}

func filled(_ path: String, count: Int = 20) throws -> any ReceiptStore {
    let store = try ReceiptStores.open(path: path)
    for i in 0..<count { _ = try store.append([draft(i)], sealer: sealer) }
    return store
}

func lines(_ path: String) -> [String] {
    try! String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(
        String.init)
}

func write(_ lines: [String], _ path: String) {
    try! lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
}

@Suite("Receipts and the chain")
struct ReceiptChainTests {
    @Test(arguments: ["ledger.jsonl", "ledger.sqlite"])
    func aFreshLedgerVerifies(name: String) throws {
        let store = try filled(temporaryDirectory() + "/" + name)
        let report = try store.verify(trust: trusted)
        #expect(report.valid, "\(report.failures.map(\.reason))")
        #expect(report.receipts == 20)
        #expect(report.lastSeq == 20)
        #expect(report.signers == [testKey.keyID: 20])
    }

    @Test func everyFieldIsInsideTheHash() throws {
        let store = try filled(temporaryDirectory() + "/l.jsonl", count: 2)
        let receipt = try store.query(ReceiptQuery()).last!
        #expect(receipt.computedHash == receipt.hash)
        #expect(receipt.prev == (try store.query(ReceiptQuery()).first!.hash))
        // A field added to a receipt changes its hash: nothing lives outside it.
        var body = receipt.body
        body["note"] = "added later"
        #expect(Receipt(body: body).computedHash != receipt.hash)
        #expect(testKey.publicKey.verify(signatureHex: receipt.signature, message: receipt.hash))
    }

    @Test func queriesFilterAndOrder() throws {
        for name in ["q.jsonl", "q.sqlite"] {
            let store = try filled(temporaryDirectory() + "/" + name, count: 12)
            var q = ReceiptQuery()
            q.traceID = "t1"
            #expect(try store.query(q).map(\.seq) == [2, 5, 8, 11])
            q.descending = true
            q.limit = 2
            #expect(try store.query(q).map(\.seq) == [11, 8])
            var byRule = ReceiptQuery()
            byRule.ruleID = "r0"
            byRule.status = "authorized"
            #expect(try store.query(byRule).count == 6)
        }
    }
}

@Suite("Verify catches every kind of tampering")
struct TamperTests {
    func verifyJSONL(_ edit: (inout [String]) -> Void, trust: TrustedSigners = trusted) throws -> VerificationReport {
        let path = temporaryDirectory() + "/l.jsonl"
        let store = try filled(path)
        var content = lines(path)
        edit(&content)
        write(content, path)
        return try store.verify(trust: trust)
    }

    @Test func anEditedField() throws {
        let report = try verifyJSONL { $0[4] = $0[4].replacingOccurrences(of: "\"authorized\"", with: "\"blocked\"") }
        #expect(!report.valid)
        #expect(report.firstFailure?.seq == 5)
        #expect(report.firstFailure?.reason.contains("hash mismatch") == true)
    }

    @Test func aDeletedReceipt() throws {
        let report = try verifyJSONL { $0.remove(at: 6) }
        #expect(report.firstFailure?.seq == 8)
        #expect(report.firstFailure?.reason.contains("missing receipts 7") == true)
    }

    @Test func anInsertedReceipt() throws {
        let report = try verifyJSONL { $0.insert($0[2], at: 9) }
        #expect(report.firstFailure?.reason.contains("out of order or duplicated") == true)
    }

    @Test func reorderedReceipts() throws {
        let report = try verifyJSONL { $0.swapAt(3, 4) }
        #expect(!report.valid)
        #expect(report.firstFailure?.position == 4)
    }

    @Test func aTruncatedFile() throws {
        let report = try verifyJSONL { content in
            content.removeLast()  // the trailing empty line
            content[content.count - 1] = String(content[content.count - 1].prefix(40))
        }
        #expect(report.firstFailure?.reason.contains("truncated") == true)
    }

    @Test func truncationFromTheFrontWithoutACheckpoint() throws {
        let report = try verifyJSONL { $0.removeFirst(3) }
        #expect(report.failures.contains { $0.reason.contains("no signed checkpoint") })
    }

    @Test func aBadSignature() throws {
        let other = SigningKey.generate()
        let report = try verifyJSONL { content in
            var receipt = try! Receipt.parse(content[7]).body
            receipt["signature"] = .string(other.sign(receipt["hash"]!.stringValue!))
            content[7] = CanonicalJSON.string(.object(receipt))
        }
        #expect(report.firstFailure?.seq == 8)
        #expect(report.firstFailure?.reason == "bad signature")
    }

    @Test func aForgerWithItsOwnKeyIsAnUntrustedSigner() throws {
        // Re-sign a whole edited chain with another key: internally consistent, but not trusted.
        let path = temporaryDirectory() + "/forged.jsonl"
        let forger = Sealer(key: SigningKey.generate())
        let store = try ReceiptStores.open(path: path)
        for i in 0..<5 { _ = try store.append([draft(i)], sealer: forger) }
        let pinned = try store.verify(trust: trusted)
        #expect(pinned.firstFailure?.reason.contains("not a trusted signer") == true)
        let unpinned = try store.verify(trust: TrustedSigners())
        #expect(unpinned.valid)
        #expect(unpinned.trust == "unpinned")
        #expect(!unpinned.warnings.isEmpty)
    }

    @Test func sqliteEditsAreCaughtToo() throws {
        let path = temporaryDirectory() + "/l.sqlite"
        let store = try filled(path) as! SQLiteStore
        try store.queue.write { db in
            try db.execute(sql: "UPDATE receipts SET body = replace(body, '\"allow\"', '\"deny\"') WHERE seq = 3")
        }
        #expect(try store.verify(trust: trusted).firstFailure?.seq == 3)
        try store.queue.write { db in try db.execute(sql: "DELETE FROM receipts WHERE seq = 3") }
        #expect(try store.verify(trust: trusted).firstFailure?.reason.contains("missing receipts 3") == true)
        try store.queue.write { db in
            try db.execute(sql: "UPDATE receipts SET decision = 'allow', status = 'x' WHERE seq = 5")
        }
        let columns = try SQLiteStore(path: path)
        #expect(try columns.verify(trust: trusted).failures.count >= 1)
    }
}

@Suite("Crash safety and concurrency")
struct CrashSafetyTests {
    @Test func aTornFinalWriteIsReportedThenRecoveredWithoutLosingAcknowledgedReceipts() throws {
        let directory = temporaryDirectory()
        let path = directory + "/l.jsonl"
        let store = try filled(path, count: 5)
        let acknowledged = try store.query(ReceiptQuery()).map(\.hash)
        // A writer died in the middle of its line.
        let handle = FileHandle(forWritingAtPath: path)!
        handle.seekToEndOfFile()
        handle.write(Data("{\"schema\":\"countersign.receipt.v1\",\"seq\":6,\"kin".utf8))
        try handle.close()
        let torn = try store.verify(trust: trusted)
        #expect(!torn.valid)
        #expect(torn.firstFailure?.reason.contains("torn final write") == true)

        // The next writer (a new process: a new store object) keeps the torn bytes aside, records that it
        // did (the evidence receipt comes first), then appends.
        let next = try JSONLStore(path: path)
        let appended = try next.append([draft(99)], sealer: sealer)
        #expect(appended.count == 1 && appended[0].seq == 7)
        #expect(next.lastRecovery?.contains("torn final write") == true)
        let report = try next.verify(trust: trusted)
        #expect(report.valid, "\(report.failures.map(\.reason))")
        #expect(report.receipts == 7)
        let all = try next.query(ReceiptQuery())
        #expect(Array(all.map(\.hash).prefix(5)) == acknowledged)
        let aside = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".torn-") }
        #expect(aside.count == 1)
        let evidence = all[5]
        #expect(evidence.kind == "event" && evidence.status == "torn_write_recovered")
        #expect(evidence.body["event"]?["bytes"] == .int(47))
        #expect(evidence.body["event"]?["saved_to"]?.stringValue == directory + "/" + aside[0])
    }

    @Test func aReceiptWhoseNewlineWasRemovedKeepsItsPlaceAndSeq() throws {
        let directory = temporaryDirectory()
        let path = directory + "/l.jsonl"
        let store = try filled(path, count: 5)
        let acknowledged = try store.query(ReceiptQuery()).map(\.hash)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data.removeLast()  // the last receipt's newline
        try data.write(to: URL(fileURLWithPath: path))
        let next = try JSONLStore(path: path)
        let appended = try next.append([draft(99)], sealer: sealer)
        #expect(appended[0].seq == 6)
        #expect(next.lastRecovery?.contains("had no final newline") == true)
        #expect(Array(try next.query(ReceiptQuery()).map(\.hash).prefix(5)) == acknowledged)
        #expect(try next.verify(trust: trusted).valid)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".torn-") }.isEmpty)
    }

    @Test func aDamagedLineTheCheckpointCoversIsNeverWrittenOver() throws {
        let path = temporaryDirectory() + "/l.jsonl"
        let store = try filled(path, count: 5)
        try LedgerCheckpoints.advance(store: store, key: sealer.key)
        // Damage the last (checkpointed) receipt's line: it no longer parses, and lost its newline.
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data.removeLast(20)
        try data.write(to: URL(fileURLWithPath: path))
        let next = try JSONLStore(path: path)
        #expect {
            _ = try next.append([draft(99)], sealer: sealer)
        } throws: { "\($0)".contains("refusing to write over an acknowledged receipt") }
        #expect(!(try next.verify(trust: trusted).valid))
    }

    @Test func aFileWithOnlyATornLineRecovers() throws {
        let path = temporaryDirectory() + "/l.jsonl"
        try "{\"seq\":1,".write(toFile: path, atomically: true, encoding: .utf8)
        let store = try JSONLStore(path: path)
        _ = try store.append([draft(1)], sealer: sealer)
        #expect(try store.verify(trust: trusted).valid)
    }

    @Test(arguments: ["g.sqlite", "g.jsonl"])
    func concurrentWritersShareCommitsAndKeepOneChain(name: String) async throws {
        let writer = LedgerWriter(
            store: try ReceiptStores.open(path: temporaryDirectory() + "/" + name), sealer: sealer)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for i in 0..<100 { _ = try await writer.append([draft(task * 1000 + i)]) }
                }
            }
            try await group.waitForAll()
        }
        let report = try writer.store.verify(trust: trusted)
        #expect(report.valid)
        #expect(report.receipts == 800)
    }

    @Test func separateStoreObjectsOnOneSQLiteFileInterleaveSafely() throws {
        // Two connections behave like two processes: each append reads the tail inside its transaction.
        let path = temporaryDirectory() + "/shared.sqlite"
        let a = try SQLiteStore(path: path)
        let b = try SQLiteStore(path: path)
        DispatchQueue.concurrentPerform(iterations: 2) { side in
            let store = side == 0 ? a : b
            for i in 0..<200 { _ = try! store.append([draft(i)], sealer: sealer) }
        }
        let report = try a.verify(trust: trusted)
        #expect(report.valid)
        #expect(report.receipts == 400)
    }
}

@Suite("Retention and bundles")
struct RetentionAndBundleTests {
    @Test(arguments: ["r.jsonl", "r.sqlite"])
    func pruningLeavesACheckpointThatVerifies(name: String) throws {
        let store = try filled(temporaryDirectory() + "/" + name, count: 30)
        let result = try Retention.prune(store, sealer: sealer, keepLast: 10)
        #expect(result.pruned == 20)
        let report = try store.verify(trust: trusted)
        #expect(report.valid, "\(report.failures.map(\.reason))")
        #expect(report.firstSeq == 21)
        #expect(report.pruned.count == 1)
        #expect(report.pruned[0].from == 1 && report.pruned[0].to == 20 && report.pruned[0].count == 20)
        #expect(report.receipts == 11)  // the newest 10 and the checkpoint
        #expect(try Retention.prune(store, sealer: sealer, olderThan: "2000-01-01T00:00:00Z").pruned == 0)
    }

    @Test func bundlesOfAnySelectionVerify() throws {
        let directory = temporaryDirectory()
        let store = try ReceiptStores.open(path: directory + "/l.jsonl")
        // Interleaved traces and receipts without a trace: DualKey's verify rejected such bundles.
        for (i, trace) in ["A", "B", "", "A", "C", "", "B"].enumerated() {
            var d = draft(i)
            d.traceID = trace.isEmpty ? nil : trace
            _ = try store.append([d], sealer: sealer)
        }
        for (name, query) in [
            ("all", ReceiptQuery()),
            (
                "trace-a",
                {
                    var q = ReceiptQuery()
                    q.traceID = "A"
                    return q
                }()
            ),
        ] {
            let out = directory + "/" + name
            try AuditBundle.export(
                store.query(query), to: out, source: "l.jsonl", query: .null, reports: ["report.md": "# report\n"],
                key: testKey)
            let report = AuditBundle.verify(out, trust: trusted)
            #expect(report.valid, "\(name): \(report.failures.map(\.reason))")
            #expect(AuditBundle.verify(out + "/manifest.json", trust: trusted).valid)
        }
        let bundle = directory + "/trace-a"
        // A changed report file.
        try "# edited\n".write(toFile: bundle + "/report.md", atomically: true, encoding: .utf8)
        #expect(
            AuditBundle.verify(bundle, trust: trusted).failures.contains { $0.reason.contains("report.md was changed") }
        )
        // A removed receipt (file hash and listed receipts both catch it).
        try AuditBundle.export(
            store.query(
                {
                    var q = ReceiptQuery()
                    q.traceID = "A"
                    return q
                }()), to: bundle, source: "l.jsonl", query: .null, reports: [:], key: testKey)
        write(Array(lines(bundle + "/receipts.jsonl").dropFirst()), bundle + "/receipts.jsonl")
        #expect(!AuditBundle.verify(bundle, trust: trusted).valid)
        // A changed manifest.
        try AuditBundle.export(
            store.query(ReceiptQuery()), to: bundle, source: "l.jsonl", query: .null, reports: [:], key: testKey)
        let manifest = try String(contentsOfFile: bundle + "/manifest.json", encoding: .utf8)
        try manifest.replacingOccurrences(of: "\"l.jsonl\"", with: "\"x.jsonl\"").write(
            toFile: bundle + "/manifest.json", atomically: true, encoding: .utf8)
        #expect(
            AuditBundle.verify(bundle, trust: trusted).failures.contains { $0.reason.contains("manifest was changed") })
        // An untrusted exporter.
        try AuditBundle.export(
            store.query(ReceiptQuery()), to: bundle, source: "l.jsonl", query: .null, reports: [:],
            key: SigningKey.generate())
        #expect(
            AuditBundle.verify(bundle, trust: trusted).failures.contains { $0.reason.contains("not a trusted signer") })
    }
}

@Suite("Redaction")
struct RedactionTests {
    let redactor = Redactor()

    @Test(arguments: [
        ("token=abc123def", "token=[REDACTED]"),
        ("access_token=abc123def&x=1", "access_token=[REDACTED]&x=1"),
        ("password: hunter22", "password: [REDACTED]"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abc", "Authorization: Bearer [REDACTED]"),
        ("curl -H 'Bearer abcdefghijklmnop'", "curl -H 'Bearer [REDACTED]'"),
        ("key sk-proj-AbCdEf0123456789xyz end", "key [REDACTED_TOKEN] end"),
        ("sk-live-0123456789abcdef", "[REDACTED_TOKEN]"),
        ("ghp_0123456789abcdefghijABCDEFGHIJ", "[REDACTED_TOKEN]"),
        ("AKIAIOSFODNN7EXAMPLE", "[REDACTED_TOKEN]"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "[REDACTED_PRIVATE_KEY]"),
        ("STRIPE_SECRET_KEY=sk_live_51Hxyz", "STRIPE_SECRET_KEY=[REDACTED]"),
        ("plain text about tokens", "plain text about tokens"),
    ])
    func strings(input: String, expected: String) {
        #expect(redactor.redact(input) == expected)
    }

    @Test func secretFieldsOfJSON() {
        let value: JSONValue = [
            "password": "p", "nested": ["api_key": "k", "github_token": 5, "name": "ok"],
            "list": ["Bearer abcdefghijk"],
        ]
        let redacted = redactor.redact(value)
        #expect(redacted["password"] == "[REDACTED]")
        #expect(redacted["nested"]?["api_key"] == "[REDACTED]")
        #expect(redacted["nested"]?["github_token"] == "[REDACTED]")
        #expect(redacted["nested"]?["name"] == "ok")
        #expect(redacted["list"] == ["Bearer [REDACTED]"])
        #expect(Redactor(enabled: false).redact(value) == value)
    }

    @Test func receiptsNeverStoreTheSecretNorItsPlainHash() throws {
        let envelope = ActionEnvelope(
            actor: "a", surface: "s", tool: "t", intent: "i", args: ["command": "export API_KEY=supersecret1"])
        let store = try ReceiptStores.open(path: temporaryDirectory() + "/r.jsonl")
        let receipt = try store.append(
            [ReceiptDraft.forAction(envelope, kind: .decision, status: "authorized", redactor: Redactor())],
            sealer: sealer)[0]
        #expect(!receipt.canonicalText.contains("supersecret1"))
        // The plain hash of the envelope would confirm a guessed secret; the sealer keys it instead.
        #expect(receipt.actionHash != envelope.actionHash)
        #expect(!receipt.canonicalText.contains(String(envelope.actionHash.dropFirst(7))))
    }
}

@Suite("Keys")
struct KeyTests {
    @Test func keyFilesAreWrittenPrivatelyAndNeverOverwrittenSilently() throws {
        let path = temporaryDirectory() + "/k/signing-key"
        let key = SigningKey.generate()
        try KeyFile.write(key, to: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try KeyFile.read(path).keyID == key.keyID)
        #expect(throws: KeyError.self) { try KeyFile.write(SigningKey.generate(), to: path) }
    }

    @Test func adaptersNeverCreateAKey() throws {
        let directory = temporaryDirectory()
        #expect {
            _ = try KeyResolver.resolve(explicitPath: nil, stateDirectory: directory)
        } throws: { "\($0)".contains("adapters never create one") }
        #expect(!FileManager.default.fileExists(atPath: directory + "/signing-key"))
        // An absolute ledger path names the state home: the key beside it, wherever the process runs — and
        // an adapter uses it only when it is pinned (this one is not: a project could have planted it).
        let key = SigningKey.generate()
        try KeyFile.write(key, to: directory + "/signing-key")
        #expect {
            _ = try KeyResolver.resolve(
                explicitPath: nil, stateDirectory: "/nonexistent", ledger: directory + "/ledger.sqlite")
        } throws: { "\($0)".contains("\(directory)/signing-key (\(key.keyID)) is not in your trust file") }
        // Named explicitly (a key file swapped at the path the hooks were installed with): refused too.
        #expect {
            _ = try KeyResolver.resolve(explicitPath: directory + "/signing-key", stateDirectory: "/nonexistent")
        } throws: { "\($0)".contains("is not in your trust file") }
    }

    @Test func badKeyMaterialIsRefused() {
        #expect(throws: KeyError.self) { try SigningKey(privateKeyHex: "abcd") }
        #expect(throws: KeyError.self) { try PublicKey(hex: String(repeating: "z", count: 64)) }
    }
}

@Suite("Sealing")
struct SealingTests {
    @Test func theStoredTextIsTheCanonicalEncodingOfTheBody() throws {
        let receipt = sealer.seal(draft(1), seq: 1, prev: Receipt.genesis)
        #expect(receipt.canonicalText == CanonicalJSON.string(.object(receipt.body)))
        #expect(receipt.computedHash == receipt.hash)
        #expect(try Receipt.parse(receipt.canonicalText) == receipt)
    }
}

@Suite("Hashing stored text")
struct StoredTextHashTests {
    @Test func theStoredTextHashesToTheReceiptHash() {
        let receipt = sealer.seal(draft(3), seq: 1, prev: Receipt.genesis)
        #expect(
            Receipt.hashOfStoredText(receipt.canonicalText, hash: receipt.hash, signature: receipt.signature)
                == receipt.hash)
        let edited = receipt.canonicalText.replacingOccurrences(of: "\"authorized\"", with: "\"blocked\"")
        #expect(Receipt.hashOfStoredText(edited, hash: receipt.hash, signature: receipt.signature) != receipt.hash)
    }

    @Test func reformattedReceiptsAreRefusedInALedger() throws {
        // What is stored must be what was signed: a re-spaced line could be made to read differently
        // from the canonical text to a reader that does not re-encode.
        let path = temporaryDirectory() + "/l.jsonl"
        let store = try filled(path, count: 3)
        var content = lines(path)
        let object = try JSONSerialization.jsonObject(with: Data(content[1].utf8))
        content[1] = String(
            decoding: try JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes]),
            as: UTF8.self)
        write(content, path)
        let report = try store.verify(trust: trusted)
        #expect(!report.valid)
        #expect(report.firstFailure?.seq == 2)
        #expect(report.firstFailure?.reason.contains("not the canonical encoding") == true)
    }
}
