#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Who asked for a receipt to be written, as measured — never as claimed. Every receipt carries it under
/// `caller`, so a reader can tell how far the record was out of the agent's reach when it was written.
///
/// - `same-user`: the signer ran as the caller's own user (an embedded hook or proxy, or a service running
///   under the caller's uid): anyone who runs as that user could also have rewritten the record.
/// - `separate-user`: the caller came over the signer's Unix socket and the kernel reported a uid other
///   than the service's (`SO_PEERCRED` / `getpeereid`).
/// - `remote`: the caller came over HTTP; no uid is known.
public struct CallerIdentity: Sendable, Hashable {
    public enum Isolation: String, Sendable {
        case sameUser = "same-user"
        case separateUser = "separate-user"
        case remote
    }

    public var uid: UInt32?
    public var gid: UInt32?
    public var pid: Int32?
    public var isolation: Isolation

    public init(uid: UInt32?, gid: UInt32?, pid: Int32?, isolation: Isolation) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.isolation = isolation
    }

    /// A peer on the service's Unix socket, as the kernel reports it: `separate-user` exactly when its uid
    /// differs from this process's.
    public static func socketPeer(uid: UInt32, gid: UInt32, pid: Int32) -> CallerIdentity {
        CallerIdentity(uid: uid, gid: gid, pid: pid, isolation: uid == getuid() ? .sameUser : .separateUser)
    }

    /// This process itself: an embedded adapter signs as its caller's own user.
    public static let thisProcess = CallerIdentity(uid: getuid(), gid: getgid(), pid: getpid(), isolation: .sameUser)

    /// A signer service keeps the sessions (and descriptor pins) of callers of another user apart from
    /// every other caller's: `uid:N/` before the id they gave, so one agent can neither read nor feed
    /// another's. Empty for everyone else.
    public var sessionPrefix: String {
        guard isolation == .separateUser, let uid else { return "" }
        return "uid:\(uid)/"
    }

    /// The caller of the work running in this task; receipts drafted without one are the process's own.
    @TaskLocal public static var current: CallerIdentity?

    public var json: JSONValue {
        var object: [String: JSONValue] = ["isolation": .string(isolation.rawValue)]
        if let uid { object["uid"] = .int(Int64(uid)) }
        if let gid { object["gid"] = .int(Int64(gid)) }
        if let pid { object["pid"] = .int(Int64(pid)) }
        return .object(object)
    }
}
