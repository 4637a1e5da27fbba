import CountersignCore
import Foundation
import GRDB

/// Session state on disk, shared by every process that decides for the same agent session (each hook
/// call is its own process). Rows only ever add facts — a value carried a label, a value was typed by
/// the user — so concurrent writers merge by union and nothing one process learned is lost.
public final class SessionStore: @unchecked Sendable {
    // DatabaseQueue serialises access; the class holds only immutable references.
    public let path: String
    let queue: DatabaseQueue
    static let trustedMark = "@trusted"
    /// `session_labels` rows of labels every argument carries (see `ValueIndex.unattributed`).
    static let unattributedPrefix = "@unattributed:"

    /// Keys secret values before they are written (nil: secrets are not written at all — their labels
    /// become the session's unattributed labels instead).
    public let sealer: ValueSealer?

    public init(path: String, sealer: ValueSealer? = nil) throws {
        self.path = path
        self.sealer = sealer
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.journalMode = .wal
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        queue = try SchemaGate.open(
            path: path, isCurrent: { Self.version(of: $0) == Self.schemaVersion },
            open: { try DatabaseQueue(path: path, configuration: config) },
            migrate: { queue in
                try Self.migrate(queue)
                try queue.writeWithoutTransaction { try $0.execute(sql: "PRAGMA user_version = \(Self.schemaVersion)") }
            })
    }

    static let schemaVersion = 2

    static func version(of queue: DatabaseQueue) -> Int? {
        try? queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") }
    }

    static func migrate(_ queue: DatabaseQueue) throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-sessions") { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS session_labels (session_id TEXT NOT NULL, label TEXT NOT NULL,
                        PRIMARY KEY (session_id, label));
                    CREATE TABLE IF NOT EXISTS session_values (session_id TEXT NOT NULL, text TEXT NOT NULL, label TEXT NOT NULL,
                        PRIMARY KEY (session_id, text, label));
                    CREATE TABLE IF NOT EXISTS session_trusted_texts (session_id TEXT NOT NULL, text TEXT NOT NULL,
                        PRIMARY KEY (session_id, text));
                    """)
        }
        // v2: values are stored by their match key (see `MatchKey`), not as written.
        migrator.registerMigration("v2-match-keys") { db in
            let values = try Row.fetchAll(db, sql: "SELECT rowid, session_id, text, label FROM session_values")
            try db.execute(sql: "DELETE FROM session_values")
            for row in values {
                let text: String = row["text"]
                try db.execute(
                    sql: "INSERT OR IGNORE INTO session_values VALUES (?, ?, ?)",
                    arguments: [row["session_id"] as String, MatchKey.of(text), row["label"] as String])
            }
            let trusted = try Row.fetchAll(db, sql: "SELECT session_id, text FROM session_trusted_texts ORDER BY rowid")
            try db.execute(sql: "DELETE FROM session_trusted_texts")
            for row in trusted {
                let text: String = row["text"]
                try db.execute(
                    sql: "INSERT OR IGNORE INTO session_trusted_texts VALUES (?, ?)",
                    arguments: [row["session_id"] as String, MatchKey.of(text)])
            }
        }
        try migrator.migrate(queue)
    }

    /// The session as stored (empty when new). Label names the registry does not know are ignored.
    public func load(id: String, registry: LabelRegistry, limits: ProvenanceLimits = .default) throws -> SessionState {
        try queue.read { db in
            // Cached statements: a long-lived process (the server) prepares each query once.
            var labels = LabelSet()
            var unattributed = LabelSet()
            for name in try String.fetchAll(
                db.cachedStatement(sql: "SELECT label FROM session_labels WHERE session_id = ?"), arguments: [id])
            {
                if name.hasPrefix(Self.unattributedPrefix) {
                    unattributed.formUnion(registry.set([String(name.dropFirst(Self.unattributedPrefix.count))]))
                } else {
                    labels.formUnion(registry.set([name]))
                }
            }
            var order: [String] = []
            var byText: [String: ValueIndex.Entry] = [:]
            var sealed = SealedValues()
            sealed.sealer = sealer
            let rows = try Row.fetchCursor(
                db.cachedStatement(sql: "SELECT text, label FROM session_values WHERE session_id = ? ORDER BY rowid"),
                arguments: [id])
            while let row = try rows.next() {
                let text: String = row["text"]
                let label: String = row["label"]
                if let (check, digest, length) = ValueSealer.parse(text) {
                    let isTrusted = label == Self.trustedMark
                    sealed.add(
                        check: check, digest: digest, length: length,
                        labels: isTrusted ? LabelSet() : registry.set([label]), trusted: isTrusted)
                    continue
                }
                var entry =
                    byText[text]
                    ?? {
                        order.append(text)
                        return ValueIndex.Entry(text: text, labels: LabelSet(), trusted: false)
                    }()
                if label == Self.trustedMark {
                    entry.trusted = true
                } else if let bit = registry.set(label) {
                    entry.labels.formUnion(bit)
                }
                byText[text] = entry
            }
            let trustedTexts = try String.fetchAll(
                db.cachedStatement(sql: "SELECT text FROM session_trusted_texts WHERE session_id = ? ORDER BY rowid"),
                arguments: [id])
            return SessionState(
                id: id, registry: registry, limits: limits, labels: labels, values: order.map { byText[$0]! },
                trustedTexts: trustedTexts, unattributed: unattributed, sealed: sealed)
        }
    }

    /// Writes what `updated` knows beyond `original` (both states of one session).
    public func save(_ updated: SessionState, since original: SessionState) throws {
        let registry = updated.registry
        var newLabels =
            registry.names(updated.labels.subtracting(original.labels))
            + registry.names(updated.unattributedLabels.subtracting(original.unattributedLabels)).map {
                Self.unattributedPrefix + $0
            }
        let before = Dictionary(original.values.entries.map { ($0.text, $0) }, uniquingKeysWith: { a, _ in a })
        let confidential = registry.mask(.confidentiality)
        var valueRows: [(String, String)] = []
        var withheld = LabelSet()
        for entry in updated.values.entries {
            let old = before[entry.text]
            let added = entry.labels.subtracting(old?.labels ?? LabelSet())
            let newlyTrusted = entry.trusted && old?.trusted != true
            guard !added.isEmpty || newlyTrusted else { continue }
            // A secret value never reaches the file in plain text: keyed, or (no key) not at all.
            var stored = entry.text
            if entry.labels.intersects(confidential) {
                guard let sealer else {
                    withheld.formUnion(entry.labels)
                    continue
                }
                stored = sealer.sealed(entry.text)
            }
            for label in registry.names(added) { valueRows.append((stored, label)) }
            if newlyTrusted { valueRows.append((stored, Self.trustedMark)) }
        }
        newLabels += registry.names(withheld.subtracting(original.unattributedLabels)).map {
            Self.unattributedPrefix + $0
        }
        let newTrusted = updated.values.trustedTexts.dropFirst(original.values.trustedTexts.count)
        guard !newLabels.isEmpty || !valueRows.isEmpty || !newTrusted.isEmpty else { return }
        let id = updated.id
        try queue.write { db in
            for label in newLabels {
                try db.execute(sql: "INSERT OR IGNORE INTO session_labels VALUES (?, ?)", arguments: [id, label])
            }
            let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO session_values VALUES (?, ?, ?)")
            for (text, label) in valueRows { try insert.execute(arguments: [id, text, label]) }
            for text in newTrusted {
                try db.execute(sql: "INSERT OR IGNORE INTO session_trusted_texts VALUES (?, ?)", arguments: [id, text])
            }
        }
    }
}
