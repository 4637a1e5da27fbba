import CountersignCore
import Foundation

/// The right edge of an RFC 6962 tree: the roots of its perfect subtrees, largest first. Enough to append
/// a leaf and to compute the root, in O(log n) space — what a short-lived writer (a hook process) needs
/// to checkpoint without reading the whole ledger.
public struct MerkleFrontier: Sendable, Hashable {
    public private(set) var size = 0
    public private(set) var nodes: [[UInt8]] = []

    public init() {}

    init(size: Int, nodes: [[UInt8]]) {
        self.size = size
        self.nodes = nodes
    }

    /// The frontier of a tree's first `size` leaves (default: all).
    public init(tree: MerkleTree, size treeSize: Int? = nil) throws(MerkleError) {
        var start = 0
        var remaining = treeSize ?? tree.size
        while remaining > 0 {
            var width = 1
            while width << 1 <= remaining { width <<= 1 }
            nodes.append(try tree.subtreeRoot(start: start, count: width))
            start += width
            remaining -= width
        }
        size = treeSize ?? tree.size
    }

    public mutating func append(leafHash: [UInt8]) {
        nodes.append(leafHash)
        var index = size
        // Each trailing 1 bit of the old size is a perfect subtree the new leaf completes.
        while index & 1 == 1 {
            let right = nodes.removeLast()
            let left = nodes.removeLast()
            nodes.append(Merkle.nodeHash(left, right))
            index >>= 1
        }
        size += 1
    }

    /// RFC 6962 MTH of the whole tree: the subtree roots folded from the right.
    public var root: [UInt8] {
        guard var result = nodes.last else { return Merkle.emptyRoot }
        for node in nodes.dropLast().reversed() { result = Merkle.nodeHash(node, result) }
        return result
    }

    /// A well-formed frontier has one node per 1 bit of its size.
    var isWellFormed: Bool { size >= 0 && nodes.count == size.nonzeroBitCount && nodes.allSatisfy { $0.count == 32 } }
}

/// What a writer keeps beside the ledger between processes (`<ledger>.frontier`): the frontier of the
/// tree its last checkpoint signed, and the leaf hash of the receipt it ends with. The hash chain makes
/// that receipt's hash stand for every receipt before it, so a writer can tell cheaply whether the ledger
/// still extends what it checkpointed. Not evidence: a missing or stale file is rebuilt from the ledger.
struct FrontierFile {
    var origin: String
    var lastLeaf: [UInt8]
    var frontier: MerkleFrontier

    static func path(forLedger ledger: String) -> String { ledger + ".frontier" }

    static func read(_ path: String) -> FrontierFile? {
        guard let data = FileManager.default.contents(atPath: path), let json = try? JSONValue.parse(data),
            let origin = json["origin"]?.stringValue,
            let lastLeaf = json["last_leaf"]?.stringValue.flatMap(Hex.decode).map({ Array($0) }),
            case .int(let size)? = json["size"], let hexes = json["nodes"]?.arrayValue
        else { return nil }
        let nodes = hexes.compactMap { $0.stringValue.flatMap(Hex.decode).map { Array($0) } }
        let frontier = MerkleFrontier(size: Int(size), nodes: nodes)
        guard nodes.count == hexes.count, frontier.isWellFormed, size > 0, lastLeaf.count == 32 else { return nil }
        return FrontierFile(origin: origin, lastLeaf: lastLeaf, frontier: frontier)
    }

    func write(_ path: String) throws {
        let json: JSONValue = .object([
            "origin": .string(origin), "last_leaf": .string(Digest.hex(lastLeaf)), "size": .int(Int64(frontier.size)),
            "nodes": .array(frontier.nodes.map { .string(Digest.hex($0)) }),
        ])
        try Checkpointer.writeAtomically(CanonicalJSON.string(json) + "\n", to: path)
    }
}
