import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignMCP
import Foundation
import FuzzSupport
import NIOCore
import NIOEmbedded
import NIOPosix

/// The MCP stdio proxy's input side: a byte stream cut into arbitrary chunks, through the real
/// `LineFramer` in a NIO pipeline, then each frame through a fresh `ProxySession` (JSON-RPC parsing,
/// the method table, batches, mediation through a Gate with a real JSONL ledger, relaying answers).
///
/// Input: two header bytes, then the stream. Header byte 0: bit 0 picks the approval mode (1
/// auto-approve, so allowed and approved calls are forwarded and answered; 0 auto-deny), the other bits
/// the line limit (64 + 32 × (byte >> 1) bytes). Header byte 1 seeds the chunk sizes. A line starting with
/// `<` comes from the server (without the `<`), any other from the client; oversized frames alternate.
/// Checked:
/// - the frames are exactly the stream's lines (a trailing CR dropped, a final line without a newline
///   kept, a line over the limit reported once with its full length), however the stream was cut;
/// - the framer leaves no bytes behind at end of input;
/// - everything the proxy sends either peer is one line (no newline inside) holding a well-formed
///   JSON-RPC 2.0 message.
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let gates = ScratchGate(name: "mcp", policy: examplePolicy("mcp-proxy.yaml"), rotateEvery: 2000)

final class CheckingOutlet: ProxyOutlet {
    func toClient(_ line: [UInt8]) { check(line, to: "client") }
    func toServer(_ line: [UInt8]) { check(line, to: "server") }
    func log(_ message: String) {}

    func check(_ line: [UInt8], to side: String) {
        guard !line.contains(0x0A) else { finding("a line to the \(side) holds a newline") }
        let value: JSONValue
        do {
            value = try line.withUnsafeBufferPointer { buffer throws(JSONParseError) in try JSONValue.parse(buffer) }
        } catch {
            finding("the proxy sent the \(side) invalid JSON (\(error)): \(String(decoding: line, as: UTF8.self))")
        }
        do {
            _ = try JSONRPCMessage(value)
        } catch {
            finding("the proxy sent the \(side) a malformed message (\(error)): \(CanonicalJSON.string(value))")
        }
    }
}

@main
struct FuzzMCPMain {
    static func main() { runFuzzer { data, size in fuzzMCP(input(data, size)) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMCP(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzMCP(input(data, size))
}

func fuzzMCP(_ bytes: UnsafeBufferPointer<UInt8>) -> CInt {
    guard bytes.count >= 2 else { return 0 }
    let approve = bytes[0] & 1 == 1
    let limit = 64 + 32 * Int(bytes[0] >> 1)
    var seed = UInt32(bytes[1]) &* 2_654_435_761 | 1
    let stream = Array(bytes[2...])

    let frames = frame(stream, limit: limit) {
        seed ^= seed << 13
        seed ^= seed >> 17
        seed ^= seed << 5
        return 1 + Int(seed % 61)
    }
    let expected = referenceFrames(stream, limit: limit)
    guard frames == expected else {
        finding("the framer returned \(frames.count) frames where the stream holds \(expected.count): \(frames)")
    }

    let loop = group.next()
    let gate = gates.next()
    let session = ProxySession(
        gate: gate,
        options: ProxyOptions(
            serverCommand: ["fuzz-server"], maximumMessageBytes: limit, downstreamTimeout: .seconds(30),
            approvalMode: approve ? .autoApprove : .autoDeny),
        pins: nil, outlet: CheckingOutlet(), loop: loop)
    do {
        try loop.submit {
            for (index, frame) in frames.enumerated() {
                switch frame {
                case .line(let bytes) where bytes.first == UInt8(ascii: "<"):
                    session.fromServer(.line(Array(bytes.dropFirst())))
                case .line:
                    session.fromClient(frame)
                case .oversized:
                    if index % 2 == 0 { session.fromClient(frame) } else { session.fromServer(frame) }
                }
            }
        }.wait()
        // Let decisions that went through a second-key task come back, then time out what is still
        // pending and close the server's side, so nothing of this input runs into the next one.
        runBlocking { await gate.writer.flush() }
        try loop.submit {}.wait()
        try loop.submit {
            session.sweep(now: .now + .seconds(3600))
            session.serverClosed()
        }.wait()
        try settle(session, gate.writer)
    } catch {
        fatalError("the event loop failed: \(error)")
    }
    return 0
}

/// Waits (a bounded while) until the session has no decision under way and no request unanswered.
func settle(_ session: ProxySession, _ writer: LedgerWriter) throws {
    for _ in 0..<200 {
        runBlocking { await writer.flush() }
        if try session.loop.submit({ session.isIdle }).wait() { return }
        usleep(500)
    }
}

/// The stream through `LineFramer` in a NIO pipeline, in chunks of the sizes `nextChunk` gives.
func frame(_ stream: [UInt8], limit: Int, nextChunk: () -> Int) -> [Frame] {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFramer(maximumLength: limit)))
    var frames: [Frame] = []
    do {
        var offset = 0
        while offset < stream.count {
            let end = min(stream.count, offset + nextChunk())
            try channel.writeInbound(channel.allocator.buffer(bytes: stream[offset..<end]))
            while let frame: Frame = try channel.readInbound() { frames.append(frame) }
            offset = end
        }
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        while let frame: Frame = try channel.readInbound() { frames.append(frame) }
        _ = try channel.finish(acceptAlreadyClosed: true)
    } catch {
        finding("the framer's pipeline failed: \(error)")
    }
    return frames
}

/// The stream's lines, computed directly: what the framer must return whatever the chunking.
func referenceFrames(_ stream: [UInt8], limit: Int) -> [Frame] {
    var frames: [Frame] = []
    var start = 0
    func emit(_ line: ArraySlice<UInt8>) {
        if line.count > limit {
            frames.append(.oversized(bytes: line.count))
        } else {
            frames.append(.line(Array(line.last == 0x0D ? line.dropLast() : line)))
        }
    }
    for (index, byte) in stream.enumerated() where byte == 0x0A {
        emit(stream[start..<index])
        start = index + 1
    }
    if start < stream.count { emit(stream[start...]) }
    return frames
}
