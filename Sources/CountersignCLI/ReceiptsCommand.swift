import ArgumentParser
import CountersignCore
import CountersignLedger
import CountersignReports
import Foundation

enum ReceiptsFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, jsonl, timeline, markdown, html, bundle
}

struct ReceiptFilters: ParsableArguments {
    @Option(name: .long, help: "Only this trace id.") var trace: String?
    @Option(name: .long, help: "Only this session id.") var session: String?
    @Option(name: .long, help: "Only this action hash (sha256:…).") var actionHash: String?
    @Option(name: .long, help: "Only this status (authorized, blocked, executed, error, unmediated, …).") var status:
        String?
    @Option(name: .long, help: "Only this final decision (allow, deny, ask->approved, ask->rejected, ask->expired).")
    var decision: String?
    @Option(name: .long, help: "Only decisions of this rule id.") var rule: String?
    @Option(name: .long, help: "Only this kind (decision, approval, outcome, checkpoint).") var kind: String?
    @Option(name: .long, help: "From this time (RFC 3339) or age (30d, 12h).") var since: String?
    @Option(name: .long, help: "Before this time (RFC 3339) or age.") var until: String?
    @Option(name: .long, help: "At most this many receipts.") var limit: Int?
    @Option(name: .long, help: "asc (chain order) or desc.") var order: Order = .asc

    enum Order: String, ExpressibleByArgument { case asc, desc }

    func query() throws -> ReceiptQuery {
        var q = ReceiptQuery()
        q.traceID = trace
        q.sessionID = session
        q.actionHash = actionHash
        q.status = status
        q.decision = decision
        q.ruleID = rule
        q.kind = kind
        q.since = try since.map(timeBound)
        q.until = try until.map(timeBound)
        q.limit = limit
        q.descending = order == .desc
        return q
    }

    var json: JSONValue {
        func o(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        return .object([
            "trace": o(trace), "session": o(session), "action_hash": o(actionHash), "status": o(status),
            "decision": o(decision), "rule": o(rule), "kind": o(kind), "since": o(since), "until": o(until),
            "limit": limit.map { .int(Int64($0)) } ?? .null, "order": .string(order.rawValue),
        ])
    }
}

struct ReceiptsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipts",
        abstract: "Query receipts and export reports or audit bundles.",
        discussion: """
            Examples:
              countersign receipts                                   # the default ledger, as a table
              countersign receipts --status blocked --format timeline
              countersign receipts --status unmediated               # tool calls that ran without a decision
              countersign receipts --trace T --format bundle --output audit-T
              countersign receipts --format html --output ledger.html  # one self-contained file
            """
    )

    @Argument(help: "The ledger (default .countersign/ledger.sqlite).") var ledger: String?
    @OptionGroup var filters: ReceiptFilters
    @Option(name: .long, help: "table, json, jsonl, timeline, markdown, html or bundle.") var format: ReceiptsFormat =
        .table
    @Option(name: .long, help: ArgumentHelp("Write to this file (a directory for bundles).", valueName: "path"))
    var output: String?
    @Option(name: .long, help: ArgumentHelp("The key that signs bundle manifests.", valueName: "path")) var key: String?

    func validate() throws {
        if format == .bundle && output == nil { throw ValidationError("--format bundle needs --output DIRECTORY") }
    }

    func run() throws {
        try reportingErrors {
            let path = ledger ?? StateDirectory.defaultLedger
            let store = try openExisting(path)
            let receipts = try store.query(try filters.query())
            switch format {
            case .table: try Terminal.write(Render.table(receipts), to: output)
            case .timeline: try Terminal.write(Render.timeline(receipts), to: output)
            case .markdown: try Terminal.write(Render.markdown(receipts), to: output)
            case .json: try Terminal.write(Terminal.prettyJSON(.array(receipts.map { .object($0.body) })), to: output)
            case .jsonl: try Terminal.write(receipts.map { $0.canonicalText + "\n" }.joined(), to: output)
            case .html:
                try Terminal.write(
                    HTMLViewer.render(title: "Countersign receipts", receipts: receipts, subtitle: path), to: output)
            case .bundle:
                let resolved = try KeyResolver.resolve(
                    explicitPath: key, stateDirectory: StateDirectory.path, ledger: ledger)
                var files = ["report.md": Render.markdown(receipts), "timeline.txt": Render.timeline(receipts)]
                files.merge(try merkleEvidence(receipts, store: store, ledger: path, key: resolved.key)) { a, _ in a }
                try AuditBundle.export(
                    receipts, to: output!, source: path, query: filters.json, reports: files, key: resolved.key)
                Terminal.error(
                    "wrote bundle \(output!) (\(receipts.count) receipts); check it with: countersign verify \(output!)"
                )
            }
        }
    }
}

/// The bundle's checkpoint and inclusion proofs: the latest checkpoint beside the ledger when it covers
/// every selected receipt (it keeps its witness cosignatures), else a fresh one signed by `key`.
func merkleEvidence(
    _ receipts: [Receipt], store: any ReceiptStore, ledger: String, key: SigningKey
) throws -> [String: String] {
    let loaded: (tree: MerkleTree, origin: String?)
    do {
        loaded = try LedgerLog.load(store)
    } catch {
        Terminal.error("countersign: the bundle carries no Merkle evidence: \(error)")
        return [:]
    }
    let tree = loaded.tree
    guard let origin = loaded.origin, tree.size > 0 else { return [:] }
    let lastSeq = receipts.map(\.seq).max() ?? 0
    var checkpoint = SignedCheckpoint.sign(
        Checkpoint(origin: origin, size: tree.size, rootHash: try tree.root()), key: key)
    if let latest = try? SignedCheckpoint.read(LedgerLog.checkpointPath(forLedger: ledger)),
        latest.checkpoint.size >= Int(lastSeq),
        LedgerLog.problems(extending: latest.checkpoint, tree: tree, origin: origin).isEmpty
    {
        checkpoint = latest
    }
    return try AuditBundle.evidence(for: receipts, tree: tree, checkpoint: checkpoint)
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a ledger or an audit bundle offline.",
        discussion: """
            Checks every receipt's hash, its link to the previous one, its Ed25519 signature and signer, that \
            the stored text is the canonical text that was signed and (SQLite) that every index column \
            agrees with it, and that the ledger extends the signed checkpoint its writers keep beside it \
            (<ledger>.checkpoint) — so a cut tail, an emptied ledger or a rewritten one fails. For bundles: \
            the signed manifest, file hashes, checkpoint and inclusion proofs. Names the first problem and \
            why.

            Trust: --trusted-key/--trusted-keys, else the keys pinned in your trust file (keys you created \
            or pinned with 'countersign keys trust'); a key file in the project is never trusted on its own. \
            A 'key_rotated' receipt signed by a trusted key extends trust to the next key. With no trusted \
            key the result is UNVERIFIED (exit 3): anyone can make a chain that checks against its own keys.

            The assurance line says how far the checks reach: unpinned, pinned, anchored (--checkpoint: a \
            checkpoint you kept), witnessed (--witness: cosigned by independent witnesses, which detects a \
            rewrite even by someone holding the signing key).

            Exit codes: 0 valid and verified, 1 invalid (or unreadable), 3 unverified (no trusted key).
            """
    )

    @Argument(help: "A ledger (.sqlite/.db/.jsonl) or a bundle directory (default .countersign/ledger.sqlite).")
    var source: String?
    @Option(name: .long, help: "A trusted signer's public key (hex); repeatable.") var trustedKey: [String] = []
    @Option(
        name: .long,
        help: ArgumentHelp(
            "A trusted-signers file: {\"trusted_keys\": [{\"public_key\": …, \"label\": …}]}.", valueName: "file"))
    var trustedKeys: String?
    @Option(name: .long, help: "text or json") var format: OutputFormat = .text
    @Flag(
        name: .long,
        help: "Check hashes and links only, not signatures (for measuring; authenticates nothing: exit 3 at best).")
    var chainOnly = false
    @Option(
        name: .long,
        help: ArgumentHelp(
            "A checkpoint the ledger must extend (signed note); fails on truncation, rewrite or fork.",
            valueName: "file"))
    var checkpoint: String?
    @Option(
        name: .long,
        help: ArgumentHelp(
            "A witness public key (hex) that must have cosigned the checkpoint; repeatable.", valueName: "hex"))
    var witness: [String] = []
    @Option(name: .long, help: "How many of the --witness keys must have cosigned (default: all).")
    var witnessQuorum: Int?

    func validate() throws {
        if let witnessQuorum, witnessQuorum < 1 || witnessQuorum > witness.count {
            throw ValidationError("--witness-quorum must be between 1 and the number of --witness keys")
        }
    }

    func trust() throws -> TrustedSigners {
        var trust = TrustedSigners()
        if let trustedKeys { trust = try TrustedSigners.load(path: trustedKeys) }
        for hex in trustedKey {
            let key = try PublicKey(hex: hex)
            trust.keys[key.keyID] = key
            trust.source = trust.source == "none" ? "--trusted-key" : trust.source + " + --trusted-key"
        }
        // Never the key file in the working directory: whoever can write the ledger can write that too.
        if trust.isEmpty { trust = try UserTrust.load() }
        return trust
    }

    func run() throws {
        try reportingErrors {
            let path = source ?? StateDirectory.defaultLedger
            let trust = try trust()
            let report: VerificationReport
            if AuditBundle.isBundle(path) {
                if checkpoint != nil {
                    throw CLIError("--checkpoint applies to ledgers; a bundle carries its own checkpoint")
                }
                let witnesses = try witness.map { try PublicKey(hex: $0) }
                report = AuditBundle.verify(
                    path, trust: trust,
                    anchor: witnesses.isEmpty ? nil : (witnesses: witnesses, quorum: witnessQuorum ?? witnesses.count))
            } else {
                let store = try openExisting(path)
                report = try store.verifyLedger(
                    trust: trust, checkSignatures: !chainOnly, checkpoint: checkpoint,
                    witnesses: try witness.map { try PublicKey(hex: $0) }, quorum: witnessQuorum)
            }
            switch format {
            case .json: try Terminal.write(Terminal.prettyJSON(report.json))
            case .text: try Terminal.write(Self.text(report))
            }
            if !report.valid { throw ExitCode(1) }
            if !report.verified { throw ExitCode(3) }
        }
    }

    static func text(_ report: VerificationReport) -> String {
        var lines = ["\(report.kind) \(report.source): \(report.status)"]
        lines.append(
            "receipts: \(report.receipts)" + (report.firstSeq.map { " (seq \($0)…\(report.lastSeq ?? $0))" } ?? ""))
        lines.append("head: \(report.headHash)")
        lines.append(
            "signers: "
                + (report.signers.isEmpty
                    ? "none"
                    : report.signers.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(
                        separator: ", ")) + "; trust: \(report.trust)")
        if !report.isolation.isEmpty {
            lines.append(
                "isolation: "
                    + report.isolation.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(
                        separator: ", "))
        }
        if let size = report.checkpointSize, report.kind != "bundle" {
            lines.append(
                "checkpoint: checked against checkpoint \(size)\(report.anchorChecked ? " (given)" : " (beside the ledger)")"
            )
        }
        for rotation in report.rotations {
            lines.append("rotation: \(rotation.from) handed over to \(rotation.to) at receipt #\(rotation.seq)")
        }
        for p in report.pruned {
            lines.append(
                "pruned: seq \(p.from)…\(p.to) (\(p.count) receipts), recorded by checkpoint #\(p.checkpointSeq)")
        }
        for (name, ok) in report.bundleFiles { lines.append("file \(name): \(ok ? "ok" : "CHANGED")") }
        if let proofs = report.inclusionProofsVerified {
            lines.append(
                "inclusion proofs: \(proofs) of \(report.receipts) verified against checkpoint \(report.checkpointSize ?? 0)"
            )
        }
        lines.append("assurance: \(report.assuranceLine)")
        if let first = report.firstFailure {
            let which =
                first.seq.map { "receipt #\($0)" }
                ?? (first.position > 0 ? "record \(first.position)" : report.kind == "bundle" ? "bundle" : "ledger")
            lines.append("first problem: \(which)\(first.receiptID.map { " (\($0))" } ?? ""): \(first.reason)")
            for other in report.failures.sorted(by: { $0.position < $1.position }).dropFirst().prefix(9) {
                lines.append("  also: \(other.seq.map { "#\($0)" } ?? "-"): \(other.reason)")
            }
        }
        for warning in report.warnings { lines.append("warning: \(warning)") }
        return lines.joined(separator: "\n") + "\n"
    }
}
