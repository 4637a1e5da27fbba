import ArgumentParser
import CountersignCore
import CountersignLedger
import CountersignPolicy
import CountersignReports
import Foundation

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Show what happened, or what another policy would have decided.",
        discussion: """
            Without --policy: a read-only timeline of the ledger or bundle. With --policy NEW: every recorded \
            decision is re-decided under NEW (with the labels recorded when it was first decided) and each \
            change is listed as 'allow -> deny via rule X', with a count per kind of change. Nothing is re-executed.

              countersign replay --policy examples/policies/claude-code.yaml
              countersign replay audit-bundle --policy stricter.yaml --format html --output what-if.html
            """
    )

    @Argument(help: "A ledger or a bundle directory (default .countersign/ledger.sqlite).") var source: String?
    @Option(name: .long, help: ArgumentHelp("Re-decide every action under this policy.", valueName: "file")) var policy:
        String?
    @Option(name: .long, help: "text, json or html") var format: ReplayFormat = .text
    @Option(name: .long, help: ArgumentHelp("Write to this file.", valueName: "path")) var output: String?

    enum ReplayFormat: String, ExpressibleByArgument { case text, json, html }

    func run() throws {
        try reportingErrors {
            let path = source ?? StateDirectory.defaultLedger
            let store: any ReceiptStore =
                AuditBundle.isBundle(path)
                ? try JSONLStore(
                    path: URL(
                        fileURLWithPath: path.hasSuffix(AuditBundle.manifestFile)
                            ? URL(fileURLWithPath: path).deletingLastPathComponent().path : path
                    ).appendingPathComponent(AuditBundle.receiptsFile).path)
                : try openExisting(path)
            let receipts = try store.query(ReceiptQuery())
            var report: Replay.Report?
            if let policy {
                do {
                    report = Replay.run(receipts, under: try Policy.load(path: policy))
                } catch let error as PolicyLoadError {
                    throw CLIError(error.description)
                }
            }
            switch format {
            case .text:
                var text = Render.timeline(receipts)
                if let report, let policy {
                    text += "\nReplay under \(policy): \(report.decisions) decisions, \(report.changes.count) changed\n"
                    for change in report.changes { text += "  \(change.summary)\n" }
                    text += "Summary: " + report.summary.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "\n"
                }
                try Terminal.write(text, to: output)
            case .json:
                var object: [String: JSONValue] = [
                    "source": .string(path), "receipts": .array(receipts.map { .object($0.body) }),
                ]
                if let report {
                    object["replay"] = .object([
                        "policy": .string(policy!), "decisions": .int(Int64(report.decisions)),
                        "changes": .array(
                            report.changes.map { change in
                                .object([
                                    "seq": .int(change.seq), "tool": .string(change.tool),
                                    "before": .string(change.before.decision),
                                    "before_rule": .string(change.before.rule), "after": .string(change.after.decision),
                                    "after_rule": .string(change.after.rule), "summary": .string(change.summary),
                                ])
                            }),
                        "summary": .object(
                            Dictionary(uniqueKeysWithValues: report.summary.map { ($0.0, JSONValue.int(Int64($0.1))) })),
                    ])
                }
                try Terminal.write(Terminal.prettyJSON(.object(object)), to: output)
            case .html:
                let subtitle =
                    report.map {
                        "\(path) replayed under \(policy!): \($0.changes.count) of \($0.decisions) decisions change"
                    } ?? path
                try Terminal.write(
                    HTMLViewer.render(
                        title: "Countersign replay", receipts: receipts, changes: report?.changes ?? [],
                        subtitle: subtitle), to: output)
            }
        }
    }
}

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Maintain a ledger: retention, and a throughput benchmark.",
        subcommands: [Prune.self, Forget.self, LedgerBenchCommand.self]
    )

    struct Forget: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a new ledger at a path on purpose: forget which log your writers kept there.",
            discussion: """
                Writers remember (outside the project, beside your trust file) which log lived at each ledger \
                path, so a ledger deleted and started over is refused, and verify reports it. After you \
                archived or deliberately removed a ledger, run this so a new one can start at that path.
                """)
        @Argument(help: "The ledger path.") var path: String

        func run() throws {
            RememberedCheckpoints.forget(ledgerAt: path)
            try Terminal.write("forgot the log kept at \(path); a new ledger may start there\n")
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove old receipts, leaving a signed checkpoint so verify still passes.",
            discussion: "countersign ledger prune --keep-last 100000\ncountersign ledger prune --older-than 90d")
        @OptionGroup var ledger: LedgerOptions
        @Option(name: .long, help: "Keep the newest N receipts.") var keepLast: Int?
        @Option(name: .long, help: "Remove receipts older than this age (90d) or time.") var olderThan: String?

        func validate() throws {
            if keepLast == nil && olderThan == nil {
                throw ValidationError("give --keep-last N and/or --older-than AGE")
            }
            if let keepLast, keepLast < 1 { throw ValidationError("--keep-last must be at least 1") }
        }

        func run() throws {
            try reportingErrors {
                let store = try openExisting(ledger.ledgerPath)
                let result = try Retention.prune(
                    store, sealer: try ledger.sealer(), keepLast: keepLast, olderThan: try olderThan.map(timeBound))
                if let checkpoint = result.checkpoint {
                    try Terminal.write("pruned \(result.pruned) receipts; checkpoint #\(checkpoint.seq) records them\n")
                } else {
                    try Terminal.write("nothing to prune\n")
                }
            }
        }
    }
}
