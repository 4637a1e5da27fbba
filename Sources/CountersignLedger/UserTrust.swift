import CountersignCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The user's own list of trusted signing keys, outside every project (like SSH's `known_hosts`): a key
/// Countersign creates for the user is pinned here on first use, and a rotation signed by a pinned key
/// pins its successor. `verify` trusts these keys when it is not given `--trusted-key`/`--trusted-keys`,
/// and adapters refuse a key found in a project directory that is not pinned here.
///
/// Location: `$COUNTERSIGN_TRUST_FILE`, else `$XDG_CONFIG_HOME/countersign/trusted-keys.json`, else
/// `~/.config/countersign/trusted-keys.json`. The format is the trusted-signers file format.
public enum UserTrust {
    public static var path: String {
        let env = ProcessInfo.processInfo.environment
        if let file = env["COUNTERSIGN_TRUST_FILE"], !file.isEmpty { return file }
        let config: String
        if let xdg = env["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            config = xdg
        } else {
            config = (env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()) + "/.config"
        }
        return config + "/countersign/trusted-keys.json"
    }

    /// The pinned keys (empty when the file does not exist yet).
    public static func load() throws -> TrustedSigners {
        let file = path
        guard FileManager.default.fileExists(atPath: file) else { return TrustedSigners(source: file) }
        var trust = try TrustedSigners.load(path: file, allowEmpty: true)
        trust.source = file
        return trust
    }

    /// Whether `key` is pinned.
    public static func isPinned(_ key: PublicKey) -> Bool {
        (try? load())?.keys[key.keyID] != nil
    }

    /// Pins `key` (idempotent). `label` says where it came from (a path, a rotation).
    public static func pin(_ key: PublicKey, label: String) throws {
        let file = path
        let directory = URL(fileURLWithPath: file).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw LedgerError("cannot create \(directory): \(error.localizedDescription)")
        }
        // Several processes may pin at once: read-modify-write under an exclusive lock.
        let lockFD = open(file + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw LedgerError("cannot lock \(file): \(String(cString: strerror(errno)))") }
        defer { close(lockFD) }
        guard flock(lockFD, LOCK_EX) == 0 else { throw LedgerError("cannot lock \(file)") }
        defer { flock(lockFD, LOCK_UN) }
        var entries: [JSONValue] = []
        if let data = FileManager.default.contents(atPath: file) {
            guard let document = try? JSONValue.parse(data), let existing = document["trusted_keys"]?.arrayValue else {
                throw LedgerError("\(file) is not a trusted-keys file; fix or remove it")
            }
            entries = existing
        }
        if entries.contains(where: { $0["public_key"]?.stringValue?.lowercased() == key.hex }) { return }
        entries.append(
            .object([
                "public_key": .string(key.hex), "key_id": .string(key.keyID), "label": .string(label),
                "pinned_at": .string(Timestamp.now()),
            ]))
        // One key per line, so the file reads and diffs well.
        let lines = entries.map { "    " + CanonicalJSON.string($0) }.joined(separator: ",\n")
        try Checkpointer.writeAtomically("{\n  \"trusted_keys\": [\n\(lines)\n  ],\n  \"version\": 1\n}\n", to: file)
    }
}
