import CountersignCore
import Foundation
import HTTPTypes
import Hummingbird

/// `POST /v1/hooks/<agent>`: the service answers a coding agent's hook payload itself, so an agent with an
/// HTTP hook type (Claude Code's `"type": "http"`) needs no process per call, and the thin command client
/// only forwards bytes. The CLI wires the hook layer in; the server knows only this shape.
public struct HookEndpoint: Sendable {
    /// What one hook call answers: the command form (stdout, stderr, exit code) and the HTTP form (a JSON
    /// object in the agent's schema, blocking in JSON where the command form blocks with exit code 2).
    public struct Reply: Sendable {
        public var stdout: String
        public var stderr: String
        public var exitCode: Int32
        public var httpBody: String

        public init(stdout: String, stderr: String, exitCode: Int32, httpBody: String) {
            self.stdout = stdout
            self.stderr = stderr
            self.exitCode = exitCode
            self.httpBody = httpBody
        }
    }

    public let agents: [String]
    public let answer: @Sendable (_ agent: String, _ payload: Data) async -> Reply

    public init(agents: [String], answer: @escaping @Sendable (_ agent: String, _ payload: Data) async -> Reply) {
        self.agents = agents
        self.answer = answer
    }

    /// Hook payloads carry tool outputs (whole files): larger than decision bodies. Past this the payload
    /// is cut, which the hook layer treats as unreadable (a decision blocks; an output labels the session).
    static let maximumPayload = 16 << 20

    /// Headers of the command form, which the thin client turns back into stdout, stderr and an exit code.
    static let exitHeader = HTTPField.Name("X-Countersign-Hook-Exit")!
    static let stderrHeader = HTTPField.Name("X-Countersign-Hook-Stderr")!

    func respond(agent: String, request: Request, context: ServerContext, limits: ConnectionLimits) async throws
        -> Response
    {
        guard agents.contains(agent) else {
            throw APIError(.notFound, "unknown agent '\(agent)' (\(agents.joined(separator: ", ")))")
        }
        guard request.headers[.contentType]?.hasPrefix("application/json") == true else {
            throw APIError(.unsupportedMediaType, "send the hook payload as application/json")
        }
        let reply = try await limits.withBody(
            request, channel: context.channel, maximum: Self.maximumPayload, truncating: true
        ) { payload in await answer(agent, payload) }
        if request.uri.queryParameters["form"] == "process" {
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[Self.exitHeader] = String(reply.exitCode)
            headers[Self.stderrHeader] = Self.percentEncoded(reply.stderr)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: reply.stdout)))
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: reply.httpBody)))
    }

    /// Every byte outside printable ASCII (and `%`) as `%XX`: a header value carries any message safely.
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "%") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
