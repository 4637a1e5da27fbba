import NIOCore

/// One unit read from a newline-delimited JSON-RPC stream.
public enum Frame: Sendable, Equatable {
    /// A line without its terminator (a trailing CR is dropped too).
    case line([UInt8])
    /// A line longer than the limit; its bytes were discarded up to the next newline.
    case oversized(bytes: Int)
}

/// Splits a byte stream into lines of at most `maximumLength` bytes. An oversized line is reported
/// once and skipped (not buffered), so a hostile peer cannot grow memory; the stream stays usable.
public struct LineFramer: ByteToMessageDecoder {
    public typealias InboundOut = Frame
    let maximumLength: Int
    /// Bytes of an oversized line skipped so far; nil when not inside one.
    var skipping: Int?

    public init(maximumLength: Int) {
        self.maximumLength = maximumLength
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        if let newline = view.firstIndex(of: 0x0A) {
            let length = newline - view.startIndex
            if let skipped = skipping {
                buffer.moveReaderIndex(forwardBy: length + 1)
                skipping = nil
                context.fireChannelRead(wrapInboundOut(.oversized(bytes: skipped + length)))
                return .continue
            }
            if length > maximumLength {
                buffer.moveReaderIndex(forwardBy: length + 1)
                context.fireChannelRead(wrapInboundOut(.oversized(bytes: length)))
                return .continue
            }
            var bytes = buffer.readBytes(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if bytes.last == 0x0D { bytes.removeLast() }
            context.fireChannelRead(wrapInboundOut(.line(bytes)))
            return .continue
        }
        if view.count > maximumLength || skipping != nil {
            skipping = (skipping ?? 0) + view.count
            buffer.moveReaderIndex(forwardBy: view.count)
        }
        return .needMoreData
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        // A final line without a newline still counts (a peer that exits after its last message).
        if try decode(context: context, buffer: &buffer) == .continue { return .continue }
        if let skipped = skipping {
            skipping = nil
            context.fireChannelRead(wrapInboundOut(.oversized(bytes: skipped)))
        } else if buffer.readableBytes > 0 {
            var bytes = buffer.readBytes(length: buffer.readableBytes)!
            if bytes.last == 0x0D { bytes.removeLast() }
            context.fireChannelRead(wrapInboundOut(.line(bytes)))
        }
        return .needMoreData
    }
}
