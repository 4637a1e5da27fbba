import CountersignCore
import FuzzSupport

/// JSON parser and RFC 8785 (JCS) canonical form.
///
/// Any input either parses or throws `JSONParseError`. For what parses:
/// - the canonical form re-parses, to a value equal to the first (numbers compared as IEEE doubles, as
///   JCS does; strings and keys byte for byte);
/// - canonicalisation is idempotent: the canonical form of the re-parsed value is the same bytes;
/// - object keys come out in UTF-16 code-unit order (checked against the standard library's own UTF-16 view);
/// - every floating-point number's ECMAScript form reads back as the same double.
/// The first eight bytes, read as a double's bit pattern, also go through the ECMAScript number form.
@main
struct FuzzJSONMain {
    static func main() { runFuzzer { data, size in fuzzJSON(input(data, size)) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzJSON(input(data, size))
}

func fuzzJSON(_ bytes: UnsafeBufferPointer<UInt8>) -> CInt {
    if bytes.count >= 8 {
        var bits: UInt64 = 0
        for i in 0..<8 { bits = bits << 8 | UInt64(bytes[i]) }
        checkNumber(Double(bitPattern: bits))
    }
    let value: JSONValue
    do {
        value = try JSONValue.parse(bytes)
    } catch {
        if error.message.isEmpty { finding("a parse error without a message") }
        return 0
    }
    let canonical = CanonicalJSON.string(value)
    let reparsed: JSONValue
    do {
        reparsed = try JSONValue.parse(canonical)
    } catch {
        finding("the canonical form does not parse: \(error)\ncanonical: \(canonical)")
    }
    guard same(value, reparsed) else {
        finding("the canonical form parses to a different value\ncanonical: \(canonical)")
    }
    let again = CanonicalJSON.string(reparsed)
    guard Array(again.utf8) == Array(canonical.utf8) else {
        finding("canonicalisation is not idempotent\nfirst:  \(canonical)\nsecond: \(again)")
    }
    checkStructure(value)
    return 0
}

/// Equality as JCS sees it: numbers by their double value, strings and keys by their UTF-8 bytes.
func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.string(let x), .string(let y)): return Array(x.utf8) == Array(y.utf8)
    case (.array(let x), .array(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
    case (.object(let x), .object(let y)):
        let xs = x.keys.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
        let ys = y.keys.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
        guard xs == ys else { return false }
        return x.allSatisfy { key, value in y[key].map { same(value, $0) } ?? false }
    default:
        guard let x = a.numberValue, let y = b.numberValue else { return false }
        return x == y
    }
}

func checkStructure(_ value: JSONValue) {
    switch value {
    case .double(let d): checkNumber(d)
    case .array(let items): items.forEach(checkStructure)
    case .object(let members):
        let keys = CanonicalJSON.sortedKeys(members)
        let oracle = members.keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
        guard keys.map({ Array($0.utf16) }) == oracle.map({ Array($0.utf16) }) else {
            finding("object keys are not in UTF-16 order: \(keys.map { Array($0.utf16) })")
        }
        members.values.forEach(checkStructure)
    default: break
    }
}

func checkNumber(_ d: Double) {
    let text = ECMAScriptNumber.format(d)
    guard d.isFinite else {
        guard text == "null" else { finding("\(d) formats as \(text), not null") }
        return
    }
    guard let back = Double(text), back == d else {
        finding("\(d.bitPattern) formats as \(text), which does not read back as the same double")
    }
}
