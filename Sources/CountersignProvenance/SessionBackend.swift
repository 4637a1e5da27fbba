import CountersignCore
import Foundation

/// Where the Gate keeps session state: on disk for adapters that run one process per call (hooks),
/// in memory for long-lived adapters that own their session (the MCP proxy).
public protocol SessionBackend: Sendable {
    /// The session as stored (empty when new).
    func load(id: String, registry: LabelRegistry, limits: ProvenanceLimits) throws -> SessionState
    /// Changes a session: what the change adds is kept (never lost to a concurrent caller).
    func update<R>(
        id: String, registry: LabelRegistry, _ body: (inout SessionState) throws -> R
    ) throws -> R
}

extension SessionBackend {
    public func load(id: String, registry: LabelRegistry) throws -> SessionState {
        try load(id: id, registry: registry, limits: .default)
    }
}

extension SessionStore: SessionBackend {
    /// Load, change, then save what the change added (rows merge by union across processes).
    public func update<R>(
        id: String, registry: LabelRegistry, _ body: (inout SessionState) throws -> R
    ) throws -> R {
        let before = try load(id: id, registry: registry)
        var state = before
        let result = try body(&state)
        try save(state, since: before)
        return result
    }
}

/// Sessions held by one process, changed in place under a lock, so concurrent calls of one session
/// never lose a fact either of them learned.
public final class MemorySessionStore: SessionBackend, @unchecked Sendable {
    // `states` is guarded by `lock`.
    private let lock = NSLock()
    private var states: [String: SessionState] = [:]

    public init() {}

    public func load(id: String, registry: LabelRegistry, limits: ProvenanceLimits) throws -> SessionState {
        lock.withLock { states[id] } ?? SessionState(id: id, registry: registry, limits: limits)
    }

    /// In place, without copying the session's values (a long session grows large).
    public func update<R>(
        id: String, registry: LabelRegistry, _ body: (inout SessionState) throws -> R
    ) throws -> R {
        try lock.withLock {
            var state = states.removeValue(forKey: id) ?? SessionState(id: id, registry: registry)
            defer { states[id] = state }
            return try body(&state)
        }
    }
}
