#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Forwards one hook call to the signer service (`POST /v1/hooks/<agent>?form=process`) and gives back
/// what the embedded hook would have printed and exited with. Anything short of a complete answer — the
/// service down, slow, or answering an error — is the agent's blocking answer: exit code 2 and the reason
/// on stderr, naming the address (fail closed).
public enum HookForwarder {
    public struct Answer: Sendable, Equatable {
        public var stdout: [UInt8]
        public var stderr: String
        public var exitCode: Int32

        public static func block(_ reason: String) -> Answer {
            Answer(stdout: [], stderr: "Countersign blocked this call: \(reason)\n", exitCode: 2)
        }
    }

    /// The default wait for the service: long enough for a busy ledger, short of the agents' hook timeouts.
    public static let defaultTimeout = 30.0

    public static func forward(
        agent: String, payload: [UInt8], address: SignerAddress, timeout: Double = defaultTimeout,
        token: String? = nil
    ) -> Answer {
        let client = SignerHTTP(address: address, timeout: timeout)
        var headers: [(String, String)] = []
        if let token, !token.isEmpty { headers.append(("Authorization", "Bearer \(token)")) }
        let response: SignerHTTP.Response
        do {
            response = try client.post("/v1/hooks/\(agent)?form=process", body: payload, headers: headers)
        } catch {
            return .block(error.description)
        }
        // Only the two answers a hook gives: 0, or 2 (block). Any other code the agents treat as "go ahead".
        guard response.status == 200, let exitText = response.header("X-Countersign-Hook-Exit"),
            exitText == "0" || exitText == "2", let exitCode = Int32(exitText)
        else {
            let message = String(decoding: response.body.prefix(500), as: UTF8.self)
            return .block("the signer at \(address) answered HTTP \(response.status): \(message)")
        }
        let stderr = percentDecoded(response.header("X-Countersign-Hook-Stderr") ?? "")
        return Answer(stdout: response.body, stderr: stderr, exitCode: exitCode)
    }

    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The whole of standard input.
    public static func readStandardInput() -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return out }
            out.append(contentsOf: buffer[0..<n])
        }
    }

    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}
