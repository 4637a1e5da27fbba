import ArgumentParser
import CountersignCore
import CountersignLedger
import CountersignWitness
import Foundation

/// `countersign checkpoint`: signs the ledger's Merkle root as a C2SP checkpoint, on demand.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Sign a checkpoint of the ledger's Merkle tree (C2SP signed note) and have witnesses cosign it.",
        discussion: """
            The ledger is an RFC 6962 Merkle tree whose leaf i is receipt i+1 (docs/receipts.md). A checkpoint \
            is a signed note naming the ledger (its origin), the number of receipts and the root hash, signed \
            by the log key. It is written to <ledger>.checkpoint and printed (or written to --output). Each \
            --witness URL (a tlog-witness such as 'countersign witness serve') is sent the checkpoint with a \
            consistency proof from the last one it cosigned; the cosignatures are added to the note.

            Keep a copy elsewhere: 'countersign verify LEDGER --checkpoint FILE' then fails if the ledger no \
            longer extends it (truncated, rewritten or forked).

            Exit codes: 0 written (and cosigned by every witness named); 1 otherwise.
            """
    )

    @Option(
        name: .long,
        help: ArgumentHelp("The ledger (default .countersign/ledger.sqlite).", valueName: "path"))
    var ledger: String?
    @Option(
        name: .long, help: ArgumentHelp("The log's signing key file (default: as for receipts).", valueName: "path"))
    var key: String?
    @Option(name: .long, help: ArgumentHelp("Also write the checkpoint to this file.", valueName: "path"))
    var output: String?
    @Option(name: .long, help: ArgumentHelp("A tlog-witness to cosign it (repeatable).", valueName: "url"))
    var witness: [String] = []

    func run() throws {
        try reportingErrors {
            let path = ledger ?? StateDirectory.defaultLedger
            let store = try openExisting(path)
            let resolved = try KeyResolver.resolve(explicitPath: key, stateDirectory: StateDirectory.path)
            let cosigners = try witness.map { try WitnessClient(parsing: $0) }
            let refusals = Refusals()
            let checkpointer = Checkpointer(
                store: store, key: resolved.key, cosigners: cosigners,
                report: { message in
                    Terminal.error(message)
                    refusals.add()
                })
            guard let signed = try checkpointer.checkpointNow() else {
                throw CLIError("the ledger \(path) is empty: nothing to checkpoint")
            }
            if let output {
                try Terminal.write(signed.note.serialized, to: output)
                Terminal.error("wrote \(output) and \(checkpointer.path) (size \(signed.checkpoint.size))")
            } else {
                try Terminal.write(signed.note.serialized)
            }
            if refusals.count > 0 {
                throw CLIError("\(refusals.count) of \(cosigners.count) witnesses did not cosign")
            }
        }
    }
}

/// Counts reported refusals (the checkpointer reports on its own queue).
final class Refusals: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add() { lock.withLock { value += 1 } }
    var count: Int { lock.withLock { value } }
}

/// `countersign prove`: an inclusion proof for one receipt, or a consistency proof from an older
/// checkpoint, both against the latest checkpoint beside the ledger.
struct ProveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove",
        abstract: "Print an RFC 6962 inclusion or consistency proof against the latest checkpoint.",
        discussion: """
            countersign prove --seq 42                          # receipt 42 is in the checkpointed tree
            countersign prove --consistency old.checkpoint      # the tree grew from the old checkpoint
            The latest checkpoint is <ledger>.checkpoint (written by writers and 'countersign checkpoint'). \
            Proofs follow RFC 6962 §2.1.1 and §2.1.2 and verify with RFC 9162 §2.1.3.2 and §2.1.4.2; \
            --format json gives the hashes as hex.

            Exit codes: 0 proof printed; 1 no proof (the receipt is not covered, or the ledger does not \
            extend the old checkpoint).
            """
    )

    @Option(name: .long, help: ArgumentHelp("The ledger (default .countersign/ledger.sqlite).", valueName: "path"))
    var ledger: String?
    @Option(name: .long, help: "Prove that this receipt is in the tree.") var seq: Int64?
    @Option(
        name: .long, help: ArgumentHelp("Prove that the tree extends this older checkpoint.", valueName: "file"))
    var consistency: String?
    @Option(name: .long, help: "text or json") var format: OutputFormat = .text

    func validate() throws {
        if (seq == nil) == (consistency == nil) { throw ValidationError("pass either --seq N or --consistency FILE") }
        if let seq, seq < 1 { throw ValidationError("--seq must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            let path = ledger ?? StateDirectory.defaultLedger
            let store = try openExisting(path)
            let checkpointPath = LedgerLog.checkpointPath(forLedger: path)
            guard FileManager.default.fileExists(atPath: checkpointPath) else {
                throw CLIError("no checkpoint at \(checkpointPath): run 'countersign checkpoint --ledger \(path)'")
            }
            let latest = try SignedCheckpoint.read(checkpointPath)
            let (tree, origin) = try LedgerLog.load(store)
            let problems = LedgerLog.problems(extending: latest.checkpoint, tree: tree, origin: origin)
            if let problem = problems.first { throw CLIError("\(checkpointPath): \(problem)") }
            let size = latest.checkpoint.size
            let root = latest.checkpoint.rootHash
            if let seq {
                guard seq <= size else {
                    throw CLIError(
                        "receipt \(seq) is not covered by the latest checkpoint (size \(size)); run 'countersign checkpoint'"
                    )
                }
                let index = Int(seq) - 1
                let proof = try tree.inclusionProof(index: index, size: size)
                let leaf = tree.leafHash(at: index)
                guard Merkle.verifyInclusion(leafHash: leaf, index: index, size: size, proof: proof, root: root) else {
                    throw CLIError("the inclusion proof does not verify")
                }
                switch format {
                case .json:
                    try Terminal.write(
                        Terminal.prettyJSON([
                            "type": "inclusion", "origin": .string(latest.checkpoint.origin), "seq": .int(seq),
                            "leaf_index": .int(Int64(index)), "tree_size": .int(Int64(size)),
                            "root_hash": .string(Digest.hex(root)), "leaf_hash": .string(Digest.hex(leaf)),
                            "hashes": .array(proof.map { .string(Digest.hex($0)) }),
                            "checkpoint": .string(latest.note.serialized),
                        ]))
                case .text:
                    var lines = [
                        "inclusion proof: receipt #\(seq) (leaf \(index)) in \(latest.checkpoint.origin) size \(size)",
                        "root: \(Digest.hex(root))", "leaf: \(Digest.hex(leaf))",
                    ]
                    lines += proof.enumerated().map { "  \($0.offset + 1). \(Digest.hex($0.element))" }
                    try Terminal.write(lines.joined(separator: "\n") + "\nverified: yes\n")
                }
                return
            }
            let old = try SignedCheckpoint.read(consistency!)
            guard old.checkpoint.origin == latest.checkpoint.origin else {
                throw CLIError(
                    "\(consistency!) is for another log (\(old.checkpoint.origin), not \(latest.checkpoint.origin))")
            }
            guard old.checkpoint.size <= size else {
                throw CLIError(
                    "\(consistency!) commits to \(old.checkpoint.size) receipts but the latest checkpoint only to \(size): the ledger was truncated or rolled back"
                )
            }
            let proof = try tree.consistencyProof(from: old.checkpoint.size, to: size)
            guard
                Merkle.verifyConsistency(
                    oldSize: old.checkpoint.size, newSize: size, oldRoot: old.checkpoint.rootHash, newRoot: root,
                    proof: proof)
            else {
                throw CLIError(
                    "the ledger does not extend \(consistency!): its first \(old.checkpoint.size) receipts were rewritten or forked"
                )
            }
            switch format {
            case .json:
                try Terminal.write(
                    Terminal.prettyJSON([
                        "type": "consistency", "origin": .string(latest.checkpoint.origin),
                        "old_size": .int(Int64(old.checkpoint.size)), "new_size": .int(Int64(size)),
                        "old_root": .string(Digest.hex(old.checkpoint.rootHash)), "new_root": .string(Digest.hex(root)),
                        "hashes": .array(proof.map { .string(Digest.hex($0)) }),
                        "checkpoint": .string(latest.note.serialized),
                    ]))
            case .text:
                var lines = [
                    "consistency proof: \(latest.checkpoint.origin) size \(old.checkpoint.size) -> \(size)",
                    "old root: \(Digest.hex(old.checkpoint.rootHash))", "new root: \(Digest.hex(root))",
                ]
                lines += proof.enumerated().map { "  \($0.offset + 1). \(Digest.hex($0.element))" }
                try Terminal.write(lines.joined(separator: "\n") + "\nverified: yes\n")
            }
        }
    }
}
