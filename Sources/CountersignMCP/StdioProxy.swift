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

    typealias Channel = NIOAsyncChannel<Frame, ByteBuffer>

    /// Runs until the client closes its side (then the server gets EOF, a grace period, and a signal) or
    /// the server exits. Returns the server's exit status.
    public static func run(
        gate: Gate, options: ProxyOptions, pins: DescriptorPins?, allowEnvironment: [String], paths: Paths,
        clientInput: Int32 = 0, clientOutput: Int32 = 1
    ) async throws -> Int32 {
        let log = ProxyLog(path: paths.proxyLog)
        let child = try ChildProcess.spawn(
            options.serverCommand, allowEnvironment: allowEnvironment, stderrPath: paths.serverLog)
        log.write("started \(options.serverCommand.joined(separator: " ")) as pid \(child.pid)")
        let exit = ExitWatch(child)
        let terminated = Flag()

        let maximum = options.maximumMessageBytes
        let client: Channel
        let server: Channel
        do {
            client = try await channel(
                input: pipeable(clientInput, reading: true), output: pipeable(clientOutput, reading: false),
                maximum: maximum)
            server = try await channel(input: child.stdoutFD, output: child.stdinFD, maximum: maximum)
        } catch {
            child.signal(SIGKILL)
            throw error
        }

        try await client.executeThenClose { clientIn, clientOut in
            try await server.executeThenClose { serverIn, serverOut in
                let outlet = PipeOutlet(client: clientOut, server: serverOut, log: log)
                let session = ProxySession(gate: gate, options: options, pins: pins, outlet: outlet)
                await withTaskGroup(of: Side.self) { group in
                    group.addTask {
                        do {
                            for try await frame in clientIn { await session.fromClient(frame) }
                        } catch {
                            log.write("client input: \(error)")
                        }
                        return .client
                    }
                    group.addTask {
                        do {
                            for try await frame in serverIn { await session.fromServer(frame) }
                        } catch {
                            log.write("server output: \(error)")
                        }
                        await session.serverClosed()
                        return .server
                    }
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .milliseconds(100))
                            await session.sweep()
                        }
                        return .sweeper
                    }
                    let first = await group.next()
                    if first == .client {
                        terminated.set()
                        log.write("client closed its input; finishing")
                        await session.waitUntilIdle(limit: options.shutdownGrace)
                        serverOut.finish()
                        if await !finished(exit, within: options.shutdownGrace) {
                            log.write("server still running after the grace period; terminating")
                            child.signal(SIGTERM)
                            if await !finished(exit, within: .seconds(1)) { child.signal(SIGKILL) }
                        }
                    } else {
                        log.write("server output closed")
                    }
                    group.cancelAll()
                    clientOut.finish()
                }
            }
        }
        await gate.writer.flush()  // every submitted receipt is committed before the proxy exits
        while exit.status == nil { try? await Task.sleep(for: .milliseconds(5)) }
        let status = exit.status!
        log.write("server exited with status \(status)")
        // After the client left, stopping the server is ours to do: that is a clean end, not its failure.
        return terminated.isSet && status > 128 ? 0 : status
    }

    enum Side: Sendable { case client, server, sweeper }

    /// Polls for the server's exit until `limit` (awaiting the exit task itself could not be abandoned).
    static func finished(_ exit: ExitWatch, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if exit.status != nil { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return exit.status != nil
    }

    static func channel(input: Int32, output: Int32, maximum: Int) async throws -> Channel {
        // Half-closure: the client closing its input must leave our output open for the last answers.
        try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .takingOwnershipOfDescriptors(input: input, output: output) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFramer(maximumLength: maximum)))
                    return try Channel(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
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

/// A one-way switch shared between tasks.
final class Flag: @unchecked Sendable {
    // `value` is guarded by `lock`.
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// Writes whole lines to the two pipe channels.
struct PipeOutlet: ProxyOutlet {
    let client: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let server: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let log: ProxyLog

    func toClient(_ line: [UInt8]) async {
        do { try await client.write(Self.buffer(line)) } catch { log.write("could not write to the client: \(error)") }
    }

    func toServer(_ line: [UInt8]) async {
        do { try await server.write(Self.buffer(line)) } catch { log.write("could not write to the server: \(error)") }
    }

    func log(_ message: String) { log.write(message) }

    static func buffer(_ line: [UInt8]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: line.count + 1)
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
