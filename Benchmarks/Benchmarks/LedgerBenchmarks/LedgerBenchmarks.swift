// Decision + signed receipt, committed, per second (docs/performance.md targets: ≥ 10,000/s one writer, ≥ 20,000/s
// concurrent), for the SQLite and JSONL stores; and verify speed. `scripts/perf/ledger.sh` measures the
// same through the CLI, plus --sync full, 1,000,000-receipt verify and trace lookup.
import Benchmark
import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation

func scratch(_ name: String) -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "countersign-bench-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent(name).path
}

func envelope(_ i: Int) -> ActionEnvelope {
    ActionEnvelope(
        actor: "bench", surface: "shell", tool: "Bash", intent: "execute", target: "echo \(i)",
        args: ["command": .string("echo \(i)")], risk: ["shell"], sessionID: "bench", traceID: "bench:\(i / 4)",
        metadata: ["hook_event_name": "PreToolUse", "cwd": "/repo"])
}

let benchmarks: @Sendable () -> Void = {
    let key = SigningKey.generate()
    let policy = try! Policy.parse("default_decision: allow\n")
    for store in ["sqlite", "jsonl"] {
        // One warm ledger per benchmark: every measured decision appends to the same chain.
        let single = Gate(
            policy: policy,
            writer: LedgerWriter(store: try! ReceiptStores.open(path: scratch("l.\(store)")), sealer: Sealer(key: key)))
        let shared = Gate(
            policy: policy,
            writer: LedgerWriter(store: try! ReceiptStores.open(path: scratch("c.\(store)")), sealer: Sealer(key: key)))
        Benchmark(
            "decide + signed receipt committed, one writer (\(store))",
            configuration: .init(
                metrics: [.wallClock, .throughput], timeUnits: .microseconds, maxDuration: .seconds(5),
                maxIterations: 20_000)
        ) { benchmark in
            let gate = Gate(
                policy: policy,
                writer: LedgerWriter(
                    store: try! ReceiptStores.open(path: scratch("l.\(store)")), sealer: Sealer(key: key)))
            var i = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                i += 1
                blackHole(await gate.decide(envelope(i)).allowed)
            }
        }
        Benchmark(
            "decide + signed receipt committed, 64 concurrent callers x 100 (\(store))",
            configuration: .init(
                metrics: [.wallClock, .throughput], timeUnits: .milliseconds, maxDuration: .seconds(10),
                maxIterations: 20)
        ) { benchmark in
            let gate = Gate(
                policy: policy,
                writer: LedgerWriter(
                    store: try! ReceiptStores.open(path: scratch("c.\(store)")), sealer: Sealer(key: key)))
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                await withTaskGroup(of: Void.self) { group in
                    for t in 0..<64 {
                        group.addTask {
                            for i in 0..<100 { blackHole(await gate.decide(envelope(t * 100 + i)).allowed) }
                        }
                    }
                }
            }
        }
    }
    Benchmark(
        "verify 10,000 receipts (jsonl, chain + signatures on all cores)",
        configuration: .init(
            metrics: [.wallClock, .throughput], timeUnits: .milliseconds, maxDuration: .seconds(10), maxIterations: 10)
    ) { benchmark in
        let store = try! ReceiptStores.open(path: scratch("v.jsonl"))
        let sealer = Sealer(key: key)
        for chunk in 0..<100 {
            _ = try! store.append(
                (0..<100).map { i in
                    ReceiptDraft.forAction(
                        envelope(chunk * 100 + i), kind: .decision, status: "authorized", redactor: sealer.redactor)
                }, sealer: sealer)
        }
        let trust = TrustedSigners(keys: [key.publicKey])
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try! store.verify(trust: trust).valid) }
    }
}
