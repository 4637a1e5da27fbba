import Crypto
import Foundation

/// RFC 6962 §2.1 Merkle tree hashing (the same tree as RFC 9162 §2.1): a leaf hash is
/// `SHA-256(0x00 ‖ data)`, an interior node `SHA-256(0x01 ‖ left ‖ right)`, and a tree of `n > 1`
/// leaves splits at `k`, the largest power of two smaller than `n`. Hashes are 32-byte arrays.
public enum Merkle {
    public static let hashSize = 32

    /// The root of the empty tree: SHA-256 of nothing.
    public static let emptyRoot: [UInt8] = Array(SHA256.hash(data: [UInt8]()))

    public static func leafHash(_ data: some DataProtocol) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: data)
        return Array(hasher.finalize())
    }

    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The leaf hash of a receipt: its `hash` field (`sha256:` + 64 hex) as 32 raw bytes, hashed as a leaf.
    public static func receiptLeaf(_ receiptHash: String) -> [UInt8]? {
        guard receiptHash.hasPrefix("sha256:"), let raw = Hex.decode(String(receiptHash.dropFirst(7))),
            raw.count == hashSize
        else { return nil }
        return leafHash(raw)
    }

    /// The largest power of two strictly smaller than `n` (`n >= 2`).
    static func split(_ n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// RFC 9162 §2.1.3.2: verifies that `leafHash` is leaf `index` of the tree of `size` leaves with `root`.
    public static func verifyInclusion(
        leafHash: [UInt8], index: Int, size: Int, proof: [[UInt8]], root: [UInt8]
    ) -> Bool {
        guard index >= 0, index < size, proof.allSatisfy({ $0.count == hashSize }) else { return false }
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in proof {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// RFC 9162 §2.1.4.2: verifies that the tree of `oldSize` leaves with `oldRoot` is a prefix of the tree
    /// of `newSize` leaves with `newRoot`. Equal sizes need an empty proof and equal roots; an old size of
    /// zero needs an empty proof (every tree extends the empty one).
    public static func verifyConsistency(
        oldSize: Int, newSize: Int, oldRoot: [UInt8], newRoot: [UInt8], proof: [[UInt8]]
    ) -> Bool {
        guard oldSize >= 0, oldSize <= newSize, proof.allSatisfy({ $0.count == hashSize }) else { return false }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        if oldSize == 0 { return proof.isEmpty }
        guard !proof.isEmpty else { return false }
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == oldRoot && sr == newRoot && sn == 0
    }
}

/// An append-only RFC 6962 tree held in memory as the hashes of its complete subtrees, level by level
/// (leaves, pairs, fours, …): appending costs one leaf hash plus one node hash per completed subtree
/// (amortised two hashes), and the root or any proof for any size up to the current one takes
/// O(log² n) node hashes. Memory: about 64 bytes per leaf.
public struct MerkleTree: Sendable {
    /// `levels[h]` holds the hashes of the complete subtrees of 2^h leaves, 32 bytes each, left to right.
    private var levels: [[UInt8]] = [[]]
    public private(set) var size = 0

    public init() {}

    public init(leafHashes: [[UInt8]]) {
        for leaf in leafHashes { append(leafHash: leaf) }
    }

    public mutating func append(leafHash: [UInt8]) {
        precondition(leafHash.count == Merkle.hashSize, "a leaf hash is 32 bytes")
        levels[0] += leafHash
        var index = size
        var level = 0
        size += 1
        // Each odd index completes a subtree one level up.
        while index & 1 == 1 {
            let left = node(level, index - 1)
            let right = node(level, index)
            if levels.count == level + 1 { levels.append([]) }
            levels[level + 1] += Merkle.nodeHash(left, right)
            index >>= 1
            level += 1
        }
    }

    private func node(_ level: Int, _ index: Int) -> [UInt8] {
        let start = index * Merkle.hashSize
        return Array(levels[level][start..<(start + Merkle.hashSize)])
    }

    /// The hash of leaf `index` (as appended).
    public func leafHash(at index: Int) -> [UInt8] { node(0, index) }

    /// MTH(D[start:start+count]) for a range that RFC 6962's recursion can produce.
    private func subtreeHash(_ start: Int, _ count: Int) -> [UInt8] {
        if count == 0 { return Merkle.emptyRoot }
        if count & (count - 1) == 0 && start % count == 0 {
            return node(count.trailingZeroBitCount, start / count)
        }
        let k = Merkle.split(count)
        return Merkle.nodeHash(subtreeHash(start, k), subtreeHash(start + k, count - k))
    }

    /// MTH of the leaves `start ..< start + count` (a perfect subtree when `count` is a power of two
    /// dividing `start`, as frontiers use).
    public func subtreeRoot(start: Int, count: Int) throws(MerkleError) -> [UInt8] {
        guard start >= 0, count >= 0, start + count <= size else {
            throw MerkleError("leaves \(start)..<\(start + count) are beyond the \(size) held")
        }
        return subtreeHash(start, count)
    }

    /// The root of the tree's first `treeSize` leaves (default: all of them).
    public func root(size treeSize: Int? = nil) throws(MerkleError) -> [UInt8] {
        let n = treeSize ?? size
        guard n >= 0, n <= size else { throw MerkleError("tree size \(n) is beyond the \(size) leaves held") }
        return subtreeHash(0, n)
    }

    /// RFC 6962 §2.1.1 PATH(index, D[treeSize]).
    public func inclusionProof(index: Int, size treeSize: Int) throws(MerkleError) -> [[UInt8]] {
        guard treeSize <= size else { throw MerkleError("tree size \(treeSize) is beyond the \(size) leaves held") }
        guard index >= 0, index < treeSize else {
            throw MerkleError("leaf \(index) is not in a tree of \(treeSize) leaves")
        }
        var proof: [[UInt8]] = []
        func path(_ m: Int, _ start: Int, _ n: Int) {
            guard n > 1 else { return }
            let k = Merkle.split(n)
            if m < k {
                path(m, start, k)
                proof.append(subtreeHash(start + k, n - k))
            } else {
                path(m - k, start + k, n - k)
                proof.append(subtreeHash(start, k))
            }
        }
        path(index, 0, treeSize)
        return proof
    }

    /// RFC 6962 §2.1.2 PROOF(oldSize, D[newSize]); empty when `oldSize` is 0 or equals `newSize`.
    public func consistencyProof(from oldSize: Int, to newSize: Int) throws(MerkleError) -> [[UInt8]] {
        guard newSize <= size else { throw MerkleError("tree size \(newSize) is beyond the \(size) leaves held") }
        guard oldSize >= 0, oldSize <= newSize else {
            throw MerkleError("no consistency proof from size \(oldSize) to the smaller size \(newSize)")
        }
        guard oldSize > 0, oldSize < newSize else { return [] }
        var proof: [[UInt8]] = []
        func subproof(_ m: Int, _ start: Int, _ n: Int, _ whole: Bool) {
            if m == n {
                if !whole { proof.append(subtreeHash(start, n)) }
                return
            }
            let k = Merkle.split(n)
            if m <= k {
                subproof(m, start, k, whole)
                proof.append(subtreeHash(start + k, n - k))
            } else {
                subproof(m - k, start + k, n - k, false)
                proof.append(subtreeHash(start, k))
            }
        }
        subproof(oldSize, 0, newSize, true)
        return proof
    }
}

public struct MerkleError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
