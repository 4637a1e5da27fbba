#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Byte-level string tests on UTF-8.
///
/// Python compares code points, not Unicode canonical equivalence as Swift's `==` does; these
/// helpers give Python's answers and avoid Foundation's slow bridging on the decision path.
public enum ByteSearch {
    /// Whether `needle` occurs in `haystack` (an empty needle always does).
    @inlinable
    public static func contains(_ haystack: String, _ needle: String) -> Bool {
        if needle.isEmpty { return true }
        var h = haystack
        var n = needle
        return h.withUTF8 { hb in
            n.withUTF8 { nb in
                guard nb.count <= hb.count, let hp = hb.baseAddress, let np = nb.baseAddress else { return false }
                return find(hp, hb.count, np, nb.count)
            }
        }
    }

    /// Whether the bytes `needle` occur in `haystack`.
    public static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        if needle.isEmpty { return true }
        return haystack.withUnsafeBufferPointer { hb in
            needle.withUnsafeBufferPointer { nb in
                guard nb.count <= hb.count, let hp = hb.baseAddress, let np = nb.baseAddress else { return false }
                return find(hp, hb.count, np, nb.count)
            }
        }
    }

    /// The byte offset of the first `needle` in `haystack`.
    public static func offset(of needle: String, in haystack: String) -> Int? {
        var h = haystack
        var n = needle
        return h.withUTF8 { hb in
            n.withUTF8 { nb -> Int? in
                guard !nb.isEmpty, nb.count <= hb.count, let hp = hb.baseAddress, let np = nb.baseAddress else {
                    return nil
                }
                return firstOffset(hp, hb.count, np, nb.count)
            }
        }
    }

    /// memchr for the first byte, memcmp for the rest (glibc's memmem is not visible to Swift).
    @usableFromInline
    static func find(_ h: UnsafePointer<UInt8>, _ hn: Int, _ n: UnsafePointer<UInt8>, _ nn: Int) -> Bool {
        firstOffset(h, hn, n, nn) != nil
    }

    @usableFromInline
    static func firstOffset(_ h: UnsafePointer<UInt8>, _ hn: Int, _ n: UnsafePointer<UInt8>, _ nn: Int) -> Int? {
        let first = Int32(n.pointee)
        var start = 0
        let last = hn - nn
        while start <= last {
            guard let hit = memchr(h + start, first, last - start + 1) else { return nil }
            let offset = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - h
            if nn == 1 || memcmp(h + offset + 1, n + 1, nn - 1) == 0 { return offset }
            start = offset + 1
        }
        return nil
    }

    @inlinable
    public static func equal(_ a: String, _ b: String) -> Bool {
        var x = a
        var y = b
        return x.withUTF8 { xb in
            y.withUTF8 { yb in
                xb.count == yb.count && (xb.count == 0 || memcmp(xb.baseAddress!, yb.baseAddress!, xb.count) == 0)
            }
        }
    }

    @inlinable
    public static func hasPrefix(_ s: String, _ prefix: String) -> Bool {
        var x = s
        var p = prefix
        return x.withUTF8 { xb in
            p.withUTF8 { pb in
                pb.count <= xb.count && (pb.count == 0 || memcmp(xb.baseAddress!, pb.baseAddress!, pb.count) == 0)
            }
        }
    }
}
