/// Python's `str()` and `repr()` of JSON values.
///
/// DualKey matches and explains with Python's text forms (`True`, `None`, `5`, `1.5`, `['a']`),
/// so a DualKey policy decides the same only if Countersign renders values the same way.
public enum PythonText {
    /// `str(value)` as Python prints it.
    public static func str(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): return s
        default: return repr(value)
        }
    }

    /// `repr(value)` as Python prints it (dict keys in sorted order).
    public static func repr(_ value: JSONValue) -> String {
        switch value {
        case .null: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return float(d)
        case .string(let s): return repr(s)
        case .array(let items): return "[" + items.map(repr).joined(separator: ", ") + "]"
        case .object(let members):
            return "{" + members.keys.sorted().map { repr($0) + ": " + repr(members[$0]!) }.joined(separator: ", ")
                + "}"
        }
    }

    /// `repr(float)`: shortest round-trip digits, fixed notation for exponents in [-4, 16).
    public static func float(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        let (digits, n) = ECMAScriptNumber.shortestDigits(abs(d))
        let sign = d < 0 ? "-" : ""
        let exponent = n - 1
        if exponent >= -4 && exponent < 16 {
            if n <= 0 { return sign + "0." + String(repeating: "0", count: -n) + digits }
            if n >= digits.count { return sign + digits + String(repeating: "0", count: n - digits.count) + ".0" }
            let split = digits.index(digits.startIndex, offsetBy: n)
            return sign + digits[..<split] + "." + digits[split...]
        }
        let mantissa = digits.count == 1 ? digits : String(digits.first!) + "." + digits.dropFirst()
        let e = String(abs(exponent))
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (e.count < 2 ? "0" + e : e)
    }

    /// `repr(str)`: single quotes unless the text holds a single quote and no double quote.
    public static func repr(_ s: String) -> String {
        let quote: Character = (s.contains("'") && !s.contains("\"")) ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + hex(scalar.value, width: 2)
                } else if (0x80...0xA0).contains(scalar.value) || scalar.properties.generalCategory == .format
                    || scalar.properties.generalCategory == .lineSeparator
                    || scalar.properties.generalCategory == .paragraphSeparator
                {
                    out +=
                        scalar.value <= 0xFF ? "\\x" + hex(scalar.value, width: 2) : "\\u" + hex(scalar.value, width: 4)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append(quote)
        return out
    }

    /// A list of strings as Python prints it: `['a', 'b']`.
    public static func repr(_ list: [String]) -> String {
        "[" + list.map { repr($0) }.joined(separator: ", ") + "]"
    }

    private static func hex(_ value: UInt32, width: Int) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
