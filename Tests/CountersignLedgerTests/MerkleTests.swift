import CountersignCore
import Crypto
import Foundation
import Testing

@testable import CountersignLedger

/// RFC 6962 §2.1 written out naively over the list of leaf hashes, to check the incremental tree against.
enum NaiveRFC6962 {
    static func mth(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        if leaves.isEmpty { return Array(SHA256.hash(data: [UInt8]())) }
        if leaves.count == 1 { return leaves.first! }
        var k = 1
        while k * 2 < leaves.count { k *= 2 }
        let start = leaves.startIndex
        return Merkle.nodeHash(mth(leaves[start..<(start + k)]), mth(leaves[(start + k)...]))
    }

    static func path(_ m: Int, _ leaves: ArraySlice<[UInt8]>) -> [[UInt8]] {
        if leaves.count <= 1 { return [] }
        var k = 1
        while k * 2 < leaves.count { k *= 2 }
        let start = leaves.startIndex
        if m < k { return path(m, leaves[start..<(start + k)]) + [mth(leaves[(start + k)...])] }
        return path(m - k, leaves[(start + k)...]) + [mth(leaves[start..<(start + k)])]
    }

    static func subproof(_ m: Int, _ leaves: ArraySlice<[UInt8]>, _ b: Bool) -> [[UInt8]] {
        if m == leaves.count { return b ? [] : [mth(leaves)] }
        var k = 1
        while k * 2 < leaves.count { k *= 2 }
        let start = leaves.startIndex
        if m <= k { return subproof(m, leaves[start..<(start + k)], b) + [mth(leaves[(start + k)...])] }
        return subproof(m - k, leaves[(start + k)...], false) + [mth(leaves[start..<(start + k)])]
    }
}

func leaves(_ n: Int) -> [[UInt8]] { (0..<n).map { Merkle.leafHash(Array("leaf \($0)".utf8)) } }

@Suite("RFC 6962 Merkle tree")
struct MerkleTreeTests {
    @Test func hashesFollowRFC6962() throws {
        // The empty tree's root is SHA-256 of the empty string (RFC 6962 §2.1).
        #expect(Digest.hex(Merkle.emptyRoot) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // A leaf is SHA-256(0x00 ‖ data): for empty data, SHA-256 of the single byte 0x00.
        #expect(
            Digest.hex(Merkle.leafHash([UInt8]()))
                == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        let a = Merkle.leafHash([1])
        let b = Merkle.leafHash([2])
        #expect(Merkle.nodeHash(a, b) == Array(SHA256.hash(data: [0x01] + a + b)))
        #expect(try MerkleTree(leafHashes: [a, b]).root() == Merkle.nodeHash(a, b))
    }

    @Test func rootsMatchTheNaiveDefinitionForEverySize() throws {
        let all = leaves(70)
        let tree = MerkleTree(leafHashes: all)
        for n in 0...70 {
            #expect(try tree.root(size: n) == NaiveRFC6962.mth(all[0..<n]), "size \(n)")
        }
    }

    @Test func inclusionProofsMatchAndVerifyForEveryLeafOfEverySize() throws {
        let all = leaves(70)
        let tree = MerkleTree(leafHashes: all)
        for n in 1...70 {
            let root = try tree.root(size: n)
            for m in 0..<n {
                let proof = try tree.inclusionProof(index: m, size: n)
                #expect(proof == NaiveRFC6962.path(m, all[0..<n]), "PATH(\(m), D[\(n)])")
                #expect(Merkle.verifyInclusion(leafHash: all[m], index: m, size: n, proof: proof, root: root))
                // Any other leaf, index, size or a changed proof fails.
                #expect(
                    !Merkle.verifyInclusion(leafHash: all[(m + 1) % 70], index: m, size: n, proof: proof, root: root))
                if n > 1 {
                    #expect(
                        !Merkle.verifyInclusion(leafHash: all[m], index: (m + 1) % n, size: n, proof: proof, root: root)
                    )
                    var bent = proof
                    bent[bent.count - 1][0] ^= 1
                    #expect(!Merkle.verifyInclusion(leafHash: all[m], index: m, size: n, proof: bent, root: root))
                    #expect(
                        !Merkle.verifyInclusion(
                            leafHash: all[m], index: m, size: n, proof: Array(proof.dropLast()), root: root))
                }
                #expect(
                    !Merkle.verifyInclusion(leafHash: all[m], index: m, size: n, proof: proof + [all[0]], root: root))
            }
        }
    }

    @Test func consistencyProofsMatchAndVerifyForEveryPairOfSizes() throws {
        let all = leaves(70)
        let tree = MerkleTree(leafHashes: all)
        for n in 1...70 {
            let newRoot = try tree.root(size: n)
            for m in 1...n {
                let oldRoot = try tree.root(size: m)
                let proof = try tree.consistencyProof(from: m, to: n)
                #expect(
                    proof == (m == n ? [] : NaiveRFC6962.subproof(m, all[0..<n], true)), "PROOF(\(m), D[\(n)])")
                #expect(
                    Merkle.verifyConsistency(oldSize: m, newSize: n, oldRoot: oldRoot, newRoot: newRoot, proof: proof))
                if m < n {
                    // A forked old tree (one leaf replaced) does not verify against the same proof.
                    var forked = Array(all[0..<m])
                    forked[m - 1] = Merkle.leafHash(Array("forged".utf8))
                    #expect(
                        !Merkle.verifyConsistency(
                            oldSize: m, newSize: n, oldRoot: NaiveRFC6962.mth(forked[...]), newRoot: newRoot,
                            proof: proof))
                    var bent = proof
                    bent[0][5] ^= 0x80
                    #expect(
                        !Merkle.verifyConsistency(
                            oldSize: m, newSize: n, oldRoot: oldRoot, newRoot: newRoot, proof: bent))
                    #expect(
                        !Merkle.verifyConsistency(
                            oldSize: m, newSize: n, oldRoot: oldRoot, newRoot: newRoot, proof: Array(proof.dropLast())))
                }
            }
        }
        #expect(
            Merkle.verifyConsistency(oldSize: 0, newSize: 5, oldRoot: [], newRoot: try tree.root(size: 5), proof: []))
        #expect(!Merkle.verifyConsistency(oldSize: 6, newSize: 5, oldRoot: [], newRoot: [], proof: []))
    }

    @Test func proofsOutsideTheTreeAreErrorsNotCrashes() {
        let tree = MerkleTree(leafHashes: leaves(5))
        #expect(throws: MerkleError.self) { try tree.inclusionProof(index: 5, size: 5) }
        #expect(throws: MerkleError.self) { try tree.inclusionProof(index: 0, size: 6) }
        #expect(throws: MerkleError.self) { try tree.inclusionProof(index: -1, size: 3) }
        #expect(throws: MerkleError.self) { try tree.consistencyProof(from: 4, to: 3) }
        #expect(throws: MerkleError.self) { try tree.root(size: 6) }
        #expect(!Merkle.verifyInclusion(leafHash: leaves(1)[0], index: 0, size: 0, proof: [], root: Merkle.emptyRoot))
        #expect(!Merkle.verifyInclusion(leafHash: leaves(1)[0], index: 0, size: 2, proof: [[1, 2]], root: []))
    }
}

@Suite("C2SP signed notes, checkpoints and cosignatures")
struct SignedNoteTests {
    @Test func keyIDsAndVerifierKeysFollowSignedNote() throws {
        let key = SigningKey.generate()
        let note = try NoteKey(name: "example.com/log", publicKey: key.publicKey)
        let expected = Array(
            SHA256.hash(data: Array("example.com/log".utf8) + [0x0A, 0x01] + Array(key.publicKey.raw)))
        #expect(note.keyID == Array(expected.prefix(4)))
        let parsed = try NoteKey.parse(vkey: note.vkey)
        #expect(parsed.name == "example.com/log" && parsed.publicKey == key.publicKey)
        #expect(note.vkey.hasPrefix("example.com/log+" + Digest.hex(note.keyID) + "+"))
        #expect(throws: NoteError.self) {
            try NoteKey.parse(vkey: "example.com/log+00000000+" + note.vkey.split(separator: "+", maxSplits: 2)[2])
        }
        // Keys whose base64 holds '+' parse too (the split is on the first two only).
        for _ in 0..<64 {
            let other = try NoteKey(name: "example.com/log", publicKey: SigningKey.generate().publicKey)
            #expect(try NoteKey.parse(vkey: other.vkey).publicKey == other.publicKey)
        }
        #expect(throws: NoteError.self) { try NoteKey(name: "has space", publicKey: key.publicKey) }
        #expect(throws: NoteError.self) { try NoteKey(name: "a+b", publicKey: key.publicKey) }
    }

    @Test func aSignedCheckpointRoundTripsAndVerifies() throws {
        let key = SigningKey.generate()
        let checkpoint = Checkpoint(origin: "countersign.dev/ledger/0123456789abcdef", size: 7, rootHash: leaves(1)[0])
        let signed = SignedCheckpoint.sign(checkpoint, key: key)
        let text = signed.note.serialized
        #expect(text.hasPrefix("countersign.dev/ledger/0123456789abcdef\n7\n"))
        #expect(text.contains("\n\n— \(key.keyID) "))
        let again = try SignedCheckpoint.parse(text)
        #expect(again.checkpoint == checkpoint)
        #expect(again.logSigners(among: [key.publicKey]) == [key.publicKey])
        #expect(again.logSigners(among: [SigningKey.generate().publicKey]).isEmpty)
        // One changed character in the body breaks the signature.
        let forged = try SignedCheckpoint.parse(text.replacingOccurrences(of: "\n7\n", with: "\n8\n"))
        #expect(forged.logSigners(among: [key.publicKey]).isEmpty)
    }

    @Test func cosignaturesSignTheTimestampedMessage() throws {
        let log = SigningKey.generate()
        let witness = SigningKey.generate()
        var signed = SignedCheckpoint.sign(
            Checkpoint(origin: "example.com/log", size: 3, rootHash: leaves(1)[0]), key: log)
        let cosignature = try Cosignature.sign(
            signed.note.text, name: "example.com/w1", key: witness, time: 1_679_315_147)
        #expect(cosignature.signature.count == 72)
        #expect(Array(cosignature.signature.prefix(8)) == [0, 0, 0, 0, 0x64, 0x18, 0x50, 0xCB])
        let message = Data("cosignature/v1\ntime 1679315147\n\(signed.note.text)".utf8)
        #expect(witness.publicKey.key.isValidSignature(Data(cosignature.signature.dropFirst(8)), for: message))
        #expect(
            cosignature.keyID
                == Array(
                    SHA256.hash(data: Array("example.com/w1".utf8) + [0x0A, 0x04] + Array(witness.publicKey.raw))
                        .prefix(4)))
        signed.add([cosignature])
        let parsed = try SignedCheckpoint.parse(signed.note.serialized)
        #expect(Cosignature.verified(in: parsed.note, publicKey: witness.publicKey)?.time == 1_679_315_147)
        #expect(Cosignature.verified(in: parsed.note, publicKey: log.publicKey) == nil)
        #expect(parsed.logSigners(among: [log.publicKey]) == [log.publicKey])
    }

    @Test(arguments: [
        "", "no newline", "origin\n1\nAAAA\n", "origin\n1\n\n— name AAAA\n", "text\n\n— name !!!\n",
        "text\n\n- name AAAAAAAAAAAA\n", "text\n\n— na me AAAAAAAAAAAA\n", "text\n\n— a+b AAAAAAAAAAAA\n",
        "te\u{1}xt\n\n— name AAAAAAAAAAAA\n", "text\n\n",
    ])
    func hostileNotesAreRejectedWithAReason(text: String) {
        #expect(throws: NoteError.self) { try SignedNote.parse(text) }
    }

    @Test(arguments: [
        "origin\n01\n" + Data(repeating: 0, count: 32).base64EncodedString() + "\n",
        "origin\n-1\n" + Data(repeating: 0, count: 32).base64EncodedString() + "\n",
        "\n1\n" + Data(repeating: 0, count: 32).base64EncodedString() + "\n",
        "origin\n1\n" + Data(repeating: 0, count: 31).base64EncodedString() + "\n",
        "origin\n99999999999999999999999\n" + Data(repeating: 0, count: 32).base64EncodedString() + "\n",
        "origin\n1\n",
    ])
    func hostileCheckpointBodiesAreRejected(text: String) {
        #expect(throws: NoteError.self) { try Checkpoint.parse(text: text) }
    }
}

@Suite("The ledger as a Merkle log")
struct LedgerLogTests {
    @Test(arguments: ["ledger.jsonl", "ledger.sqlite"])
    func theTreeIsBuiltFromTheReceiptsHashes(name: String) throws {
        let store = try filled(temporaryDirectory() + "/" + name, count: 9)
        let receipts = try store.query(ReceiptQuery())
        let (tree, origin) = try LedgerLog.load(store)
        #expect(tree.size == 9)
        let expected = receipts.map { Merkle.leafHash(Hex.decode(String($0.hash.dropFirst(7)))!) }
        #expect(try tree.root() == NaiveRFC6962.mth(expected[...]))
        #expect(origin == "countersign.dev/ledger/" + receipts[0].hash.dropFirst(7).prefix(16))
    }

    @Test func theWriterCheckpointsAfterCommitsAndOnClose() async throws {
        let directory = temporaryDirectory()
        let store = try ReceiptStores.open(path: directory + "/l.sqlite")
        let checkpointer = Checkpointer(store: store, key: testKey, interval: 0.05)
        let writer = LedgerWriter(store: store, sealer: sealer, checkpointer: checkpointer)
        for i in 0..<5 { _ = try await writer.append([draft(i)]) }
        try await Task.sleep(for: .milliseconds(300))
        let first = try SignedCheckpoint.read(directory + "/l.sqlite.checkpoint")
        #expect(first.checkpoint.size == 5)
        for i in 5..<12 { _ = try await writer.append([draft(i)]) }
        await writer.close()
        let last = try SignedCheckpoint.read(directory + "/l.sqlite.checkpoint")
        #expect(last.checkpoint.size == 12)
        #expect(last.logSigners(among: [testKey.publicKey]) == [testKey.publicKey])
        let (tree, origin) = try LedgerLog.load(store)
        #expect(LedgerLog.problems(extending: last.checkpoint, tree: tree, origin: origin).isEmpty)
        #expect(LedgerLog.problems(extending: first.checkpoint, tree: tree, origin: origin).isEmpty)
    }

    @Test func truncationAndRewriteAreNamed() throws {
        let directory = temporaryDirectory()
        let store = try filled(directory + "/l.jsonl", count: 10)
        let (tree, origin) = try LedgerLog.load(store)
        let checkpoint = Checkpoint(origin: origin!, size: 10, rootHash: try tree.root())
        var shorter = MerkleTree()
        for i in 0..<8 { shorter.append(leafHash: tree.leafHash(at: i)) }
        #expect(
            LedgerLog.problems(extending: checkpoint, tree: shorter, origin: origin).first?.contains(
                "receipts 9…10 are missing") == true)
        var rewritten = shorter
        rewritten.append(leafHash: leaves(1)[0])
        rewritten.append(leafHash: tree.leafHash(at: 9))
        #expect(
            LedgerLog.problems(extending: checkpoint, tree: rewritten, origin: origin).first?.contains("rewritten")
                == true)
    }
}

@Suite("Witness core (c2sp.org/tlog-witness)")
struct WitnessCoreTests {
    func setUp() throws -> (WitnessCore, SigningKey, MerkleTree) {
        let log = SigningKey.generate()
        let core = try WitnessCore(
            key: SigningKey.generate(), directory: temporaryDirectory(),
            logKeys: [try NoteKey(name: log.keyID, publicKey: log.publicKey)])
        return (core, log, MerkleTree(leafHashes: leaves(40)))
    }

    func request(_ tree: MerkleTree, size: Int, old: Int, key: SigningKey, proof: [[UInt8]]? = nil) throws -> Data {
        let signed = SignedCheckpoint.sign(
            Checkpoint(origin: "example.com/log", size: size, rootHash: try tree.root(size: size)), key: key)
        let path = try proof ?? tree.consistencyProof(from: old, to: size)
        return Data(WitnessCore.requestBody(oldSize: old, proof: path, checkpoint: signed).utf8)
    }

    @Test func cosignsConsistentGrowthAndRefusesEverythingElse() throws {
        let (core, log, tree) = try setUp()
        let first = core.addCheckpoint(try request(tree, size: 10, old: 0, key: log))
        #expect(first.status == 200)
        let line = try NoteSignature.parse(String(first.body.dropLast()))
        #expect(line.name == core.name && line.signature.count == 72)
        #expect(core.latest(origin: "example.com/log")?.checkpoint.size == 10)
        // Stale old size: 409 with the witness's size.
        let stale = core.addCheckpoint(try request(tree, size: 20, old: 0, key: log))
        #expect(stale == .init(status: 409, contentType: "text/x.tlog.size", body: "10\n"))
        // Growth with a valid proof.
        #expect(core.addCheckpoint(try request(tree, size: 20, old: 10, key: log)).status == 200)
        // A rewritten log (different leaves) signed with the log key: the proof cannot verify.
        var forked = MerkleTree(leafHashes: Array(leaves(40)[0..<15]))
        for i in 0..<25 { forked.append(leafHash: Merkle.leafHash(Array("rewrite \(i)".utf8))) }
        #expect(core.addCheckpoint(try request(forked, size: 30, old: 20, key: log)).status == 422)
        // Same size, other root: a fork.
        #expect(core.addCheckpoint(try request(forked, size: 20, old: 20, key: log)).status == 409)
        // Rollback: smaller than what was cosigned.
        #expect(core.addCheckpoint(try request(tree, size: 15, old: 15, key: log)).status == 409)
        // An unknown log key.
        #expect(core.addCheckpoint(try request(tree, size: 30, old: 20, key: SigningKey.generate())).status == 403)
        // old larger than the checkpoint.
        #expect(core.addCheckpoint(try request(tree, size: 20, old: 25, key: log, proof: [])).status == 400)
        #expect(core.latest(origin: "example.com/log")?.checkpoint.size == 20)
    }

    @Test(arguments: [
        "", "old 0\n", "old x\n\nbody\n", "old 01\n\norigin\n1\nAA==\n\n— a AAAAAAAA\n", "old 1\n!!!\n\norigin\n",
        "new 1\n\norigin\n",
    ])
    func malformedRequestsAre400(body: String) throws {
        let (core, _, _) = try setUp()
        #expect(core.addCheckpoint(Data(body.utf8)).status == 400)
    }
}
