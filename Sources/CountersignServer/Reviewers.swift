import CountersignCore
import Foundation
import Yams

/// The people who may give a second key through the server, from `--reviewers FILE`:
///
/// ```yaml
/// reviewers:
///   - {id: alice, name: Alice Martin, token_env: COUNTERSIGN_TOKEN_ALICE, groups: [sre, payments]}
/// ```
///
/// Tokens are never in the file: each lives in the environment variable the entry names.
public struct ReviewerDirectory: Sendable {
    /// Names that mean something else in receipts: automatic answers, requesters, channels.
    static let reservedIDs: Set<String> = [
        "countersign", "api-token", "unauthenticated", "timeout", "none", "tty", "web", "hook-native",
        "elicitation", "agent", "system", "root",
    ]

    static func isPlainID(_ id: String) -> Bool {
        guard let first = id.utf8.first, id.utf8.count <= 64,
            (0x61...0x7A).contains(first) || (0x30...0x39).contains(first)
        else { return false }
        return id.utf8.allSatisfy {
            (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D
        }
    }

    public struct Reviewer: Sendable, Equatable {
        public let id: String
        public let name: String
        public let groups: [String]
        let token: [UInt8]
    }

    public let reviewers: [Reviewer]

    public init(reviewers: [Reviewer] = []) { self.reviewers = reviewers }

    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads the file; every problem names the file, the entry and a hint.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> ReviewerDirectory
    {
        func fail(_ message: String) -> LoadError { LoadError(description: "\(path): \(message)") }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw fail("cannot read the reviewers file")
        }
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch { throw fail("not valid YAML: \(error)") }
        guard let top = root as? [String: Any], let entries = top["reviewers"] as? [[String: Any]] else {
            throw fail("expected a top-level 'reviewers:' list (see docs/api.md)")
        }
        var seen: Set<String> = []
        var reviewers: [Reviewer] = []
        for (index, entry) in entries.enumerated() {
            let at = "reviewers[\(index)]"
            let known: Set<String> = ["id", "name", "token_env", "groups"]
            if let unknown = entry.keys.first(where: { !known.contains($0) }) {
                throw fail("\(at): unknown key '\(unknown)' (id, name, token_env, groups)")
            }
            guard let id = entry["id"] as? String, !id.isEmpty else {
                throw fail("\(at): 'id' must be a non-empty string")
            }
            // Ids are plain lower-case ASCII, so no two look alike (case, spaces, look-alike letters).
            guard Self.isPlainID(id) else {
                throw fail(
                    "\(at): reviewer id '\(id)' must be lower-case ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
                )
            }
            guard seen.insert(id).inserted else { throw fail("\(at): duplicate reviewer id '\(id)'") }
            // Names Countersign gives to answers that are not a person's, and to requesters and channels: a
            // reviewer must not look like one.
            if id.hasPrefix("auto-") || id.hasPrefix("auto_") || Self.reservedIDs.contains(id) {
                throw fail(
                    "\(at): '\(id)' is reserved (auto-…, \(Self.reservedIDs.sorted().joined(separator: ", ")) name automatic answers, requesters and channels)"
                )
            }
            guard let variable = entry["token_env"] as? String, !variable.isEmpty else {
                throw fail("\(at) (\(id)): 'token_env' must name the environment variable holding the token")
            }
            guard let token = environment[variable], token.utf8.count >= 16 else {
                throw fail(
                    "\(at) (\(id)): the environment variable \(variable) must hold a token of at least 16 characters")
            }
            // One token, one person: two ids sharing a token would let one holder cast two votes.
            if let other = reviewers.first(where: { ConstantTime.equal($0.token, Array(token.utf8)) }) {
                throw fail(
                    "\(at) (\(id)): has the same token as '\(other.id)'; every reviewer needs a token of their own")
            }
            let groups = entry["groups"] as? [String] ?? []
            if entry["groups"] != nil && !(entry["groups"] is [String]) {
                throw fail("\(at) (\(id)): 'groups' must be a list of strings")
            }
            reviewers.append(
                Reviewer(id: id, name: entry["name"] as? String ?? id, groups: groups, token: Array(token.utf8)))
        }
        return ReviewerDirectory(reviewers: reviewers)
    }

    /// The reviewer whose token this is, compared in constant time against every reviewer.
    public func reviewer(token: String) -> Reviewer? {
        let presented = Array(token.utf8)
        var found: Reviewer?
        for reviewer in reviewers where ConstantTime.equal(reviewer.token, presented) { found = reviewer }
        return found
    }
}
