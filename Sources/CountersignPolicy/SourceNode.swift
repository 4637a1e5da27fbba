import CountersignCore
import Yams

/// A YAML (or JSON) document as a tree that remembers where each node was written.
///
/// Scalars are typed with YAML 1.1 rules, as PyYAML's `safe_load` types them, so a DualKey policy
/// means the same here. Aliases and duplicate keys are refused: both hide what a file really says.
public struct SourceNode: Sendable {
    public indirect enum Value: Sendable {
        case null
        case bool(Bool)
        case int(Int64)
        case double(Double)
        case string(String)
        case sequence([SourceNode])
        case mapping([(key: String, keyNode: SourceNode, value: SourceNode)])
    }

    public let value: Value
    public let location: SourceLocation

    /// The largest policy or fixture file accepted (hostile input must not exhaust memory).
    public static let maximumFileSize = 8 * 1024 * 1024

    /// Parses YAML text; `nil` for an empty document.
    public static func parse(_ text: String, file: String) throws(PolicyLoadError) -> SourceNode? {
        guard text.utf8.count <= maximumFileSize else {
            throw PolicyLoadError(
                SourceLocation(file: file, line: 1, column: 1),
                "file is larger than \(maximumFileSize / 1024 / 1024) MiB", hint: "split it or remove unused content")
        }
        let root: Node?
        let parser: Parser
        do {
            parser = try Parser(yaml: text)
            root = try parser.singleRoot()
        } catch let error as YamlError {
            throw Self.describe(error, file: file)
        } catch {
            throw PolicyLoadError(SourceLocation(file: file, line: 1, column: 1), "cannot parse YAML: \(error)")
        }
        guard let root else { return nil }
        var budget = maximumNodes
        // Nodes hold their anchors weakly; the parser keeps them alive so aliases can be detected.
        return try withExtendedLifetime(parser) { () throws(PolicyLoadError) -> SourceNode in
            try convert(root, file: file, depth: 0, budget: &budget)
        }
    }

    private static func describe(_ error: YamlError, file: String) -> PolicyLoadError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let contextNote = context.map { " \($0.text)" } ?? ""
            return PolicyLoadError(
                SourceLocation(file: file, line: mark.line, column: mark.column),
                "invalid YAML: \(problem)\(contextNote)",
                hint: "check indentation, quoting and that tabs are not used for indentation")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            return PolicyLoadError(
                SourceLocation(file: file, line: context.mark.line, column: context.mark.column),
                "duplicate key \(keys) in this mapping", hint: "YAML keeps only one of the values; remove the others")
        case .reader(let problem, _, _, _):
            return PolicyLoadError(SourceLocation(file: file, line: 1, column: 1), "cannot read file: \(problem)")
        default:
            return PolicyLoadError(SourceLocation(file: file, line: 1, column: 1), "invalid YAML: \(error)")
        }
    }

    private static let maximumDepth = 64
    /// Bounds the work of converting a document, whatever it holds.
    private static let maximumNodes = 1_000_000

    private static func location(_ node: Node, _ file: String) -> SourceLocation {
        SourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    private static func convert(_ node: Node, file: String, depth: Int, budget: inout Int) throws(PolicyLoadError)
        -> SourceNode
    {
        let here = location(node, file)
        guard depth < maximumDepth else {
            throw PolicyLoadError(here, "nesting deeper than \(maximumDepth) levels")
        }
        budget -= 1
        guard budget > 0 else {
            throw PolicyLoadError(here, "document has more than \(maximumNodes) values")
        }
        // Yams expands aliases itself; an anchored node is where one would be defined. Aliases let a
        // short file expand into a huge one and hide what a rule really says, so they are refused.
        if node.anchor != nil {
            throw PolicyLoadError(
                here, "YAML anchors and aliases ('&name', '*name') are not supported",
                hint: "write the value out in full")
        }
        switch node {
        case .scalar(let scalar):
            return SourceNode(value: typed(scalar, node: node), location: here)
        case .sequence(let sequence):
            var items: [SourceNode] = []
            for item in sequence { items.append(try convert(item, file: file, depth: depth + 1, budget: &budget)) }
            return SourceNode(value: .sequence(items), location: here)
        case .mapping(let mapping):
            var pairs: [(key: String, keyNode: SourceNode, value: SourceNode)] = []
            var seen: [String: SourceLocation] = [:]
            for (key, value) in mapping {
                let keyNode = try convert(key, file: file, depth: depth + 1, budget: &budget)
                let name: String
                switch keyNode.value {
                case .string(let s): name = s
                case .int(let i): name = String(i)
                case .double(let d): name = PythonText.float(d)
                case .bool(let b): name = b ? "True" : "False"
                case .null: name = "None"
                default:
                    throw PolicyLoadError(
                        keyNode.location, "a mapping key must be a plain value, not a list or mapping")
                }
                if name == "<<" {
                    throw PolicyLoadError(
                        keyNode.location, "YAML merge keys ('<<') are not supported", hint: "write the keys out")
                }
                if let first = seen[name] {
                    throw PolicyLoadError(
                        keyNode.location, "duplicate key '\(name)' (first written at \(first.line):\(first.column))",
                        hint: "YAML keeps only the last value; remove one of them")
                }
                seen[name] = keyNode.location
                pairs.append((name, keyNode, try convert(value, file: file, depth: depth + 1, budget: &budget)))
            }
            return SourceNode(value: .mapping(pairs), location: here)
        case .alias:
            throw PolicyLoadError(here, "YAML aliases ('*name') are not supported", hint: "write the value out in full")
        }
    }

    private static func typed(_ scalar: Node.Scalar, node: Node) -> Value {
        switch node.tag.description {
        case "tag:yaml.org,2002:null": return .null
        case "tag:yaml.org,2002:bool": return node.bool.map(Value.bool) ?? .string(scalar.string)
        case "tag:yaml.org,2002:int":
            if let i = node.int { return .int(Int64(i)) }
            if let d = node.float { return .double(d) }
            return .string(scalar.string)
        case "tag:yaml.org,2002:float": return node.float.map(Value.double) ?? .string(scalar.string)
        default: return .string(scalar.string)
        }
    }

    /// The node as plain JSON (locations dropped).
    public var json: JSONValue {
        switch value {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .sequence(let items): return .array(items.map(\.json))
        case .mapping(let pairs):
            var object: [String: JSONValue] = [:]
            for pair in pairs { object[pair.key] = pair.value.json }
            return .object(object)
        }
    }

    public var typeName: String {
        switch value {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .sequence: return "list"
        case .mapping: return "mapping"
        }
    }

    public var string: String? {
        if case .string(let s) = value { return s }
        return nil
    }

    public var isNull: Bool {
        if case .null = value { return true }
        return false
    }

    public var mapping: [(key: String, keyNode: SourceNode, value: SourceNode)]? {
        if case .mapping(let pairs) = value { return pairs }
        return nil
    }

    public var sequence: [SourceNode]? {
        if case .sequence(let items) = value { return items }
        return nil
    }

    /// The value of `key` in a mapping.
    public subscript(key: String) -> SourceNode? {
        mapping?.first { $0.key == key }?.value
    }
}
