/// RFC 8785 (JCS) canonical JSON: object keys sorted by UTF-16 code units, no insignificant
/// whitespace, minimal string escapes, and numbers in ECMAScript `Number.prototype.toString` form.
///
/// Hashes of envelopes and receipts are taken over these bytes, so any implementation of JCS in
/// any language reproduces them.
public enum CanonicalJSON {
    public static func string(_ value: JSONValue) -> String {
        var out = ""
        out.reserveCapacity(256)
        write(value, into: &out)
        return out
    }

    public static func bytes(_ value: JSONValue) -> [UInt8] {
        Array(string(value).utf8)
    }

    public static func write(_ value: JSONValue, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += formatInteger(i)
        case .double(let d): out += ECMAScriptNumber.format(d)
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                write(item, into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, key) in sortedKeys(members).enumerated() {
                if index > 0 { out += "," }
                writeString(key, into: &out)
                out += ":"
                write(members[key]!, into: &out)
            }
            out += "}"
        }
    }

    /// Keys in JCS order: lexicographic by UTF-16 code units.
    public static func sortedKeys(_ members: [String: JSONValue]) -> [String] {
        members.keys.sorted(by: utf16Precedes)
    }

    /// UTF-16 order. UTF-8 byte order is code point order, which differs from UTF-16 order only between
    /// supplementary characters and U+E000–U+FFFF (UTF-8 lead bytes 0xEE and above), so most keys
    /// compare as bytes.
    public static func utf16Precedes(_ a: String, _ b: String) -> Bool {
        var a = a
        var b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let n = min(x.count, y.count)
                var i = 0
                while i < n && x[i] == y[i] { i += 1 }
                if i == n { return x.count < y.count }
                // The shared prefix ends on a character boundary in both, or inside one shared character.
                let (p, q) = (x[i], y[i])
                if p >= 0xF0 && (0xEE...0xEF).contains(q) { return true }  // surrogates sort below U+E000
                if q >= 0xF0 && (0xEE...0xEF).contains(p) { return false }
                return p < q
            }
        }
    }

    static func formatInteger(_ i: Int64) -> String {
        // Integers beyond 2^53 are not exact IEEE doubles; JCS prints what a double would hold.
        if i.magnitude > (1 << 53) { return ECMAScriptNumber.format(Double(i)) }
        return String(i)
    }

    public static func writeString(_ s: String, into out: inout String) {
        out += "\""
        var needsEscape = false
        for byte in s.utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C {
            needsEscape = true
            break
        }
        if !needsEscape {
            out += s
        } else {
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if scalar.value < 0x20 {
                        let hex = String(scalar.value, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
        }
        out += "\""
    }
}

/// ECMAScript's Number-to-String conversion (ECMA-262 §6.1.6.1.20), built on Swift's shortest
/// round-trip digits.
public enum ECMAScriptNumber {
    public static func format(_ d: Double) -> String {
        guard d.isFinite else { return "null" }  // JSON has no NaN or Infinity.
        if d == 0 { return "0" }
        let negative = d < 0
        let (digits, n) = shortestDigits(abs(d))
        let k = digits.count
        var out = negative ? "-" : ""
        if k <= n && n <= 21 {
            out += digits + String(repeating: "0", count: n - k)
        } else if 0 < n && n <= 21 {
            let split = digits.index(digits.startIndex, offsetBy: n)
            out += digits[..<split] + "." + digits[split...]
        } else if -6 < n && n <= 0 {
            out += "0." + String(repeating: "0", count: -n) + digits
        } else {
            let e = n - 1
            let sign = e < 0 ? "-" : "+"
            if k == 1 {
                out += digits + "e" + sign + String(abs(e))
            } else {
                out += String(digits.first!) + "." + digits.dropFirst() + "e" + sign + String(abs(e))
            }
        }
        return out
    }

    /// The shortest decimal digits `s` (no leading or trailing zeros) and exponent `n` with
    /// value = 0.s × 10^n, i.e. the ECMAScript (k, n) pair.
    static func shortestDigits(_ d: Double) -> (String, Int) {
        let text = "\(d)"  // Swift prints the shortest round-trip representation.
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        var intPart = mantissa
        var fracPart: Substring = ""
        if let dot = mantissa.firstIndex(of: ".") {
            intPart = mantissa[..<dot]
            fracPart = mantissa[mantissa.index(after: dot)...]
        }
        var all = String(intPart) + fracPart
        var pointPosition = intPart.count + exponent
        while all.hasPrefix("0") && all.count > 1 {
            all.removeFirst()
            pointPosition -= 1
        }
        while all.hasSuffix("0") && all.count > 1 { all.removeLast() }
        return (all, pointPosition)
    }
}
