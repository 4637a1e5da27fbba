// Decision latency, in process: one `Policy.evaluate` per measured iteration, cycling through a mix
// of envelopes (every case of an example policy's fixture suite, or a generated mix for 200 rules).
// Targets (docs/performance.md): p50 ≤ 2 µs, p99 ≤ 10 µs.
import Benchmark
import BenchmarkSupport
import CountersignCore
import CountersignPolicy
import CountersignProvenance
import Foundation

/// Cycles through a fixed list; benchmarks run one closure at a time, so no locking is needed.
final class Cycle<T>: @unchecked Sendable {
    let items: [T]
    var index = 0
    init(_ items: [T]) { self.items = items }
    func next() -> T {
        let item = items[index]
        index = index + 1 == items.count ? 0 : index + 1
        return item
    }
}

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

func examplePolicy(_ name: String) -> (Policy, [(ActionEnvelope, SessionState?)]) {
    let dir = root.appendingPathComponent("examples/policies").path
    let policy = try! Policy.load(path: "\(dir)/\(name).yaml")
    let suite = try! FixtureSuite.load(path: "\(dir)/\(name)-tests.yaml")
    var mix: [(ActionEnvelope, SessionState?)] = suite.cases.map { ($0.action, nil) }
    // Session steps are decided with the session state they would see.
    for session in suite.sessions {
        var state = policy.makeSession(id: session.id)
        if let prompt = session.prompt { state.recordTrustedInput(prompt) }
        for step in session.steps {
            if let prompt = step.prompt { state.recordTrustedInput(prompt) }
            guard let action = step.action else { continue }
            mix.append((action, state))
            if let output = step.output {
                state.recordOutput(output, labels: policy.outputLabels(for: action, session: state))
            }
        }
    }
    return (policy, mix)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 1_000,
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 200_000
    )
    var suites: [(String, Policy, [(ActionEnvelope, SessionState?)])] = []
    for name in ["claude-code", "mcp-proxy", "browser-agent", "shell-agent", "payments", "label-flows"] {
        let (policy, mix) = examplePolicy(name)
        suites.append((name, policy, mix))
    }
    let (generated, generatedMix) = generatedPolicy()
    suites.append(("generated-200-rules", generated, generatedMix))

    for (name, policy, mix) in suites {
        let cycle = Cycle(mix)
        Benchmark("decide \(name) (\(mix.count) envelopes)") { benchmark in
            for _ in benchmark.scaledIterations {
                let (envelope, session) = cycle.next()
                blackHole(policy.evaluate(envelope, session: session))
            }
        }
    }

    // Explanations are built only on request; this shows what the decision path avoids.
    let (claude, claudeMix) = examplePolicy("claude-code")
    let explainCycle = Cycle(claudeMix)
    Benchmark("explain claude-code (for comparison)") { benchmark in
        for _ in benchmark.scaledIterations {
            let (envelope, session) = explainCycle.next()
            blackHole(claude.explain(envelope, session: session))
        }
    }
}
