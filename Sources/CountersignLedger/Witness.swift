import CountersignCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The decision half of a tlog-witness (c2sp.org/tlog-witness), without HTTP: it keeps, per log origin,
/// the latest checkpoint it cosigned, and cosigns a new one only when a known log key signed it and a
/// valid RFC 6962 consistency proof leads from the kept one to it. State lives in one file per origin
/// under `directory`; the check and the update happen under an exclusive lock, so a witness never
/// cosigns a rollback or a fork even with concurrent requests or several processes.
public final class WitnessCore: @unchecked Sendable {
    // Immutable after init; the state files are guarded by `lock` and a flock on `<directory>/.lock`.
    public let key: SigningKey
    public let name: String
    public let directory: String
    public let logKeys: [NoteKey]
    private let lock = NSLock()
    public static let maximumRequest = 64 * 1024
    public static let maximumProofLines = 63

    public struct Response: Sendable, Equatable {
        public let status: Int
        public let contentType: String
        public let body: String

        public init(status: Int, contentType: String, body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    /// `logKeys`: the log keys it accepts checkpoints from (any origin they sign).
    public init(key: SigningKey, name: String? = nil, directory: String, logKeys: [NoteKey]) throws {
        let chosen = name ?? "countersign.dev/witness/" + String(Digest.sha256Hex(key.publicKey.raw).prefix(16))
        guard KeyName.isValid(chosen) else { throw NoteError("invalid witness name '\(chosen)'") }
        guard !logKeys.isEmpty else { throw LedgerError("a witness needs at least one log key to accept") }
        self.key = key
        self.name = chosen
        self.directory = directory
        self.logKeys = logKeys
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// The witness's verifier key for clients (`<name>+<id>+<base64(0x04 ‖ key)>`).
    public var vkey: String {
        let id = Cosignature.keyID(name: name, publicKey: key.publicKey)
        return "\(name)+\(Digest.hex(id))+\(Data([Cosignature.type] + Array(key.publicKey.raw)).base64EncodedString())"
    }

    /// The latest checkpoint cosigned for `origin`, if any.
    public func latest(origin: String) -> SignedCheckpoint? {
        try? SignedCheckpoint.read(statePath(origin))
    }

    func statePath(_ origin: String) -> String {
        directory + "/" + String(Digest.sha256Hex(origin).prefix(32)) + ".checkpoint"
    }

    /// Handles one `POST /add-checkpoint` body.
    public func addCheckpoint(_ body: Data) -> Response {
        func fail(_ status: Int, _ message: String) -> Response {
            Response(status: status, contentType: "text/plain; charset=utf-8", body: message + "\n")
        }
        guard body.count <= Self.maximumRequest else { return fail(413, "the request is too large") }
        guard let text = String(data: body, encoding: .utf8) else { return fail(400, "the request is not UTF-8") }
        guard let blank = text.range(of: "\n\n") else {
            return fail(400, "expected an old size line, proof lines, a blank line and a checkpoint")
        }
        let head = text[..<blank.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
        let noteText = String(text[blank.upperBound...])
        guard let first = head.first, first.hasPrefix("old "), let old = Self.decimal(first.dropFirst(4)) else {
            return fail(400, "the first line must be 'old <size>'")
        }
        var proof: [[UInt8]] = []
        for line in head.dropFirst() {
            guard let hash = Data(base64Encoded: String(line)), hash.count == Merkle.hashSize else {
                return fail(400, "a consistency proof line is not a base64 SHA-256 hash")
            }
            proof.append(Array(hash))
        }
        guard proof.count <= Self.maximumProofLines else { return fail(400, "more than 63 proof lines") }
        let signed: SignedCheckpoint
        do {
            signed = try SignedCheckpoint.parse(noteText)
        } catch {
            return fail(400, "the checkpoint: \(error)")
        }
        let checkpoint = signed.checkpoint
        guard logKeys.contains(where: { $0.verify(signed.note) }) else {
            return fail(403, "the checkpoint carries no valid signature from a log key this witness knows")
        }
        guard old <= checkpoint.size else { return fail(400, "old size \(old) is larger than the checkpoint's") }
        if old == 0 && !proof.isEmpty { return fail(400, "the proof must be empty when the old size is 0") }
        return withStateLock {
            let path = statePath(checkpoint.origin)
            let stored = try? SignedCheckpoint.read(path)
            if FileManager.default.fileExists(atPath: path) && stored == nil {
                return fail(500, "the witness state for this log is unreadable")
            }
            let storedSize = stored?.checkpoint.size ?? 0
            if old != storedSize {
                return Response(status: 409, contentType: "text/x.tlog.size", body: "\(storedSize)\n")
            }
            if let stored {
                if old == checkpoint.size {
                    if stored.checkpoint.rootHash != checkpoint.rootHash {
                        return fail(409, "a different root hash for the size already cosigned: a fork")
                    }
                } else if !Merkle.verifyConsistency(
                    oldSize: old, newSize: checkpoint.size, oldRoot: stored.checkpoint.rootHash,
                    newRoot: checkpoint.rootHash, proof: proof)
                {
                    return fail(422, "the consistency proof from size \(old) does not verify")
                }
            }
            let cosignature: NoteSignature
            do {
                cosignature = try Cosignature.sign(signed.note.text, name: name, key: key)
                var kept = signed
                kept.add([cosignature])
                try Checkpointer.writeAtomically(kept.note.serialized, to: path)
            } catch {
                return fail(500, "cannot record the checkpoint: \(error)")
            }
            return Response(status: 200, contentType: "text/plain; charset=utf-8", body: cosignature.line)
        }
    }

    private func withStateLock(_ body: () -> Response) -> Response {
        lock.lock()
        defer { lock.unlock() }
        let fd = open(directory + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            return Response(status: 500, contentType: "text/plain", body: "cannot open the witness lock\n")
        }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else {
            return Response(status: 500, contentType: "text/plain", body: "cannot lock the witness state\n")
        }
        defer { flock(fd, LOCK_UN) }
        return body()
    }

    /// ASCII decimal without leading zeroes (`0` itself allowed).
    static func decimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), text == "0" || !text.hasPrefix("0")
        else { return nil }
        return Int(text)
    }

    /// The request body a log sends: `old <size>`, the proof lines, a blank line, the checkpoint.
    public static func requestBody(oldSize: Int, proof: [[UInt8]], checkpoint: SignedCheckpoint) -> String {
        "old \(oldSize)\n" + proof.map { Data($0).base64EncodedString() + "\n" }.joined() + "\n"
            + checkpoint.note.serialized
    }
}
