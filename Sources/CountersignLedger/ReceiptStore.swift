import CountersignCore
import Foundation

/// Filters for reading receipts. Every filter is exact, all are ANDed.
public struct ReceiptQuery: Sendable, Hashable {
    public var traceID: String?
    public var sessionID: String?
    public var actionHash: String?
    public var status: String?
    public var decision: String?
    public var ruleID: String?
    public var kind: String?
    /// RFC 3339 bounds on `time` (inclusive since, exclusive until).
    public var since: String?
    public var until: String?
    public var limit: Int?
    public var descending = false

    public init() {}

    func matches(_ r: Receipt) -> Bool {
        if let traceID, r.traceID != traceID { return false }
        if let sessionID, r.sessionID != sessionID { return false }
        if let actionHash, r.actionHash != actionHash { return false }
        if let status, r.status != status { return false }
        if let decision, r.decision != decision { return false }
        if let ruleID, r.ruleID != ruleID { return false }
        if let kind, r.kind != kind { return false }
        if let since, r.time < since { return false }
        if let until, r.time >= until { return false }
        return true
    }
}

/// How hard an append tries to survive a crash.
public enum SyncMode: String, Sendable, CaseIterable {
    /// Committed to the operating system before the action runs: survives the process being killed.
    case normal
    /// Also flushed to the disk on every commit: survives power loss.
    case full
}

/// A place receipts are appended to and read from. The path picks the kind: `.jsonl` for JSON Lines,
/// `.sqlite`/`.sqlite3`/`.db` for SQLite.
public protocol ReceiptStore: Sendable {
    var path: String { get }
    var backend: String { get }
    /// Seals and commits the drafts as one chain segment, under a lock that other processes share.
    /// Returns only after the receipts are committed.
    func append(_ drafts: [ReceiptDraft], sealer: Sealer) throws -> [Receipt]
    func query(_ query: ReceiptQuery) throws -> [Receipt]
    /// Every stored record in chain order, as written (a record that does not parse is reported, not skipped).
    func scan(_ body: (StoredRecord) throws -> Void) throws
    /// Every stored record as raw text, in chain order (verification reads only a few members of each).
    func scanText(_ body: (_ position: Int, _ text: String?, _ problem: String?) throws -> Void) throws
    /// Removes the receipts with `seq <= upTo`. Callers append a checkpoint first (see `Retention`).
    func delete(throughSeq upTo: Int64) throws
    func count() throws -> Int
    /// The seq of the last complete receipt (0 when there is none), read cheaply.
    func lastSeq() throws -> Int64
}

/// One stored record as read back for verification.
public struct StoredRecord: Sendable {
    /// 1-based position in the file or table.
    public let position: Int
    public let receipt: Receipt?
    /// Why the record could not be read as a receipt.
    public let problem: String?
    /// The text as stored, when the store keeps text (lets verify hash it without re-encoding).
    public let text: String?

    public init(position: Int, receipt: Receipt?, problem: String?, text: String? = nil) {
        self.position = position
        self.receipt = receipt
        self.problem = problem
        self.text = text
    }
}

public enum ReceiptStores {
    public static let defaultPath = ".countersign/ledger.sqlite"

    /// The default wait for another writer's lock before an append fails (fail closed: the decision it
    /// carries is denied).
    public static let defaultLockTimeout = 5.0

    public static func open(path: String, sync: SyncMode = .normal, lockTimeout: Double = defaultLockTimeout) throws
        -> any ReceiptStore
    {
        let lower = path.lowercased()
        if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") {
            return try JSONLStore(path: path, sync: sync, lockTimeout: lockTimeout)
        }
        if lower.hasSuffix(".sqlite") || lower.hasSuffix(".sqlite3") || lower.hasSuffix(".db") {
            return try SQLiteStore(path: path, sync: sync, lockTimeout: lockTimeout)
        }
        throw LedgerError("cannot tell the ledger kind from '\(path)': use a .jsonl, .sqlite or .db path")
    }
}

public struct LedgerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
