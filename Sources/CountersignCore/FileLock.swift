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
