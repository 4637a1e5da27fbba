import CountersignGate
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// The stdio transport: the client on this process's stdin/stdout, the server as a child process, both
/// as non-blocking swift-nio pipe channels framed into lines.
public enum StdioProxy {
    public struct Paths: Sendable {
        /// The server's stderr is appended here.
        public var serverLog: String
        /// The proxy's own notes (dropped messages, record failures).
        public var proxyLog: String

        public init(serverLog: String, proxyLog: String) {
            self.serverLog = serverLog
            self.proxyLog = proxyLog
        }
    }

    /// Runs until the client closes its side (then the server gets EOF, a grace period, and a signal) or
    /// the server exits. Returns the server's exit status.
    public static func run(
        gate: any GateService, options: ProxyOptions, pins: (any DescriptorPinning)?, allowEnvironment: [String],
        paths: Paths,
        clientInput: Int32 = 0, clientOutput: Int32 = 1
    ) async throws -> Int32 {
        let log = ProxyLog(path: paths.proxyLog)
        let child = try ChildProcess.spawn(
            options.serverCommand, allowEnvironment: allowEnvironment, stderrPath: paths.serverLog)
        log.write("started \(options.serverCommand.joined(separator: " ")) as pid \(child.pid)")
        let exit = ExitWatch(child)

        // Both pipes and the session share one event loop: an allowed call crosses no thread.
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let outlet = ChannelOutlet(log: log)
        let session = ProxySession(gate: gate, options: options, pins: pins, outlet: outlet, loop: loop)
        let (ends, ended) = AsyncStream.makeStream(of: Side.self)
        let server: any Channel
        let client: any Channel
        do {
            server = try await channel(
                on: loop, input: child.stdoutFD, output: child.stdinFD, maximum: options.maximumMessageBytes,
                attach: { outlet.server = $0 },
                frame: { session.fromServer($0) },
                end: {
                    session.serverClosed()
                    ended.yield(.server)
                })
            client = try await channel(
                on: loop, input: pipeable(clientInput, reading: true), output: pipeable(clientOutput, reading: false),
                maximum: options.maximumMessageBytes,
                attach: { outlet.client = $0 },
                frame: { session.fromClient($0) },
                end: { ended.yield(.client) })
        } catch {
            child.signal(SIGKILL)
            throw error
        }
        let sweeper = loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
            session.sweep()
        }

        var first: Side = .server
        for await side in ends {
            first = side
            break
        }
        if first == .client {
            log.write("client closed its input; finishing")
            // The client still reads the answers to what it sent (a half-closed pipe): every call in flight is
            // answered or times out as it would have, however slowly the server started.
            let deadline = ContinuousClock.now + options.downstreamTimeout + .seconds(1)
            while ContinuousClock.now < deadline, !((try? await loop.submit { session.isIdle }.get()) ?? true) {
                try? await Task.sleep(for: .milliseconds(10))
            }
            try? await server.close(mode: .output)
            if await !finished(exit, within: options.shutdownGrace) {
                log.write("server still running after the grace period; terminating")
                child.signal(SIGTERM)
                if await !finished(exit, within: .seconds(1)) { child.signal(SIGKILL) }
            }
        } else {
            log.write("server output closed")
        }
        sweeper.cancel()
        await gate.flush()  // every submitted receipt is committed before the proxy exits
        if let last = try? await loop.submit({ outlet.lastClientWrite }).get() { try? await last.get() }
        try? await client.close()
        try? await server.close()
        while exit.status == nil { try? await Task.sleep(for: .milliseconds(5)) }
        let status = exit.status!
        log.write("server exited with status \(status)")
        // After the client left, stopping the server is ours to do: that is a clean end, not its failure.
        return first == .client && status > 128 ? 0 : status
    }

    enum Side: Sendable { case client, server }

    /// Polls for the server's exit until `limit`.
    static func finished(_ exit: ExitWatch, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if exit.status != nil { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return exit.status != nil
    }

    /// A pipe channel on `loop` that frames lines and hands each to `frame`, and calls `end` once when its
    /// input ends. Half-closure: the client closing its input leaves our output open for the last answers.
    static func channel(
        on loop: any EventLoop, input: Int32, output: Int32, maximum: Int,
        attach: @escaping @Sendable (any Channel) -> Void, frame: @escaping @Sendable (Frame) -> Void,
        end: @escaping @Sendable () -> Void
    ) async throws -> any Channel {
        try await NIOPipeBootstrap(group: loop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    attach(channel)
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(LineFramer(maximumLength: maximum)), FrameHandler(frame: frame, end: end))
                }
            }
            .takingOwnershipOfDescriptors(input: input, output: output).get()
    }

    /// A descriptor NIO can poll: a copy of a pipe or socket, or — for a regular file or a terminal
    /// (`countersign mcp proxy < session.jsonl`) — a pipe fed from it by a thread.
    static func pipeable(_ fd: Int32, reading: Bool) throws -> Int32 {
        var info = stat()
        let isPollable =
            fstat(fd, &info) == 0 && ((info.st_mode & S_IFMT) == S_IFIFO || (info.st_mode & S_IFMT) == S_IFSOCK)
        if isPollable { return dup(fd) }
        let ends = try makePipe()
        let source = dup(fd)
        let (from, to, keep) = reading ? (source, ends[1], ends[0]) : (ends[0], source, ends[1])
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(from, &buffer, buffer.count)
                if n <= 0 { break }
                var offset = 0
                while offset < n {
                    let written = buffer.withUnsafeBufferPointer { write(to, $0.baseAddress! + offset, n - offset) }
                    if written <= 0 { break }
                    offset += written
                }
                if offset < n { break }
            }
            close(from)
            close(to)
        }
        return keep
    }
}

/// The server's exit status once it has exited (waited for on a thread of its own).
final class ExitWatch: @unchecked Sendable {
    // `value` is guarded by `lock`.
    private let lock = NSLock()
    private var value: Int32?

    init(_ child: ChildProcess) {
        Task { [self] in
            let status = await child.waitForExit()
            lock.withLock { value = status }
        }
    }

    var status: Int32? { lock.withLock { value } }
}

/// Hands each framed line to the session and reports the end of input once.
final class FrameHandler: ChannelInboundHandler, @unchecked Sendable {
    // Used only on its channel's event loop.
    typealias InboundIn = Frame
    let frame: @Sendable (Frame) -> Void
    let end: @Sendable () -> Void
    var ended = false

    init(frame: @escaping @Sendable (Frame) -> Void, end: @escaping @Sendable () -> Void) {
        self.frame = frame
        self.end = end
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        frame(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { finish() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish()
        context.close(promise: nil)
    }

    func finish() {
        guard !ended else { return }
        ended = true
        end()
    }
}

/// Writes whole lines to the two pipe channels (on their event loop).
final class ChannelOutlet: ProxyOutlet, @unchecked Sendable {
    // The channels are set during channel setup and used only on the shared event loop.
    var client: (any Channel)?
    var server: (any Channel)?
    var lastClientWrite: EventLoopFuture<Void>?
    let log: ProxyLog

    init(log: ProxyLog) { self.log = log }

    func toClient(_ line: [UInt8]) {
        guard let client else { return }
        lastClientWrite = client.writeAndFlush(Self.buffer(line, client.allocator))
    }

    func toServer(_ line: [UInt8]) {
        guard let server else { return }
        server.writeAndFlush(Self.buffer(line, server.allocator), promise: nil)
    }

    func log(_ message: String) { log.write(message) }

    static func buffer(_ line: [UInt8], _ allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: line.count + 1)
        buffer.writeBytes(line)
        buffer.writeInteger(UInt8(0x0A))
        return buffer
    }
}

/// The proxy's log file (appended, one timestamped line per note; never sent to the client).
final class ProxyLog: Sendable {
    let fd: Int32

    init(path: String) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    }

    deinit { if fd >= 0 { close(fd) } }

    func write(_ message: String) {
        guard fd >= 0 else { return }
        let line = "\(Date().ISO8601Format()) \(message)\n"
        _ = line.withCString { Glibc.write(fd, $0, strlen($0)) }
    }
}
