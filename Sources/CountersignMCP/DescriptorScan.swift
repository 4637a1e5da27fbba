import CountersignCore

/// Looks for what a tool, resource or prompt descriptor should never carry: instructions aimed at the
/// model, terminal escapes, and invisible Unicode (zero-width, bidirectional controls, tag characters).
public enum DescriptorScan {
    /// Phrases of hidden instructions (tool poisoning), matched case-insensitively in every string.
    static let instructionPhrases = [
        "ignore previous", "ignore all previous", "ignore the above", "disregard previous", "system prompt",
        "developer message", "do not tell", "don't tell", "do not mention", "don't mention", "without telling",
        "<important>", "</important>", "<system>", "<instructions>", "exfiltrat", "before using this tool",
        "before calling this tool", "instead of the user", "~/.ssh", "id_rsa", "send the contents", "upload the",
    ]

    /// Every finding in `descriptor`, as short sentences (no descriptor text is quoted).
    public static func findings(_ descriptor: JSONValue) -> [String] {
        var found: Set<String> = []
        descriptor.forEachString { text in
            let lower = text.lowercased()
            for phrase in instructionPhrases where lower.contains(phrase) {
                found.insert("hidden instructions (\"\(phrase)\")")
            }
            for scalar in text.unicodeScalars {
                if let kind = hiddenKind(scalar) { found.insert(kind) }
            }
        }
        if case .object(let object) = descriptor {
            for key in object.keys {
                for scalar in key.unicodeScalars where hiddenKind(scalar) != nil {
                    found.insert("invisible characters in a key")
                }
            }
        }
        return found.sorted()
    }

    static func hiddenKind(_ scalar: Unicode.Scalar) -> String? {
        switch scalar.value {
        case 0x1B, 0x9B: return "terminal escape sequences"
        case 0x00...0x08, 0x0B, 0x0C, 0x0E...0x1A, 0x1C...0x1F, 0x7F, 0x80...0x9A, 0x9C...0x9F:
            return "control characters"
        case 0x200B...0x200F, 0x2060...0x2064, 0xFEFF, 0x180E, 0x00AD: return "invisible characters"
        case 0x202A...0x202E, 0x2066...0x2069: return "bidirectional text controls"
        case 0xE0000...0xE007F: return "invisible tag characters"
        default: return nil
        }
    }
}
