import CountersignCore
import Hummingbird
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads who is on the other end of a Unix-socket connection from the kernel, and runs the request as
/// that caller: every receipt it leads to records the peer's uid, gid and pid and whether it ran as
/// another user than the service (`separate-user`). A peer the kernel cannot name is refused.
struct PeerMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    /// Where each connection's caller was recorded when it connected.
    let limits: ConnectionLimits

    func handle(
        _ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response
    ) async throws -> Response {
        var peer = context.channel.flatMap(limits.peer(of:))
        if peer == nil, let channel = context.channel { peer = try? await Self.credentials(of: channel) }
        guard let peer else {
            throw APIError(.forbidden, "the caller's credentials could not be read from the socket")
        }
        var context = context
        context.socketPeer = peer
        return try await CallerIdentity.$current.withValue(peer) { try await next(request, context) }
    }

    static func credentials(of channel: any Channel) async throws -> CallerIdentity {
        guard let provider = channel as? any SocketOptionProvider else { throw PeerError() }
        #if os(Linux)
            let credentials: LinuxPeerCredentials = try await provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)
            ).get()
            return .socketPeer(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid)
        #elseif canImport(Darwin)
            // macOS: LOCAL_PEERCRED gives the uid and groups (what getpeereid reads), LOCAL_PEERPID the pid.
            let credentials: xucred = try await provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_LOCAL), name: SocketOptionName(LOCAL_PEERCRED)
            ).get()
            let pid: pid_t = try await provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_LOCAL), name: SocketOptionName(LOCAL_PEERPID)
            ).get()
            return .socketPeer(uid: credentials.cr_uid, gid: credentials.cr_groups.0, pid: pid)
        #else
            throw PeerError()
        #endif
    }

    struct PeerError: Error {}
}

#if os(Linux)
    /// `struct ucred` from <sys/socket.h> (only declared with _GNU_SOURCE, so Glibc does not import it):
    /// what `getsockopt(SOL_SOCKET, SO_PEERCRED)` fills in.
    struct LinuxPeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }
#endif

/// Requests over TCP run as `remote` callers: no uid is known, whatever the request claims.
struct RemoteCallerMiddleware: RouterMiddleware {
    typealias Context = ServerContext

    func handle(
        _ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response
    ) async throws -> Response {
        try await CallerIdentity.$current.withValue(CallerIdentity(uid: nil, gid: nil, pid: nil, isolation: .remote)) {
            try await next(request, context)
        }
    }
}
