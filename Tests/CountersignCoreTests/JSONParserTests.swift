import CountersignCore
import Foundation
import Testing

@Suite("JSON parser")
struct JSONParserTests {
    @Test(
        "refuses what RFC 8259 refuses",
        arguments: [
            "", " ", "{", "[1,]", "{\"a\":1,}", "[01]", "-", "1.", ".5", "1e", "+1", "NaN", "Infinity", "[1 2]",
            "{\"a\" 1}", "{1:2}", "'a'", "\"\\x41\"", "\"\\ud80\"", "\"a\u{01}b\"", "tru", "nul",
            "[1]x", "\"unterminated", "1e400", "/* c */ 1",
            String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
        ])
    func refuses(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    /// Node-based agents cut strings inside surrogate pairs and emit the halves as escapes: the payload is
    /// still read (the half becomes U+FFFD), so the tool's output is recorded and labelled.
    @Test(
        "lone surrogate escapes become U+FFFD",
        arguments: [
            (#""\ud800""#, "\u{FFFD}"), (#""\udfff""#, "\u{FFFD}"), (#""a\ud83d""#, "a\u{FFFD}"),
            (#""\udc00x""#, "\u{FFFD}x"), (#""\ud83d\u0041""#, "\u{FFFD}A"), (#""\ud83d\ud83d\ude00""#, "\u{FFFD}😀"),
            (#""\ud83d\""#, "?"),
        ])
    func loneSurrogates(text: String, expected: String) throws {
        if expected == "?" {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
        } else {
            #expect(try JSONValue.parse(text) == .string(expected))
        }
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Data([0x22, 0xC3, 0x28, 0x22])) }
    }

    @Test func parsesEveryKind() throws {
        let value = try JSONValue.parse(
            #" {"s":"a\"b\\c\/\n\u00e9\ud83d\ude00","i":-42,"z":0,"d":-1.5e-3,"big":18446744073709551615,"t":true,"f":false,"n":null,"a":[[],{}]} "#
        )
        #expect(value["s"] == .string("a\"b\\c/\né😀"))
        #expect(value["i"] == .int(-42))
        #expect(value["z"] == .int(0))
        #expect(value["d"] == .double(-0.0015))
        #expect(value["big"] == .double(18446744073709551615.0))
        #expect(value["t"] == .bool(true) && value["f"] == .bool(false) && value["n"] == .null)
        #expect(value["a"] == .array([.array([]), .object([:])]))
    }

    @Test func agreesWithFoundationOnValidDocuments() throws {
        let documents = [
            #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"path":"/a b","n":[1,2.5,true,null]}}}"#,
            #"[{"k":"\u2028\u2029"},"x",-0.0,1E+2]"#,
        ]
        for text in documents {
            let ours = try JSONValue.parse(text)
            let theirs = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
            let reencoded = try JSONSerialization.data(
                withJSONObject: theirs, options: [.sortedKeys, .fragmentsAllowed])
            #expect(
                CanonicalJSON.string(ours)
                    == CanonicalJSON.string(try JSONDecoder().decode(JSONValue.self, from: reencoded)))
        }
    }

    @Test func roundTripsCanonicalText() throws {
        let value: JSONValue = ["x": [1, 2.5, "é\n", nil, true], "y": ["z": -3]]
        #expect(try JSONValue.parse(CanonicalJSON.string(value)) == value)
    }
}
