/// Makes untrusted text safe to show a human: terminal escapes and other control characters become
/// visible escapes (`\x1b`), and invisible or direction-changing Unicode becomes `<U+200B>`.
///
/// A second key is only worth something if the reviewer sees what will really run.
public enum TerminalSafe {
    public static func neutralise(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let v = scalar.value
            if v == 0x0A || v == 0x09 {
                out.unicodeScalars.append(scalar)
            } else if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) {
                out += "\\x" + hex(v, 2)
            } else if isInvisible(v) {
                out += "<U+" + hex(v, 4).uppercased() + ">"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Whether the text holds anything `neutralise` would change.
    public static func isSuspicious(_ text: String) -> Bool {
        text.unicodeScalars.contains { s in
            let v = s.value
            return (v < 0x20 && v != 0x0A && v != 0x09) || v == 0x7F || (0x80...0x9F).contains(v) || isInvisible(v)
        }
    }

    static func isInvisible(_ v: UInt32) -> Bool {
        switch v {
        case 0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0: return true
        case 0x200B...0x200F, 0x202A...0x202E, 0x2060...0x206F, 0xFE00...0xFE0F, 0xFFF9...0xFFFB: return true
        case 0xE0000...0xE007F, 0xE0100...0xE01EF: return true
        default: return false
        }
    }

    private static func hex(_ v: UInt32, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
