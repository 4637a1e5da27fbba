import CountersignCore
import Foundation
import GRDB

/// The embedded default ledger: one SQLite file in WAL mode, indexed for every query filter.
///
/// An append is one `BEGIN IMMEDIATE` transaction that reads the chain tail, seals and inserts, so
/// any number of processes can append to one file and the chain stays whole. With `sync: .full`
/// every commit is flushed to disk (`synchronous=FULL`); with `.normal` a commit survives the
/// process being killed (it is in the WAL), and the WAL is flushed at checkpoints.
public final class SQLiteStore: ReceiptStore, @unchecked Sendable {
    // DatabaseQueue serialises access itself; the class holds only immutable references.
    public let path: String
    public let backend = "sqlite"
    let queue: DatabaseQueue
    /// Checkpoints run on a connection of their own, off the append path (see `afterCommit`).
    private let checkpointer = DispatchQueue(label: "countersign.sqlite-checkpoint")
    private let checkpointConfiguration: Configuration
    private let lock = NSLock()
    private var commitsSinceCheckpoint = 0  // guarded by `lock`
    private var checkpointing = false  // guarded by `lock`
    private var checkpointQueue: DatabaseQueue?  // used only on `checkpointer`
    static let checkpointEvery = 64
    static let schemaVersion = 1

    static func version(of queue: DatabaseQueue) -> Int? {
        try? queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") }
    }

    /// `lockTimeout`: how long an append waits for another writer's lock before it fails (and the
    /// decision it carries is denied).
    public init(path: String, sync: SyncMode = .normal, readOnly: Bool = false, lockTimeout: Double = 5) throws {
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        if !readOnly { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        var config = Configuration()
        config.readonly = readOnly
        config.busyMode = .timeout(max(0.001, lockTimeout))
        if !readOnly { config.journalMode = .wal }
        let synchronous = sync == .full ? "FULL" : "NORMAL"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
        }
        checkpointConfiguration = config
        // Opening and creating the schema happen under a lock shared by every process using this file.
        do {
            queue = try SchemaGate.open(
                path: path,
                isCurrent: { readOnly || Self.version(of: $0) == Self.schemaVersion },
                open: { try DatabaseQueue(path: path, configuration: config) },
                migrate: { queue in
                    guard !readOnly else { return }
                    try Self.migrate(queue)
                    try queue.writeWithoutTransaction {
                        try $0.execute(sql: "PRAGMA user_version = \(Self.schemaVersion)")
                    }
                })
        } catch let error as LedgerError {
            throw error
        } catch {
            throw LedgerError("cannot open SQLite ledger \(path): \(error)")
        }
    }

    /// Triggers in the file: Countersign creates none.
    func foreignTriggers() throws -> [String] {
        try queue.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'") }
    }

    /// What is wrong with the file beyond its rows: planted triggers, and indexes out of step with the
    /// table (an index edited through `writable_schema` answers queries with rows the table does not hold).
    public func structuralProblems() -> [String] {
        var problems: [String] = []
        if let triggers = try? foreignTriggers(), !triggers.isEmpty {
            problems.append(
                "the database has triggers Countersign did not create (\(triggers.joined(separator: ", "))): they can change or drop receipts as they are written"
            )
        }
        let integrity =
            (try? queue.read { try String.fetchAll($0, sql: "PRAGMA integrity_check(5)") }) ?? ["unreadable"]
        if integrity != ["ok"] {
            problems.append(
                "the database fails SQLite's integrity check (an index out of step with the receipts answers queries wrongly): \(integrity.joined(separator: "; "))"
            )
        }
        return problems
    }

    static func migrate(_ queue: DatabaseQueue) throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-receipts") { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS receipts (
                        seq INTEGER PRIMARY KEY,
                        id TEXT NOT NULL,
                        time TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        session_id TEXT,
                        trace_id TEXT,
                        action_hash TEXT,
                        status TEXT NOT NULL,
                        decision TEXT,
                        rule_id TEXT,
                        hash TEXT NOT NULL,
                        prev TEXT NOT NULL,
                        body TEXT NOT NULL
                    );
                    CREATE INDEX IF NOT EXISTS receipts_time ON receipts(time);
                    CREATE INDEX IF NOT EXISTS receipts_session ON receipts(session_id);
                    CREATE INDEX IF NOT EXISTS receipts_trace ON receipts(trace_id);
                    CREATE INDEX IF NOT EXISTS receipts_action_hash ON receipts(action_hash);
                    CREATE INDEX IF NOT EXISTS receipts_status ON receipts(status);
                    CREATE INDEX IF NOT EXISTS receipts_decision ON receipts(decision);
                    CREATE INDEX IF NOT EXISTS receipts_rule ON receipts(rule_id);
                    """)
        }
        do {
            try migrator.migrate(queue)
        } catch {
            throw LedgerError("cannot prepare the ledger schema: \(error)")
        }
    }

    public func append(_ drafts: [ReceiptDraft], sealer: Sealer) throws -> [Receipt] {
        guard !drafts.isEmpty else { return [] }
        let result = try queue.writeWithoutTransaction { db in
            var sealed: [Receipt] = []
            try db.inTransaction(.immediate) {
                // Countersign creates no triggers; one planted in the file could change or drop receipts.
                let triggers = try String.fetchAll(
                    db.cachedStatement(sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'"))
                guard triggers.isEmpty else {
                    throw LedgerError(
                        "\(path) has triggers Countersign did not create (\(triggers.joined(separator: ", "))): nothing is written; run 'countersign verify \(path)'"
                    )
                }
                let tail =
                    try Row.fetchOne(
                        db.cachedStatement(sql: "SELECT seq, hash FROM receipts ORDER BY seq DESC LIMIT 1")
                    )
                    .map { ChainTail(seq: $0["seq"], hash: $0["hash"]) } ?? .empty
                sealed = sealer.seal(drafts, after: tail)
                let insert = try db.cachedStatement(
                    sql: """
                        INSERT INTO receipts (seq, id, time, kind, session_id, trace_id, action_hash, status, decision,
                                              rule_id, hash, prev, body)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """)
                for r in sealed {
                    try insert.execute(arguments: [
                        r.seq, r.id, r.time, r.kind, r.sessionID, r.traceID, r.actionHash, r.status, r.decision,
                        r.ruleID, r.hash, r.prev, r.canonicalText,
                    ])
                    // A trigger planted in the file could drop the row silently: the receipt must be there.
                    guard db.changesCount == 1 else {
                        throw LedgerError(
                            "receipt \(r.seq) was not stored in \(path) (something in the database intercepted it); run 'countersign verify \(path)'"
                        )
                    }
                }
                return .commit
            }
            return sealed
        }
        afterCommit()
        return result
    }

    /// A long-lived writer checkpoints the WAL every few dozen commits in the background (PASSIVE: it never
    /// blocks appends), so the WAL stays below SQLite's automatic checkpoint — which would otherwise run
    /// inside a commit, fsync included, and stall whoever waits on that receipt. Short-lived processes
    /// keep SQLite's automatic checkpoint.
    private func afterCommit() {
        let start: Bool = lock.withLock {
            commitsSinceCheckpoint += 1
            guard commitsSinceCheckpoint >= Self.checkpointEvery, !checkpointing else { return false }
            commitsSinceCheckpoint = 0
            checkpointing = true
            return true
        }
        guard start else { return }
        checkpointer.async { [self] in
            if checkpointQueue == nil {
                checkpointQueue = try? DatabaseQueue(path: path, configuration: checkpointConfiguration)
            }
            _ = try? checkpointQueue?.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            lock.withLock { checkpointing = false }
        }
    }

    public func query(_ query: ReceiptQuery) throws -> [Receipt] {
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        func add(_ column: String, _ value: String?, _ op: String = "=") {
            guard let value else { return }
            clauses.append("\(column) \(op) ?")
            arguments.append(value)
        }
        add("trace_id", query.traceID)
        add("session_id", query.sessionID)
        add("action_hash", query.actionHash)
        add("status", query.status)
        add("decision", query.decision)
        add("rule_id", query.ruleID)
        add("kind", query.kind)
        add("time", query.since, ">=")
        add("time", query.until, "<")
        var sql = "SELECT body FROM receipts"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY seq " + (query.descending ? "DESC" : "ASC")
        if let limit = query.limit { sql += " LIMIT \(max(0, limit))" }
        let statementArguments = StatementArguments(arguments)
        return try queue.read { db in
            try String.fetchAll(db, sql: sql, arguments: statementArguments).map { try Receipt.parse($0) }
        }
    }

    public func scan(_ body: (StoredRecord) throws -> Void) throws {
        try scanText { position, text, problem in
            let receipt = text.flatMap { try? Receipt.parse($0) }
            try body(
                StoredRecord(
                    position: position, receipt: receipt,
                    problem: problem ?? (receipt == nil ? "row \(position) does not hold a JSON receipt" : nil),
                    text: text))
        }
    }

    /// Rows in seq order; a row whose index columns disagree with its body is reported (the columns
    /// answer queries — `receipts --rule/--status`, the dashboard, `/v1/receipts` — so an edit there would
    /// make them lie). Every column is compared byte for byte with the body's UTF-8 (`rule_id` with
    /// `policy.rule_id`): a NUL byte, another Unicode normalisation or a BLOB holding the same text would
    /// all read back as "equal" through C strings or Swift's canonical string equality, yet no query for the
    /// text finds the row. The body is read as raw bytes too, so nothing after a NUL hides.
    public func scanText(_ body: (_ position: Int, _ text: String?, _ problem: String?) throws -> Void) throws {
        let columns = ["hash"] + ReceiptScanner.indexed
        let selected = columns.map { "typeof(\($0)) AS \($0)_type, CAST(\($0) AS BLOB) AS \($0)_raw" }
        try queue.read { db in
            let cursor = try Row.fetchCursor(
                db,
                sql:
                    "SELECT seq, \(selected.joined(separator: ", ")), CAST(body AS BLOB) AS body_raw FROM receipts ORDER BY seq"
            )
            var position = 0
            while let row = try cursor.next() {
                position += 1
                let raw: Data = row["body_raw"] ?? Data()
                let text = String(decoding: raw, as: UTF8.self)
                let seq: Int64 = row["seq"]
                var problem: String?
                let disagreeing = Self.disagreeingColumns(row, columns: columns, text: text)
                if !disagreeing.isEmpty {
                    problem =
                        "row seq \(seq): the indexed column\(disagreeing.count == 1 ? "" : "s") \(disagreeing.joined(separator: ", ")) disagree\(disagreeing.count == 1 ? "s" : "") with the receipt body (edited?)"
                }
                try body(position, text, problem)
            }
        }
    }

    /// The columns of `row` (selected as `<column>_type` and `<column>_raw`) whose bytes are not the body's.
    static func disagreeingColumns(_ row: Row, columns: [String], text: String) -> [String] {
        var expected: [String: String?] = [:]
        var seq: Int64?
        if let fields = ReceiptScanner.fields(of: text) {
            expected = fields.others
            expected["hash"] = .some(fields.hash)
            seq = fields.seq
        } else if let receipt = try? Receipt.parse(text) {
            for column in ReceiptScanner.indexed where column != "rule_id" {
                expected[column] = .some(receipt.body[column]?.stringValue)
            }
            expected["rule_id"] = .some(receipt.ruleID)
            expected["hash"] = .some(receipt.body["hash"]?.stringValue)
            seq = receipt.body["seq"] == nil ? nil : receipt.seq
        } else {
            return []  // not a receipt at all: reported as such by the verifier
        }
        var disagreeing: [String] = []
        if seq != (row["seq"] as Int64) { disagreeing.append("seq") }
        for column in columns {
            let type: String = row["\(column)_type"] ?? ""
            let stored: Data? = type == "null" ? nil : row["\(column)_raw"]
            let wanted = (expected[column] ?? nil).map { Data($0.utf8) }
            if (type != "text" && type != "null") || stored != wanted { disagreeing.append(column) }
        }
        return disagreeing
    }

    public func delete(throughSeq upTo: Int64) throws {
        try queue.write { db in try db.execute(sql: "DELETE FROM receipts WHERE seq <= ?", arguments: [upTo]) }
    }

    public func lastSeq() throws -> Int64 {
        try queue.read { try Int64.fetchOne($0, sql: "SELECT MAX(seq) FROM receipts") ?? 0 }
    }

    public func count() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM receipts") ?? 0 }
    }
}
