import CountersignCore
import Testing

@Suite("RFC 8785 canonical JSON")
struct CanonicalJSONTests {
    @Test(
        "numbers print as ECMAScript does",
        arguments: [
            (0.0, "0"), (-0.0, "0"), (1.0, "1"), (4.5, "4.5"), (0.002, "0.002"), (0.000001, "0.000001"),
            (1e-7, "1e-7"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (-1.5e-9, "-1.5e-9"), (333333333.33333329, "333333333.3333333"), (9007199254740993.0, "9007199254740992"),
            (Double.leastNonzeroMagnitude, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"), (0.1, "0.1"),
            (100.0, "100"),
        ])
    func numbers(value: Double, expected: String) {
        #expect(ECMAScriptNumber.format(value) == expected)
    }

    @Test func integersBeyondDoublePrecisionPrintAsDoubles() {
        #expect(CanonicalJSON.string(.int(9_007_199_254_740_993)) == "9007199254740992")
        #expect(CanonicalJSON.string(.int(-42)) == "-42")
    }

    @Test func nonFiniteNumbersBecomeNull() {
        #expect(CanonicalJSON.string(.double(.infinity)) == "null")
        #expect(CanonicalJSON.string(.double(.nan)) == "null")
    }

    @Test("keys sort by UTF-16 code units (RFC 8785 §3.2.3 example)")
    func keyOrder() {
        let object: JSONValue = .object([
            "\u{20ac}": "Euro Sign", "\r": "Carriage Return", "\u{fb33}": "Hebrew Letter Dalet With Dagesh", "1": "One",
            "\u{1F600}": "Emoji: Grinning Face", "\u{0080}": "Control",
            "\u{00f6}": "Latin Small Letter O With Diaeresis",
        ])
        let keys = CanonicalJSON.sortedKeys(object.objectValue!)
        #expect(keys == ["\r", "1", "\u{0080}", "\u{00f6}", "\u{20ac}", "\u{1F600}", "\u{fb33}"])
    }

    @Test func stringEscapes() {
        #expect(CanonicalJSON.string("a\"b\\c\n\t\u{01}\u{1F}é€😀") == "\"a\\\"b\\\\c\\n\\t\\u0001\\u001fé€😀\"")
        #expect(CanonicalJSON.string("/") == "\"/\"")
    }

    @Test func nestedStructure() {
        let value: JSONValue = ["b": [1, 2.5, true, nil], "a": ["z": "y", "c": .object([:])]]
        #expect(CanonicalJSON.string(value) == #"{"a":{"c":{},"z":"y"},"b":[1,2.5,true,null]}"#)
    }

    @Test func parsesAndReencodes() throws {
        let value = try JSONValue.parse(#"{"n": 1, "f": 1.50, "big": 18446744073709551615, "s": "x", "l": [false]}"#)
        #expect(value["n"] == .int(1))
        #expect(value["f"] == .double(1.5))
        #expect(value["big"]?.numberValue == 18446744073709551615.0)
        #expect(CanonicalJSON.string(value) == #"{"big":18446744073709552000,"f":1.5,"l":[false],"n":1,"s":"x"}"#)
    }

    @Test(
        "malformed JSON is an error, never a crash",
        arguments: ["", "{", "[1,", "{\"a\" 1}", "nul", "\"\\u12\"", String(repeating: "[", count: 10_000)])
    func malformed(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }
}

@Suite struct UTF16KeyOrderTests {
    @Test func matchesUTF16OrderOnEveryPair() {
        let keys = [
            "", "a", "ab", "b", "é", "\u{E000}", "\u{FFFD}", "😀", "a😀", "a\u{E000}", "\u{FF61}x", "𝒜", "z", "\u{7F}",
        ]
        for a in keys {
            for b in keys {
                #expect(
                    CanonicalJSON.utf16Precedes(a, b) == a.utf16.lexicographicallyPrecedes(b.utf16),
                    "\(a.unicodeScalars.map(\.value)) vs \(b.unicodeScalars.map(\.value))")
            }
        }
    }
}
