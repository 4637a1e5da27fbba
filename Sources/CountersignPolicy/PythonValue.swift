import CountersignCore
import Yams

/// DualKey's value semantics: Python equality and the "leaf strings" its `arg_*` matchers compare.
enum PythonValue {
    /// Python `==` over JSON values (`True == 1`, `1 == 1.0`).
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.string(let x), .string(let y)): return ByteSearch.equal(x, y)
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { key, value in y[key].map { equal(value, $0) } ?? false }
        default:
            if let x = number(a), let y = number(b) { return x == y }
            return false
        }
    }

    private static func number(_ v: JSONValue) -> Double? {
        switch v {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// Whether `body` holds for any leaf string: scalars as Python `str()`, lists flattened,
    /// mappings as their YAML dump with sorted keys.
    static func anyLeaf(_ value: JSONValue, _ body: (String) -> Bool) -> Bool {
        switch value {
        case .string(let s): return body(s)
        case .array(let items): return items.contains { anyLeaf($0, body) }
        case .object: return body(yamlDump(value))
        default: return body(PythonText.str(value))
        }
    }

    /// `yaml.safe_dump(value, sort_keys=True).strip()`.
    static func yamlDump(_ value: JSONValue) -> String {
        let text = (try? Yams.serialize(node: node(value), sortKeys: true)) ?? CanonicalJSON.string(value)
        return text.trimmingCharacters(in: " \n\t\r")
    }

    private static func node(_ value: JSONValue) -> Node {
        switch value {
        case .null: return Node("null", Tag(.null))
        case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
        case .int(let i): return Node(String(i), Tag(.int))
        case .double(let d): return Node(PythonText.float(d), Tag(.float))
        case .string(let s): return Node(s, Tag(.str))
        case .array(let items): return Node(items.map(node))
        case .object(let members): return Node(members.keys.sorted().map { (Node($0), node(members[$0]!)) })
        }
    }

    /// DualKey's `_stringify_value`: strings as they are, anything else as its YAML dump.
    static func stringify(_ value: JSONValue) -> String {
        if case .string(let s) = value { return s }
        return yamlDump(value)
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var slice = Substring(self)
        while let f = slice.first, chars.contains(f) { slice = slice.dropFirst() }
        while let l = slice.last, chars.contains(l) { slice = slice.dropLast() }
        return String(slice)
    }
}
