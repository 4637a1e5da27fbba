#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// RFC 3339 UTC timestamps with microseconds, e.g. `2026-11-22T05:28:14.123456Z`.
///
/// Fixed width, so string order is time order.
public enum Timestamp {
    public static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return format(seconds: Int(spec.tv_sec), microseconds: Int(spec.tv_nsec / 1000))
    }

    public static func format(seconds: Int, microseconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let s = String(value)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let micro = String(microseconds)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + String(repeating: "0", count: 6 - micro.count) + micro + "Z"
    }

    /// Whether `text` looks like an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`).
    public static func isValid(_ text: String) -> Bool {
        let b = Array(text.utf8)
        func digits(_ range: Range<Int>) -> Bool {
            range.upperBound <= b.count && range.allSatisfy { b[$0] >= 0x30 && b[$0] <= 0x39 }
        }
        guard b.count >= 20, digits(0..<4), b[4] == 0x2D, digits(5..<7), b[7] == 0x2D, digits(8..<10),
            b[10] == 0x54 || b[10] == 0x74 || b[10] == 0x20, digits(11..<13), b[13] == 0x3A, digits(14..<16),
            b[16] == 0x3A, digits(17..<19)
        else { return false }
        var i = 19
        if b[i] == 0x2E {
            i += 1
            let start = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            if i == start { return false }
        }
        guard i < b.count else { return false }
        if b[i] == 0x5A || b[i] == 0x7A { return i + 1 == b.count }
        guard b[i] == 0x2B || b[i] == 0x2D else { return false }
        return b.count == i + 6 && digits(i + 1..<i + 3) && b[i + 3] == 0x3A && digits(i + 4..<i + 6)
    }
}
