#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive advisory lock (`flock`) on a sidecar file, held for the duration of `body`.
///
/// Opening a new SQLite file and creating its schema is not atomic across processes (two hook processes
/// starting together would both try to create the tables); doing it under this lock makes it so.
public enum FileLock {
    public static func withExclusiveLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return try body() }  // no lock file possible (read-only dir): proceed unlocked
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

/// Opening a database whose schema is already current needs no lock and no migration: a hook process
/// opens two of them per tool call, so that check is worth skipping. A new or older file is opened and
/// migrated under `FileLock` as before.
public enum SchemaGate {
    public static func open<Database>(
        path: String, isCurrent: (Database) -> Bool, open: () throws -> Database,
        migrate: (Database) throws -> Void
    ) throws -> Database {
        var info = stat()
        if stat(path, &info) == 0, info.st_size > 0, let database = try? open(), isCurrent(database) {
            return database
        }
        return try FileLock.withExclusiveLock(path + ".lock") {
            let database = try open()
            try migrate(database)
            return database
        }
    }
}
