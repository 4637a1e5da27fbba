import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// `countersign serve`: the decision API, the approvals inbox and its dashboard, probes and metrics.
public struct CountersignServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var reviewers: ReviewerDirectory
        public var apiToken: String?
        /// Whether to listen on `host:port` (false: the Unix socket alone).
        public var listenTCP = true
        /// The Unix socket to listen on, if any: mode 0660, group `socketGroup` (else the service's).
        public var socketPath: String?
        public var socketGroup: String?
        /// Answers `POST /v1/hooks/<agent>` (the CLI wires the hook layer in; nil: 404).
        public var hooks: HookEndpoint?
        /// Checks MCP descriptor pins for proxies using the service (the CLI wires the pin store in).
        public var pins: PinCheck?
        /// A connection that has not sent a complete request head for this long is closed.
        public var idleTimeout: Duration = .seconds(30)

        public init(host: String, port: Int, reviewers: ReviewerDirectory, apiToken: String?) {
            self.host = host
            self.port = port
            self.reviewers = reviewers
            self.apiToken = apiToken
        }

        public var isLoopback: Bool { ["127.0.0.1", "localhost", "::1"].contains(host) || host.hasPrefix("127.") }
    }

    /// (server, kind, name, hash) → `{"status": "first_seen"|"unchanged"|"changed", "pinned_hash", "pinned_at"}`.
    public typealias PinCheck = @Sendable (String, String, String, String) throws -> JSONValue

    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    public let service: DecisionService
    public let metrics: ServerMetrics
    let configuration: Configuration
    /// One set for both listeners: a reviewer's CSRF token is the same whichever way they came in.
    let credentials: Credentials
    /// Set when the socket could not be given its permissions (the server then stops and `run` throws).
    let socketFailure = FailureBox()
    /// What callers may hold open: connections per caller and in all, body bytes being read.
    let limits: ConnectionLimits

    public init(gate: Gate, configuration: Configuration) throws {
        if !configuration.isLoopback && (configuration.apiToken == nil || configuration.reviewers.reviewers.isEmpty) {
            throw SetupError(
                description: "listening on \(configuration.host) (not loopback) requires --api-token-env and a "
                    + "--reviewers file with tokens: anyone who can reach the port could otherwise decide and approve")
        }
        if let apiToken = configuration.apiToken,
            let holder = configuration.reviewers.reviewers.first(where: {
                ConstantTime.equal($0.token, Array(apiToken.utf8))
            })
        {
            throw SetupError(
                description: "the API token is also \(holder.id)'s reviewer token: who made a request would be "
                    + "ambiguous (give agents a token of their own)")
        }
        self.configuration = configuration
        Self.raiseOpenFileLimit()
        limits = ConnectionLimits(bodyDeadline: configuration.idleTimeout)
        credentials = Credentials(
            reviewers: configuration.reviewers, apiToken: configuration.apiToken.map { Array($0.utf8) })
        metrics = ServerMetrics()
        let inbox = ApprovalInbox()
        let metrics = self.metrics
        inbox.onChange = { metrics.pendingApprovals($0) }
        service = DecisionService(gate: gate, inbox: inbox, metrics: metrics)
    }

    /// The router with every route and the security middleware, for the server and for tests. The Unix
    /// socket's router reads each caller's credentials from the kernel instead of checking Host headers.
    public func router(
        port: Int? = nil, unixSocket: Bool = false, logger: Logger = Logger(label: "countersign.serve")
    ) -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        let port = port ?? configuration.port
        var hosts: Set<String> = ["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)"]
        hosts.insert("\(configuration.host.lowercased()):\(port)")
        if port == 80 { hosts.formUnion(["127.0.0.1", "localhost"]) }
        router.middlewares.add(SecurityMiddleware(allowedHosts: hosts, unixSocket: unixSocket))
        if unixSocket {
            router.middlewares.add(PeerMiddleware(limits: limits))
        } else {
            router.middlewares.add(RemoteCallerMiddleware())
        }
        Routes(
            service: service, credentials: credentials, metrics: metrics, logger: logger, hooks: configuration.hooks,
            pins: configuration.pins, limits: limits
        ).register(on: router)
        return router
    }

    /// Serves until SIGINT/SIGTERM. First closes, as `ask->abandoned`, any ask a previous server left open
    /// in the ledger. On a signal: closes every open ask as `ask->abandoned` (its receipt committed, its
    /// waiting callers answered), then stops accepting and lets requests in flight finish — all of it
    /// within `shutdownLimit` (requests still running then are cancelled) — and commits every receipt
    /// before returning. `ready` gets the bound port (useful with port 0).
    public func run(
        logger: Logger, shutdownLimit: Duration = .seconds(8), ready: @escaping @Sendable (Int) -> Void,
        socketReady: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws {
        let abandoned = try await service.closeAbandonedAsks()
        if !abandoned.isEmpty {
            logger.notice(
                "closed asks a previous server left open", metadata: ["count": .stringConvertible(abandoned.count)])
        }
        // The router must accept the real port in Host headers; with port 0 it is known only once bound,
        // so a fixed port is resolved first.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if configuration.listenTCP {
            let port = configuration.port == 0 ? try Self.freePort(host: configuration.host) : configuration.port
            let app = Application(
                router: router(port: port, logger: logger),
                server: http1(unixSocket: false),
                configuration: .init(address: .hostname(configuration.host, port: port), serverName: "countersign"),
                onServerRunning: { channel in ready(channel.localAddress?.port ?? port) },
                logger: logger)
            services.append(.init(service: app))
        }
        if let path = configuration.socketPath {
            let socket = try UnixSocketFile(path: path, group: configuration.socketGroup)
            try socket.prepare()
            let failure = self.socketFailure
            let app = Application(
                router: router(unixSocket: true, logger: logger),
                server: http1(unixSocket: true),
                configuration: .init(address: .unixDomainSocket(path: path), serverName: "countersign"),
                onServerRunning: { _ in
                    do {
                        try socket.restrict()
                        socketReady(path)
                    } catch {
                        // Never serve a socket whose permissions are not the ones asked for: stop, and fail.
                        logger.critical("\(error)")
                        failure.set("\(error)")
                        kill(getpid(), SIGTERM)
                    }
                },
                logger: logger)
            services.append(.init(service: app))
        }
        // Services shut down in reverse order: the asks are abandoned (and their long-polls answered) while
        // the HTTP server still serves, then the server drains.
        services.append(.init(service: AskCloser(service: service, limit: shutdownLimit / 2)))
        var group = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = shutdownLimit
        do {
            try await ServiceGroup(configuration: group).run()
        } catch  where service.inbox.isStopping {
            // Past the limit the group cancels what still runs and reports it; the receipts are what matter.
            logger.warning("shutdown", metadata: ["error": .string("\(error)")])
        }
        await service.drain(limit: .seconds(1))
        if let reason = socketFailure.value { throw SetupError(description: reason) }
    }

    /// HTTP/1.1 with an idle timeout: a connection that has not sent a complete request head within the
    /// timeout (between requests, or ever) is closed, so half-open connections cannot hold the service's
    /// files. Requests in progress (a long poll) are not idle.
    func http1(unixSocket: Bool) -> HTTPServerBuilder {
        let nanoseconds =
            configuration.idleTimeout.components.seconds * 1_000_000_000
            + configuration.idleTimeout.components.attoseconds / 1_000_000_000
        let limits = self.limits
        return .http1(
            configuration: .init(
                additionalChannelHandlers: [limits.handler(unixSocket: unixSocket)],
                idleTimeout: .nanoseconds(nanoseconds)))
    }

    /// As many open files as the system allows this process: every connection is one.
    static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// Checks a socket path and group before anything else is set up (a key, a ledger): the same checks
    /// `run` makes before binding.
    public static func checkSocket(path: String, group: String?) throws {
        try UnixSocketFile(path: path, group: group).prepare()
    }

    /// Asks the kernel for a free port on `host`.
    static func freePort(host: String) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SetupError(description: "cannot open a socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw SetupError(description: "cannot bind \(host)") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Waits for the shutdown signal, then closes every open ask as `ask->abandoned` (up to `limit`).
struct AskCloser: Service {
    let service: DecisionService
    let limit: Duration

    func run() async throws {
        try? await gracefulShutdown()
        await service.abandonOpenAsks(limit: limit)
    }
}

/// A failure reported from a callback, read once the server stopped.
final class FailureBox: @unchecked Sendable {
    // `reason` is guarded by `lock`.
    private let lock = NSLock()
    private var reason: String?

    func set(_ text: String) { lock.withLock { reason = reason ?? text } }
    var value: String? { lock.withLock { reason } }
}
