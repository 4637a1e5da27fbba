import Foundation

/// The form in which values are remembered and compared, so that re-spelling a value does not wash its
/// labels out.
///
/// Both sides — what a tool returned and what an action's argument says — are reduced the same way:
/// percent-decoded (`%61ttacker%40evil.example`), NFKC-normalised (fullwidth and other compatibility
/// look-alikes become their plain forms), case-folded, and stripped of everything that is not a letter or a
/// digit (inserted whitespace, zero-width characters, changed punctuation). What stays out of reach —
/// base64 or other encodings, translation, paraphrase — is listed in docs/policy-language.md.
public enum MatchKey {
    /// The key of `text`. ASCII text without `%` takes a fast path (no Foundation normalisation).
    public static func of(_ text: String) -> String {
        var ascii = true
        var hasPercent = false
        for byte in text.utf8 {
            if byte >= 0x80 { ascii = false }
            if byte == UInt8(ascii: "%") { hasPercent = true }
        }
        var source = text
        if hasPercent { source = percentDecoded(source) }
        if ascii && !hasPercent {
            var out: [UInt8] = []
            out.reserveCapacity(text.utf8.count)
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): out.append(byte)
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): out.append(byte + 32)
                default: break
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
        let folded = source.precomposedStringWithCompatibilityMapping.lowercased()
        var scalars = String.UnicodeScalarView()
        for scalar in folded.unicodeScalars where scalar.properties.isAlphabetic || scalar.properties.numericType != nil
        {
            scalars.append(scalar)
        }
        return String(scalars)
    }

    /// `%XX` sequences decoded (twice, for a value encoded twice); invalid UTF-8 left as it was.
    static func percentDecoded(_ text: String) -> String {
        var current = text
        for _ in 0..<2 {
            guard current.contains("%"), let decoded = decodeOnce(current), decoded != current else { break }
            current = decoded
        }
        return current
    }

    private static func decodeOnce(_ text: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        let source = Array(text.utf8)
        var i = 0
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - 48
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - 87
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - 55
            default: return nil
            }
        }
        while i < source.count {
            if source[i] == UInt8(ascii: "%"), i + 2 < source.count, let h = hex(source[i + 1]),
                let l = hex(source[i + 2])
            {
                bytes.append(h << 4 | l)
                i += 3
            } else {
                bytes.append(source[i])
                i += 1
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
