import CountersignCore
import Foundation
import GRDB

/// The hash of each tool, resource and prompt descriptor as first seen, per server identity, in the
/// embedded store — so a description swapped later (a "rug pull") is caught even across proxy runs.
/// Who keeps the descriptor pins: the proxy's own store (embedded) or the signer service (`--signer`).
public protocol DescriptorPinning: Sendable {
    func check(server: String, kind: String, name: String, hash: String) throws -> DescriptorPins.Status
}

public final class DescriptorPins: DescriptorPinning, @unchecked Sendable {
    // DatabaseQueue serialises access; the class holds only immutable references.
    let queue: DatabaseQueue

    public enum Status: Sendable, Equatable {
        case firstSeen
        case unchanged
        /// The descriptor differs from the one pinned at `pinnedAt` (with hash `pinnedHash`).
        case changed(pinnedHash: String, pinnedAt: String)
    }

    public init(path: String) throws {
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.journalMode = .wal
        queue = try FileLock.withExclusiveLock(path + ".lock") {
            let queue = try DatabaseQueue(path: path, configuration: config)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1-descriptor-pins") { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS descriptor_pins (server TEXT NOT NULL, kind TEXT NOT NULL,
                            name TEXT NOT NULL, hash TEXT NOT NULL, pinned_at TEXT NOT NULL,
                            PRIMARY KEY (server, kind, name));
                        """)
            }
            try migrator.migrate(queue)
            return queue
        }
    }

    /// Compares `hash` with the pin of (server, kind, name), pinning it on first sight. A changed
    /// descriptor keeps its original pin: the first version seen is the one that was trusted.
    public func check(server: String, kind: String, name: String, hash: String) throws -> Status {
        try queue.write { db in
            if let row = try Row.fetchOne(
                db, sql: "SELECT hash, pinned_at FROM descriptor_pins WHERE server = ? AND kind = ? AND name = ?",
                arguments: [server, kind, name])
            {
                let pinned: String = row["hash"]
                return pinned == hash ? .unchanged : .changed(pinnedHash: pinned, pinnedAt: row["pinned_at"])
            }
            try db.execute(
                sql: "INSERT INTO descriptor_pins VALUES (?, ?, ?, ?, ?)",
                arguments: [server, kind, name, hash, Timestamp.now()])
            return .firstSeen
        }
    }

    /// Forgets the pins of one server (after a reviewed update), or of every server.
    public func reset(server: String?) throws -> Int {
        try queue.write { db in
            if let server {
                try db.execute(sql: "DELETE FROM descriptor_pins WHERE server = ?", arguments: [server])
            } else {
                try db.execute(sql: "DELETE FROM descriptor_pins")
            }
            return db.changesCount
        }
    }
}
