import CountersignCore
import Yams

/// A YAML (or JSON) document as a tree that remembers where each node was written.
///
/// Scalars are typed with YAML 1.1 rules, as PyYAML's `safe_load` types them, so a DualKey policy
/// means the same here. Anchors, aliases and merge keys work as in PyYAML, within a bound on what aliases
/// may expand to; duplicate keys are refused (YAML would silently keep one).
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
        var conversion = Conversion(file: file)
        // Nodes hold their anchors weakly; the parser keeps them alive while the tree is converted.
        return try withExtendedLifetime(parser) { () throws(PolicyLoadError) -> SourceNode in
            try conversion.convert(root, depth: 0, viaAlias: false)
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

    static let maximumDepth = 64
    /// Bounds the work of converting a document, whatever it holds.
    static let maximumNodes = 1_000_000
    /// Bounds what aliases may add: a few kilobytes of YAML can otherwise expand into billions of values
    /// ("billion laughs"). Real policies reuse a list or a mapping a handful of times.
    public static let maximumAliasExpansion = 10_000

    /// One document's conversion: the budgets and the anchors met so far.
    ///
    /// Yams resolves an alias to the anchored node itself, so the second time a node with a given anchor
    /// is reached, it is an alias use: everything under it counts against `maximumAliasExpansion`.
    /// Merge keys (`<<: *defaults`) merge like PyYAML's: explicit keys win, then earlier merged mappings.
    struct Conversion {
        let file: String
        var budget = SourceNode.maximumNodes
        var aliasBudget = SourceNode.maximumAliasExpansion
        var anchorsSeen: Set<ObjectIdentifier> = []

        init(file: String) { self.file = file }

        mutating func convert(_ node: Node, depth: Int, viaAlias: Bool) throws(PolicyLoadError) -> SourceNode {
            let here = SourceNode.location(node, file)
            guard depth < SourceNode.maximumDepth else {
                throw PolicyLoadError(here, "nesting deeper than \(SourceNode.maximumDepth) levels")
            }
            budget -= 1
            guard budget > 0 else {
                throw PolicyLoadError(here, "document has more than \(SourceNode.maximumNodes) values")
            }
            var viaAlias = viaAlias
            if let anchor = node.anchor, !anchorsSeen.insert(ObjectIdentifier(anchor)).inserted {
                viaAlias = true
            }
            if viaAlias {
                aliasBudget -= 1
                guard aliasBudget > 0 else {
                    throw PolicyLoadError(
                        here, "aliases expand to more than \(SourceNode.maximumAliasExpansion) values",
                        hint:
                            "an alias that refers to aliases multiplies its size (an alias bomb); write the values out")
                }
            }
            switch node {
            case .scalar(let scalar):
                return SourceNode(value: SourceNode.typed(scalar, node: node), location: here)
            case .sequence(let sequence):
                var items: [SourceNode] = []
                for item in sequence { items.append(try convert(item, depth: depth + 1, viaAlias: viaAlias)) }
                return SourceNode(value: .sequence(items), location: here)
            case .mapping(let mapping):
                var pairs: [(key: String, keyNode: SourceNode, value: SourceNode)] = []
                var merged: [(key: String, keyNode: SourceNode, value: SourceNode)] = []
                var seen: [String: SourceLocation] = [:]
                for (key, value) in mapping {
                    let keyNode = try convert(key, depth: depth + 1, viaAlias: viaAlias)
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
                    let converted = try convert(value, depth: depth + 1, viaAlias: viaAlias)
                    if name == "<<", key.tag.description == "tag:yaml.org,2002:merge" {
                        merged += try Self.mergeSources(converted)
                        continue
                    }
                    if let first = seen[name] {
                        throw PolicyLoadError(
                            keyNode.location,
                            "duplicate key '\(name)' (first written at \(first.line):\(first.column))",
                            hint: "YAML keeps only the last value; remove one of them")
                    }
                    seen[name] = keyNode.location
                    pairs.append((name, keyNode, converted))
                }
                for pair in merged where seen[pair.key] == nil {
                    seen[pair.key] = pair.keyNode.location
                    pairs.append(pair)
                }
                return SourceNode(value: .mapping(pairs), location: here)
            case .alias:
                throw PolicyLoadError(
                    here, "YAML alias could not be resolved", hint: "define the anchor before its use")
            }
        }

        /// The pairs a merge key brings: one mapping, or a list of mappings (earlier ones win).
        static func mergeSources(_ value: SourceNode) throws(PolicyLoadError)
            -> [(key: String, keyNode: SourceNode, value: SourceNode)]
        {
            switch value.value {
            case .mapping(let pairs): return pairs
            case .sequence(let items):
                var result: [(key: String, keyNode: SourceNode, value: SourceNode)] = []
                var keys: Set<String> = []
                for item in items {
                    guard let pairs = item.mapping else {
                        throw PolicyLoadError(item.location, "a merge key ('<<') takes a mapping or a list of mappings")
                    }
                    for pair in pairs where keys.insert(pair.key).inserted { result.append(pair) }
                }
                return result
            default:
                throw PolicyLoadError(value.location, "a merge key ('<<') takes a mapping or a list of mappings")
            }
        }
    }

    static func location(_ node: Node, _ file: String) -> SourceLocation {
        SourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    static func typed(_ scalar: Node.Scalar, node: Node) -> Value {
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
