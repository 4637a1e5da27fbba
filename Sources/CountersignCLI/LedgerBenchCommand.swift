import ArgumentParser
import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation

/// `countersign ledger bench`: decisions through the Gate, each with a signed receipt committed before
/// it returns, in sequence or from many concurrent callers sharing commits.
struct LedgerBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure decisions with committed, signed receipts per second.",
        discussion: """
            countersign ledger bench --ledger /tmp/b.sqlite --count 20000                 # one writer, in sequence
            countersign ledger bench --ledger /tmp/b.sqlite --count 50000 --concurrency 64 # shared commits
            Run several at once against one ledger to check that processes share it safely.
            """
    )

    @OptionGroup var ledger: LedgerOptions
    @OptionGroup var checkpoints: CheckpointOptions
    @Option(name: .long, help: "How many decisions.") var count = 10_000
    @Option(name: .long, help: "Concurrent callers (1: strictly one after another).") var concurrency = 1
    @Option(name: .long, help: ArgumentHelp("Decide under this policy (default: allow everything).", valueName: "file"))
    var policy: String?
    @Option(name: .long, help: "text or json") var format: OutputFormat = .text

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1") }
        if concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
    }

    func run() async throws {
        try await reportingErrorsAsync {
            let loaded =
                try policy.map { try Policy.load(path: $0) }
                ?? Policy.parse("default_decision: allow\n", path: "<allow-all>")
            let writer = try checkpoints.writer(ledger, keyMode: .create)
            let gate = Gate(policy: loaded, writer: writer)
            let process = ProcessInfo.processInfo.processIdentifier
            func envelope(_ i: Int) -> ActionEnvelope {
                ActionEnvelope(
                    actor: "bench", surface: "shell", tool: "Bash", intent: "execute", target: "echo \(i)",
                    args: ["command": .string("echo \(i)")], risk: ["shell"], sessionID: "bench-\(process)",
                    traceID: "bench-\(process):\(i / 4)", metadata: ["hook_event_name": "PreToolUse", "cwd": "/repo"])
            }
            let clock = ContinuousClock()
            var failures = 0
            let elapsed = await clock.measure {
                if concurrency == 1 {
                    for i in 0..<count where await !gate.decide(envelope(i)).allowed && loaded.defaultDecision == .allow
                    { failures += 1 }
                } else {
                    failures = await withTaskGroup(of: Int.self) { group in
                        let perTask = (count + concurrency - 1) / concurrency
                        for t in 0..<concurrency {
                            group.addTask {
                                var bad = 0
                                for i in (t * perTask)..<min(count, (t + 1) * perTask)
                                where await gate.decide(envelope(i)).receipt == nil { bad += 1 }
                                return bad
                            }
                        }
                        return await group.reduce(0, +)
                    }
                }
            }
            await writer.close()  // the last checkpoint, after the measured run
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rate = Double(count) / seconds
            // One trace (4 receipts) out of everything in the ledger, in process.
            var query = ReceiptQuery()
            query.traceID = "bench-\(process):\(count / 8)"
            let store = writer.store
            _ = try store.query(query)  // warm the page cache
            var found = 0
            let lookup = try clock.measure { found = try store.query(query).count }
            let lookupMs = Double(lookup.components.attoseconds) / 1e15 + Double(lookup.components.seconds) * 1000
            switch format {
            case .text:
                try Terminal.write(
                    String(
                        format:
                            "%d decisions with committed signed receipts in %.3f s: %.0f/s (%@, %d caller%@, sync %@); "
                            + "one trace (%d receipts) found in %.2f ms\n",
                        count, seconds, rate, ledger.ledgerPath, concurrency, concurrency == 1 ? "" : "s",
                        ledger.sync.rawValue, found, lookupMs))
            case .json:
                try Terminal.write(
                    Terminal.prettyJSON([
                        "count": .int(Int64(count)), "seconds": .double(seconds), "per_second": .double(rate),
                        "concurrency": .int(Int64(concurrency)), "sync": .string(ledger.sync.rawValue),
                        "ledger": .string(ledger.ledgerPath), "failures": .int(Int64(failures)),
                        "trace_query_ms": .double(lookupMs), "trace_query_receipts": .int(Int64(found)),
                        "checkpoints": .bool(!checkpoints.noCheckpoints),
                    ]))
            }
            if failures > 0 { throw CLIError("\(failures) decisions were not recorded") }
        }
    }
}
