import CountersignCore
import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An Ed25519 key that signs receipts. Never built in: generated, or loaded from a file or the environment.
public struct SigningKey: Sendable {
    let privateKey: Curve25519.Signing.PrivateKey
    public let publicKey: PublicKey

    public init(privateKeyHex: String) throws(KeyError) {
        guard let bytes = Hex.decode(privateKeyHex.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes)
        else { throw KeyError("a signing key must be 32 bytes of hex (64 characters)") }
        privateKey = key
        publicKey = PublicKey(key.publicKey)
    }

    public static func generate() -> SigningKey {
        let key = Curve25519.Signing.PrivateKey()
        return try! SigningKey(privateKeyHex: Digest.hex(key.rawRepresentation))
    }

    public var privateKeyHex: String { Digest.hex(privateKey.rawRepresentation) }

    /// A 256-bit key for another purpose, derived with HKDF-SHA256 (info = `purpose`): keyed hashes that
    /// only the holder of this signing key can compute.
    public func derivedKey(_ purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: privateKey.rawRepresentation), info: Data(purpose.utf8),
            outputByteCount: 32)
    }
    public var keyID: String { publicKey.keyID }

    /// Hex Ed25519 signature over the UTF-8 bytes of `message`.
    public func sign(_ message: String) -> String {
        Digest.hex(try! privateKey.signature(for: Data(message.utf8)))
    }
}

/// An Ed25519 public key and its id: `ed25519:` + the first 16 hex of the SHA-256 of its 32 bytes.
public struct PublicKey: Sendable, Hashable {
    public let raw: Data
    public let keyID: String
    let key: Curve25519.Signing.PublicKey

    init(_ key: Curve25519.Signing.PublicKey) {
        self.key = key
        raw = key.rawRepresentation
        keyID = "ed25519:" + Digest.sha256Hex(raw).prefix(16)
    }

    public init(hex: String) throws(KeyError) {
        guard let bytes = Hex.decode(hex.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: bytes)
        else { throw KeyError("a public key must be 32 bytes of hex (64 characters)") }
        self.init(key)
    }

    public var hex: String { Digest.hex(raw) }

    public func verify(signatureHex: String, message: String) -> Bool {
        guard let signature = Hex.decode(signatureHex), signature.count == 64 else { return false }
        return key.isValidSignature(signature, for: Data(message.utf8))
    }

    public static func == (a: PublicKey, b: PublicKey) -> Bool { a.raw == b.raw }
    public func hash(into hasher: inout Hasher) { hasher.combine(raw) }
}

public struct KeyError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

enum Hex {
    static func decode(_ text: String) -> Data? {
        let bytes = Array(text.utf8)
        guard bytes.count % 2 == 0 else { return nil }
        var out = Data(capacity: bytes.count / 2)
        var index = 0
        while index < bytes.count {
            guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }
}

/// Key files: a small JSON document, written with mode 0600 and never overwritten silently.
public enum KeyFile {
    public static func write(_ key: SigningKey, to path: String, overwrite: Bool = false) throws(KeyError) {
        let url = URL(fileURLWithPath: path)
        if !overwrite, FileManager.default.fileExists(atPath: path) {
            throw KeyError("\(path) already exists; pass --force to replace it")
        }
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            throw KeyError("cannot create \(url.deletingLastPathComponent().path): \(error.localizedDescription)")
        }
        let document: JSONValue = [
            "algorithm": "ed25519", "private_key": .string(key.privateKeyHex), "public_key": .string(key.publicKey.hex),
            "key_id": .string(key.keyID), "created_at": .string(Timestamp.now()),
        ]
        let text = CanonicalJSON.string(document) + "\n"
        // Written whole to a temporary file first, then put in place in one step (link: fails if another
        // process won the race; rename when replacing), so no reader ever sees half a key.
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw KeyError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        defer { unlink(temporary) }
        fchmod(fd, 0o600)
        let written = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard written == text.utf8.count, fsync(fd) == 0 else {
            close(fd)
            throw KeyError("cannot write \(path)")
        }
        close(fd)
        if overwrite {
            guard rename(temporary, path) == 0 else {
                throw KeyError("cannot replace \(path): \(String(cString: strerror(errno)))")
            }
        } else {
            guard link(temporary, path) == 0 else {
                throw KeyError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    public static func read(_ path: String) throws(KeyError) -> SigningKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyError("cannot read signing key \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        if let document = try? JSONValue.parse(text), let hex = document["private_key"]?.stringValue {
            return try SigningKey(privateKeyHex: hex)
        }
        return try SigningKey(privateKeyHex: text)  // a bare hex key file
    }
}

/// Finds the key that signs: `--key FILE`, `COUNTERSIGN_SIGNING_KEY` (hex), `COUNTERSIGN_SIGNING_KEY_FILE`,
/// else `signing-key` in the state home — the directory of an absolute `--ledger` when one is given (so
/// one ledger is always signed by one key, wherever the process runs), else `$COUNTERSIGN_HOME` or
/// `./.countersign`.
///
/// Only commands that own a state home create a key (`.create`: `init`, `demo`, `serve`, `keys
/// generate`, `install`); they pin it in the user's trust file. Adapters (`.existing`: hooks, the MCP
/// proxy, exports) never create one — a missing key is an error — and refuse a key picked up from the
/// working directory's `.countersign/` unless it is pinned: a repository can ship a key, but cannot make
/// the user's tools sign with it.
public enum KeyResolver {
    public enum Mode: Sendable {
        case create
        case existing
    }

    public struct Resolved: Sendable {
        public let key: SigningKey
        public let source: String
        /// Set when a new key was generated; say it once.
        public let notice: String?
    }

    /// The key file a state home uses: beside an explicit ledger, else in the state directory.
    public static func defaultPath(ledger: String?, stateDirectory: String) -> String {
        if let ledger, ledger.hasPrefix("/") {
            return (ledger as NSString).deletingLastPathComponent + "/signing-key"
        }
        return stateDirectory + "/signing-key"
    }

    public static func resolve(
        explicitPath: String?, stateDirectory: String, ledger: String? = nil, mode: Mode = .existing
    ) throws(KeyError) -> Resolved {
        let env = ProcessInfo.processInfo.environment
        // Adapters sign only with a pinned key, however it was named: a key file swapped at the path the
        // hooks were installed with would otherwise sign (and key every hash) for whoever planted it.
        func pinned(_ key: SigningKey, _ source: String) throws(KeyError) -> Resolved {
            if mode == .existing && !UserTrust.isPinned(key.publicKey) {
                throw KeyError(
                    "the signing key \(source) (\(key.keyID)) is not in your trust file \(UserTrust.path); a project cannot choose the key your tools sign with. If you created it, pin it: countersign keys trust --key \(source)"
                )
            }
            return Resolved(key: key, source: source, notice: nil)
        }
        if let explicitPath { return try pinned(try KeyFile.read(explicitPath), explicitPath) }
        if let hex = env["COUNTERSIGN_SIGNING_KEY"], !hex.isEmpty {
            return try pinned(try SigningKey(privateKeyHex: hex), "COUNTERSIGN_SIGNING_KEY")
        }
        if let path = env["COUNTERSIGN_SIGNING_KEY_FILE"], !path.isEmpty {
            return try pinned(try KeyFile.read(path), path)
        }
        let path = defaultPath(ledger: ledger, stateDirectory: stateDirectory)
        if FileManager.default.fileExists(atPath: path) {
            // However the path is spelled (relative, absolute, through a symlink), a key nobody pinned is
            // one a project could have planted: adapters refuse it.
            return try pinned(try KeyFile.read(path), path)
        }
        guard mode == .create else {
            throw KeyError(
                "no signing key at \(path): adapters never create one; run 'countersign init' (or 'countersign keys generate --out \(path)'), or pass --key"
            )
        }
        let key = SigningKey.generate()
        do {
            try KeyFile.write(key, to: path)
        } catch {
            // Another process won the race: use its key.
            if FileManager.default.fileExists(atPath: path) {
                return Resolved(key: try KeyFile.read(path), source: path, notice: nil)
            }
            throw error
        }
        var notice = "countersign: generated a new signing key \(key.keyID) at \(path) (mode 0600)"
        do {
            try UserTrust.pin(key.publicKey, label: absolute(path))
            notice += " and pinned it in \(UserTrust.path)"
        } catch {
            notice += "; could not pin it (\(error)): verify will report UNVERIFIED until you do"
        }
        return Resolved(
            key: key, source: path, notice: notice + "; share its public key with auditors: countersign keys show")
    }

    public static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
