import CountersignSignerClient
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The service's Unix socket file: a stale one left by a crash is removed (never a live one, never a file
/// that is not a socket), and once bound it gets mode 0660 and the group allowed to connect. Until then
/// the process umask (0077) keeps it private, so nobody connects before the permissions are right.
struct UnixSocketFile: Sendable {
    let path: String
    let gid: gid_t?

    init(path: String, group: String?) throws {
        guard !path.contains("://") else {
            throw CountersignServer.SetupError(
                description: "--socket \(path): a file path, e.g. /run/countersign/countersign.sock")
        }
        self.path = path
        if let group {
            guard let entry = getgrnam(group) else {
                throw CountersignServer.SetupError(
                    description: "--socket-group \(group): no such group (create it with groupadd, or omit the option)")
            }
            let gid = entry.pointee.gr_gid
            // Only a member (or root) may give a file this group: say so now, not after binding.
            if geteuid() != 0 && getegid() != gid && !Self.supplementaryGroups().contains(gid) {
                throw CountersignServer.SetupError(
                    description:
                        "--socket-group \(group): this process (uid \(getuid())) is not a member of the group, "
                        + "so it cannot give the socket that group (usermod -aG \(group) USER, then log in again)")
            }
            self.gid = gid
        } else {
            gid = nil
        }
        guard path.utf8.count < 104 else {
            throw CountersignServer.SetupError(description: "--socket \(path): the path is too long for a Unix socket")
        }
    }

    func prepare() throws {
        let directory = (path as NSString).deletingLastPathComponent
        var info = stat()
        if !directory.isEmpty, stat(directory, &info) != 0 {
            throw CountersignServer.SetupError(
                description: "--socket \(path): the directory \(directory) does not exist (create it first)")
        }
        // Whoever can write the socket's directory can put their own server in its place.
        let sticky = info.st_mode & S_ISVTX != 0
        if !directory.isEmpty && (info.st_uid != geteuid() && info.st_uid != 0 || info.st_mode & 0o002 != 0 && !sticky)
        {
            throw CountersignServer.SetupError(
                description:
                    "--socket \(path): the directory \(directory) belongs to uid \(info.st_uid) or is writable by "
                    + "others, so someone else could replace the socket; use a directory of your own (mode 0700), "
                    + "e.g. $XDG_RUNTIME_DIR")
        }
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw CountersignServer.SetupError(
                description: "--socket \(path): a file that is not a socket is in the way (remove it yourself)")
        }
        if Self.accepts(path) {
            throw CountersignServer.SetupError(
                description: "--socket \(path): another server is already listening there")
        }
        unlink(path)  // stale: left by a server that did not stop cleanly
    }

    func restrict() throws {
        if let gid, chown(path, uid_t.max, gid) != 0 {
            throw CountersignServer.SetupError(
                description: "--socket \(path): cannot give it group \(gid): \(String(cString: strerror(errno)))")
        }
        guard chmod(path, 0o660) == 0 else {
            throw CountersignServer.SetupError(
                description: "--socket \(path): cannot set mode 0660: \(String(cString: strerror(errno)))")
        }
    }

    static func supplementaryGroups() -> [gid_t] {
        let count = getgroups(0, nil)
        guard count > 0 else { return [] }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let found = getgroups(count, &groups)
        return found > 0 ? Array(groups.prefix(Int(found))) : []
    }

    /// Whether something accepts connections at `path`.
    static func accepts(_ path: String) -> Bool { UnixSocket.accepts(path) }
}
