import CountersignCore
import Foundation
import Hummingbird
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Bounds what callers can hold open, so that no caller can run the service out of files or memory (which
/// would block every agent, or crash the service):
/// - connections: at most `perCaller` per socket peer uid (TCP callers share one count), `total` overall;
///   past either, a new connection is closed at once;
/// - request bodies: each must arrive within `bodyDeadline`, and all bodies being read at once share
///   `bodyBudget` bytes (past it, a request is answered 503: the hook blocks, it never runs).
public final class ConnectionLimits: @unchecked Sendable {
    // `open`, `openTotal`, `buffered` and `peers` are guarded by `lock`.
    private let lock = NSLock()
    private var open: [UInt32?: Int] = [:]
    /// Each socket connection's caller, read from the kernel once when it connected.
    private var peers: [ObjectIdentifier: CallerIdentity] = [:]
    private var openTotal = 0
    private var buffered = 0
    public let perCaller: Int
    public let total: Int
    public let bodyBudget: Int
    public let bodyDeadline: Duration

    public init(
        perCaller: Int = 256, total: Int? = nil, bodyBudget: Int = 256 << 20, bodyDeadline: Duration = .seconds(30)
    ) {
        self.perCaller = perCaller
        self.total = total ?? Self.fileBudget()
        self.bodyBudget = bodyBudget
        self.bodyDeadline = bodyDeadline
    }

    /// Connections the open-file limit leaves room for, keeping some files for the ledger and the logs.
    static func fileBudget() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 768 }
        return max(64, min(Int(limit.rlim_cur) - 256, 65_536))
    }

    func admit(_ uid: UInt32?) -> Bool {
        lock.withLock {
            guard openTotal < total, open[uid, default: 0] < perCaller else { return false }
            open[uid, default: 0] += 1
            openTotal += 1
            return true
        }
    }

    func release(_ uid: UInt32?, channel: ObjectIdentifier? = nil) {
        lock.withLock {
            open[uid, default: 1] -= 1
            if open[uid] == 0 { open[uid] = nil }
            openTotal -= 1
            if let channel { peers[channel] = nil }
        }
    }

    /// The caller on a socket connection, as read when it connected (nil for TCP, or not yet known).
    func peer(of channel: any Channel) -> CallerIdentity? {
        lock.withLock { peers[ObjectIdentifier(channel)] }
    }

    func remember(_ peer: CallerIdentity, channel: ObjectIdentifier) { lock.withLock { peers[channel] = peer } }

    /// Reserves `bytes` of the shared body budget; false when it is spent.
    func reserve(_ bytes: Int) -> Bool {
        lock.withLock {
            guard buffered + bytes <= bodyBudget else { return false }
            buffered += bytes
            return true
        }
    }

    func unreserve(_ bytes: Int) { lock.withLock { buffered -= bytes } }

    /// A handler per connection that counts it (by the peer's uid on the socket) and closes it at once
    /// when over a limit.
    func handler(unixSocket: Bool) -> ConnectionCounter { ConnectionCounter(limits: self, unixSocket: unixSocket) }
}

final class ConnectionCounter: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    let limits: ConnectionLimits
    let unixSocket: Bool
    // Touched on the channel's event loop only.
    private var counted: UInt32?? = nil

    init(limits: ConnectionLimits, unixSocket: Bool) {
        self.limits = limits
        self.unixSocket = unixSocket
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        guard unixSocket, let provider = channel as? any SocketOptionProvider else {
            count(nil, channel: channel)
            return
        }
        #if os(Linux)
            let credentials: EventLoopFuture<LinuxPeerCredentials> = provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
            credentials.whenComplete { result in
                switch result {
                case .success(let peer):
                    // Read once here, on the loop, before any request: the requests reuse it (no hop each).
                    self.limits.remember(
                        .socketPeer(uid: peer.uid, gid: peer.gid, pid: peer.pid), channel: ObjectIdentifier(channel))
                    self.count(peer.uid, channel: channel)
                case .failure: channel.close(promise: nil)  // a peer the kernel cannot name
                }
            }
        #else
            count(nil, channel: channel)
        #endif
    }

    func count(_ uid: UInt32?, channel: any Channel) {
        guard limits.admit(uid) else {
            channel.close(promise: nil)
            return
        }
        counted = .some(uid)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if case .some(let uid) = counted { limits.release(uid, channel: ObjectIdentifier(context.channel)) }
        counted = nil
    }
}

extension ConnectionLimits {
    /// Reads a request's body — at most `maximum` bytes kept (past that it is drained and cut when
    /// `truncating`, else 413) — within the body deadline (past it the connection is closed) and the shared
    /// budget (past it 503), then runs `body` with it and gives the budget back.
    func withBody<T>(
        _ request: Request, channel: (any Channel)?, maximum: Int, truncating: Bool,
        _ body: (Data) async throws -> T
    ) async throws -> T {
        var reserved = 0
        defer { unreserve(reserved) }
        let data = try await read(
            request, channel: channel, maximum: maximum, truncating: truncating, reserved: &reserved)
        return try await body(data)
    }

    /// The reading part of `withBody`; the deadline covers it alone, never the answer.
    private func read(
        _ request: Request, channel: (any Channel)?, maximum: Int, truncating: Bool, reserved: inout Int
    ) async throws -> Data {
        let deadline = channel.map { channel in
            channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(bodyDeadline.components.seconds) * 1_000_000_000)) {
                channel.close(promise: nil)  // a body that trickles in would hold the connection forever
            }
        }
        defer { deadline?.cancel() }
        var data = Data()
        do {
            for try await chunk in request.body {
                let keep = min(chunk.readableBytes, maximum - data.count)
                if keep < chunk.readableBytes && !truncating {
                    throw APIError(.contentTooLarge, "the body is larger than \(maximum) bytes")
                }
                guard keep > 0 else { continue }
                guard reserve(keep) else {
                    throw APIError(.serviceUnavailable, "the service is reading too much at once; try again")
                }
                reserved += keep
                data.append(contentsOf: chunk.readableBytesView.prefix(keep))
            }
        } catch let error as APIError {
            throw error
        } catch {
            // The stream ended in error: the deadline closed the connection, or the peer went away.
            throw APIError(.requestTimeout, "the body did not arrive in time")
        }
        return data
    }
}
