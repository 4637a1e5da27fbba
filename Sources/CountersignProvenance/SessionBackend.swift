import CountersignCore
import Foundation

/// Where the Gate keeps session state: on disk for adapters that run one process per call (hooks),
/// in memory for long-lived adapters that own their session (the MCP proxy).
public protocol SessionBackend: Sendable {
    /// The session as stored (empty when new).
    func load(id: String, registry: LabelRegistry, limits: ProvenanceLimits) throws -> SessionState
    /// Keeps what `updated` knows beyond `original` (both states of one session).
    func save(_ updated: SessionState, since original: SessionState) throws
    /// Changes a session in place (load, change, save for stores that cannot do better).
    func update<R>(
        id: String, registry: LabelRegistry, _ body: (inout SessionState) throws -> R
    ) throws -> R
}

extension SessionBackend {
    public func update<R>(
        id: String, registry: LabelRegistry, _ body: (inout SessionState) throws -> R
    ) throws -> R {
        let before = try load(id: id, registry: registry)
        var state = before
        let result = try body(&state)
        try save(state, since: before)
        return result
    }

    public func load(id: String, registry: LabelRegistry) throws -> SessionState {
        try load(id: id, registry: registry, limits: .default)
    }
}

extension SessionStore: SessionBackend {}

/// Sessions held by one process. Saves merge by union, like the SQLite store, so concurrent calls of one
/// session never lose a fact either of them learned.
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

    public func save(_ updated: SessionState, since original: SessionState) throws {
        lock.withLock {
            guard var current = states[updated.id] else {
                states[updated.id] = updated
                return
            }
            current.merge(updated, since: original)
            states[updated.id] = current
        }
    }
}
