import CountersignLedger
import Dispatch
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Submits checkpoints to one tlog-witness (`POST <url>/add-checkpoint`). It remembers the size the
/// witness last cosigned; when it does not know it (or is wrong), the witness answers 409 with its size
/// and the client retries once with a consistency proof from that size.
public final class WitnessClient: Cosigner, @unchecked Sendable {
    // `knownSize` is guarded by `lock`.
    public let url: URL
    public let timeout: Double
    private let lock = NSLock()
    private var knownSize = 0

    public init(url: URL, timeout: Double = 10) {
        self.url = url
        self.timeout = timeout
    }

    public convenience init(parsing text: String) throws {
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw LedgerError("witness '\(text)': expected an http(s) URL such as http://127.0.0.1:7380")
        }
        self.init(url: url)
    }

    public var name: String { url.absoluteString }

    public func cosign(
        _ checkpoint: SignedCheckpoint, consistencyProof: (Int) throws -> [[UInt8]]
    ) throws -> [NoteSignature] {
        var old = lock.withLock { knownSize }
        if old > checkpoint.checkpoint.size { old = 0 }
        for attempt in 0..<2 {
            let body = WitnessCore.requestBody(
                oldSize: old, proof: try consistencyProof(old), checkpoint: checkpoint)
            let (status, text) = try post(body)
            switch status {
            case 200:
                let note = SignedNote(text: checkpoint.note.text, signatures: try Self.signatureLines(text))
                lock.withLock { knownSize = checkpoint.checkpoint.size }
                return note.signatures
            case 409 where attempt == 0:
                guard let size = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                    throw LedgerError("the witness refused (409): \(text.prefix(200))")
                }
                guard size <= checkpoint.checkpoint.size else {
                    throw LedgerError(
                        "the witness has cosigned size \(size), larger than this checkpoint's \(checkpoint.checkpoint.size): the log was truncated or rolled back"
                    )
                }
                old = size
            default:
                throw LedgerError(
                    "the witness refused (\(status)): \(text.trimmingCharacters(in: .whitespacesAndNewlines).prefix(300))"
                )
            }
        }
        throw LedgerError("the witness kept answering 409")
    }

    static func signatureLines(_ text: String) throws -> [NoteSignature] {
        let lines = text.split(separator: "\n").map(String.init)
        guard !lines.isEmpty else { throw LedgerError("the witness answered without a cosignature") }
        return try lines.map { line in
            do { return try NoteSignature.parse(line) } catch {
                throw LedgerError("the witness answered with a malformed cosignature line: \(error)")
            }
        }
    }

    private func post(_ body: String) throws -> (Int, String) {
        var request = URLRequest(url: url.appendingPathComponent("add-checkpoint"), timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("text/plain; charset=utf-8", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(body.utf8)
        let result = Exchange()
        let done = DispatchSemaphore(value: 0)
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            result.set(
                (response as? HTTPURLResponse)?.statusCode, data.map { String(decoding: $0, as: UTF8.self) } ?? "",
                error)
            done.signal()
        }
        task.resume()
        done.wait()
        let (status, text, error) = result.get()
        if let error { throw LedgerError("cannot reach \(url.absoluteString): \(error.localizedDescription)") }
        guard let status else { throw LedgerError("no HTTP answer from \(url.absoluteString)") }
        return (status, text)
    }
}

/// One HTTP exchange's outcome, handed from URLSession's callback to the waiting thread.
final class Exchange: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Int?, String, (any Error)?) = (nil, "", nil)
    func set(_ status: Int?, _ text: String, _ error: (any Error)?) { lock.withLock { value = (status, text, error) } }
    func get() -> (Int?, String, (any Error)?) { lock.withLock { value } }
}
