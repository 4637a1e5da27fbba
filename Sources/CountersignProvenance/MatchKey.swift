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
            // `%XX`, and the `&#…;` and `\xHH`/`\uHHHH` escapes an agent can be told to use instead.
            if byte == UInt8(ascii: "%") || byte == UInt8(ascii: "&") || byte == UInt8(ascii: "\\") {
                hasPercent = true
            }
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

    /// The runs of letters and digits of `text` in match-key form (decoded, NFKC, case-folded), in order:
    /// `runs(of: t).joined() == of(t)`. Sealed secrets are compared against windows of consecutive runs.
    public static func runs(of text: String) -> [String] {
        var source = text
        if text.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "\\") })
        {
            source = percentDecoded(source)
        }
        let folded =
            source.utf8.allSatisfy({ $0 < 0x80 })
            ? source.lowercased() : source.precomposedStringWithCompatibilityMapping.lowercased()
        var runs: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in folded.unicodeScalars {
            if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                current.append(scalar)
            } else if !current.isEmpty {
                runs.append(String(current))
                current = String.UnicodeScalarView()
            }
        }
        if !current.isEmpty { runs.append(String(current)) }
        return runs
    }

    /// `%XX` sequences, HTML character references (`&#115;`, `&#x73;`) and `\xHH` / `\uHHHH` escapes
    /// decoded, repeatedly (a value encoded several times) until nothing changes, at most eight rounds;
    /// invalid UTF-8 left as it was.
    static func percentDecoded(_ text: String) -> String {
        var current = text
        for _ in 0..<8 {
            var next = current
            if next.contains("%"), let decoded = decodeOnce(next) { next = decoded }
            if next.contains("&#") || next.contains("\\x") || next.contains("\\u") { next = decodeEscapes(next) }
            if next == current { break }
            current = next
        }
        return current
    }

    /// `&#NNN;`, `&#xHH;`, `\xHH` and `\uHHHH` replaced by the characters they stand for.
    static func decodeEscapes(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        func number(_ from: Int, radix: Int, maxDigits: Int, terminator: Unicode.Scalar?) -> (UInt32, Int)? {
            var j = from
            var digits = ""
            while j < scalars.count, digits.count < maxDigits, scalars[j].properties.isASCIIHexDigit,
                radix == 16 || ("0"..."9").contains(scalars[j])
            {
                digits.unicodeScalars.append(scalars[j])
                j += 1
            }
            guard !digits.isEmpty, let value = UInt32(digits, radix: radix) else { return nil }
            if let terminator {
                guard j < scalars.count, scalars[j] == terminator else { return nil }
                j += 1
            }
            return (value, j)
        }
        while i < scalars.count {
            let c = scalars[i]
            var decoded: (UInt32, Int)?
            if c == "&", i + 2 < scalars.count, scalars[i + 1] == "#" {
                decoded =
                    (scalars[i + 2] == "x" || scalars[i + 2] == "X")
                    ? number(i + 3, radix: 16, maxDigits: 6, terminator: ";")
                    : number(i + 2, radix: 10, maxDigits: 7, terminator: ";")
            } else if c == "\\", i + 1 < scalars.count, scalars[i + 1] == "x" {
                decoded = number(i + 2, radix: 16, maxDigits: 2, terminator: nil)
            } else if c == "\\", i + 1 < scalars.count, scalars[i + 1] == "u" {
                decoded = number(i + 2, radix: 16, maxDigits: 4, terminator: nil)
            }
            if let (value, end) = decoded, let scalar = Unicode.Scalar(value) {
                out.append(scalar)
                i = end
            } else {
                out.append(c)
                i += 1
            }
        }
        return String(out)
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
