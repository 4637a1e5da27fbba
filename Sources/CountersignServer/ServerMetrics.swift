import CountersignCore
import CountersignGate
import Foundation
import Metrics
import Prometheus

/// Prometheus metrics through swift-metrics, on a registry of this server's own (no global bootstrap,
/// so several servers — or tests — can live in one process).
public final class ServerMetrics: @unchecked Sendable {
    // `decisions` is guarded by `lock`; the rest is immutable.
    private let lock = NSLock()
    private var decisions: [String: Metrics.Counter] = [:]
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    let pending: Metrics.Gauge
    let appends: Metrics.Counter
    let latency: Metrics.Timer

    public init() {
        factory = PrometheusMetricsFactory(registry: registry)
        pending = Metrics.Gauge(label: "countersign_pending_approvals", factory: factory)
        appends = Metrics.Counter(label: "countersign_ledger_appends_total", factory: factory)
        latency = Metrics.Timer(label: "countersign_decision_seconds", preferredDisplayUnit: .seconds, factory: factory)
        pending.record(0)
    }

    func decided(_ decision: GateDecision, surface: String, since start: ContinuousClock.Instant) {
        let outcome = decision.finalDecision.rawValue
        let counter = lock.withLock {
            if let known = decisions[outcome + "\u{0}" + surface] { return known }
            let made = Metrics.Counter(
                label: "countersign_decisions_total", dimensions: [("decision", outcome), ("surface", surface)],
                factory: factory)
            decisions[outcome + "\u{0}" + surface] = made
            return made
        }
        counter.increment()
        latency.recordInterval(since: start)
        appends.increment(by: decision.approvals.count + 1)
    }

    func appended(_ count: Int) { appends.increment(by: count) }

    func pendingApprovals(_ count: Int) { pending.record(count) }

    public func exposition() -> String { registry.emitToString() }
}

extension Metrics.Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
