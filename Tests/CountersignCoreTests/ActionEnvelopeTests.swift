import CountersignCore
import Testing

@Suite("Action envelope")
struct ActionEnvelopeTests {
    let sample: JSONValue = [
        "actor": "claude-code", "surface": "shell", "tool": "Bash", "intent": "execute",
        "args": ["command": "git push origin main"], "risk": ["git"], "created_at": "2026-01-01T00:00:00Z",
    ]

    @Test func parsesEveryField() throws {
        let envelope = try ActionEnvelope(json: sample)
        #expect(envelope.actor == "claude-code")
        #expect(envelope.args["command"] == "git push origin main")
        #expect(envelope.risk == ["git"])
        #expect(envelope.target == nil)
        #expect(envelope.createdAt == "2026-01-01T00:00:00Z")
    }

    @Test func actionHashIgnoresCreationTimeOnly() throws {
        var a = try ActionEnvelope(json: sample)
        var b = a
        b.createdAt = "2030-05-05T05:05:05.123456Z"
        #expect(a.actionHash == b.actionHash)
        #expect(a.actionHash.hasPrefix("sha256:") && a.actionHash.count == 7 + 64)
        a.args["command"] = "git push origin dev"
        #expect(a.actionHash != b.actionHash)
    }

    @Test func actionHashIsTheSHA256OfTheCanonicalPayload() throws {
        let envelope = ActionEnvelope(
            actor: "a", surface: "s", tool: "t", intent: "i", createdAt: "2026-01-01T00:00:00Z")
        let payload =
            #"{"actor":"a","args":{},"intent":"i","labels":[],"metadata":{},"risk":[],"session_id":null,"surface":"s","target":null,"tool":"t","trace_id":null}"#
        #expect(envelope.actionHash == "sha256:" + Digest.sha256Hex(payload))
    }

    @Test(
        "refuses ambiguous envelopes",
        arguments: [
            (#"{"surface":"s","tool":"t","intent":"i"}"#, "actor"),
            (#"{"actor":5,"surface":"s","tool":"t","intent":"i"}"#, "actor"),
            (#"{"actor":"a","surface":"s","tool":"t","intent":"i","agrs":{}}"#, "agrs"),
            (#"{"actor":"a","surface":"s","tool":"t","intent":"i","args":[1]}"#, "args"),
            (#"{"actor":"a","surface":"s","tool":"t","intent":"i","risk":[1]}"#, "risk"),
            (#"{"actor":"a","surface":"s","tool":"t","intent":"i","target":{}}"#, "target"),
            (#"{"actor":"a","surface":"s","tool":"t","intent":"i","created_at":"yesterday"}"#, "created_at"),
        ])
    func refuses(json: String, field: String) throws {
        let value = try JSONValue.parse(json)
        #expect(throws: EnvelopeError.self) { try ActionEnvelope(json: value) }
        do {
            _ = try ActionEnvelope(json: value)
        } catch {
            #expect(error.field == field)
        }
    }

    @Test func aSingleRiskTagIsAOneElementList() throws {
        let envelope = try ActionEnvelope(json: [
            "actor": "a", "surface": "s", "tool": "t", "intent": "i", "risk": "payment",
        ])
        #expect(envelope.risk == ["payment"])  // DualKey splits it into characters
    }

    @Test func derivedTargetFallsBackToArgsPath() {
        var envelope = ActionEnvelope(actor: "a", surface: "s", tool: "t", intent: "i", args: ["path": 5])
        #expect(envelope.derivedTarget == "5")
        envelope.target = ""
        #expect(envelope.derivedTarget == "5")
        envelope.target = "/x"
        #expect(envelope.derivedTarget == "/x")
    }
}

@Suite("Python text forms")
struct PythonTextTests {
    @Test(arguments: [
        (JSONValue.bool(true), "True"), (.null, "None"), (.int(5), "5"), (.double(1.5), "1.5"), (.double(2), "2.0"),
        (.double(1e16), "1e+16"), (.double(1e-5), "1e-05"), (.double(0.0001), "0.0001"),
        (.array(["a", 1]), "['a', 1]"),
        (.string("it's"), "it's"),
    ])
    func str(value: JSONValue, expected: String) {
        #expect(PythonText.str(value) == expected)
    }

    @Test func reprQuotes() {
        #expect(PythonText.repr("a") == "'a'")
        #expect(PythonText.repr("it's") == "\"it's\"")
        #expect(PythonText.repr("a\nb") == "'a\\nb'")
    }
}

@Suite("Byte search and timestamps")
struct UtilityTests {
    @Test func byteSearchComparesCodePoints() {
        #expect(ByteSearch.contains("git push origin main", "push"))
        #expect(!ByteSearch.contains("git", "push"))
        #expect(ByteSearch.contains("abc", ""))
        #expect(ByteSearch.contains("aaab", "aab"))
        // Swift's == says these are equal (canonical equivalence); Python and Countersign say not.
        #expect("\u{e9}" == "e\u{301}")
        #expect(!ByteSearch.equal("\u{e9}", "e\u{301}"))
        #expect(ByteSearch.hasPrefix("/repo/docs/a", "/repo/docs/"))
    }

    @Test func timestamps() {
        let now = Timestamp.now()
        #expect(Timestamp.isValid(now))
        #expect(now.count == 27)
        #expect(Timestamp.format(seconds: 0, microseconds: 5) == "1970-01-01T00:00:00.000005Z")
        #expect(Timestamp.isValid("2026-01-01T00:00:00+02:00"))
        #expect(!Timestamp.isValid("2026-01-01"))
        #expect(!Timestamp.isValid("2026-01-01T00:00:00"))
    }

    @Test func labelRegistry() {
        var registry = LabelRegistry()
        let first = registry.declare("pii", kind: .confidentiality)
        let again = registry.declare("pii", kind: .integrity)
        #expect(first && !again)
        let set = registry.set(["untrusted", "pii", "nope"])
        #expect(registry.names(set) == ["untrusted", "pii"])
        #expect(registry.mask(.integrity) == registry.set(["untrusted", "poisoned-suspect"]))
        #expect(!LabelRegistry.isValidName("Bad Name"))
    }
}
