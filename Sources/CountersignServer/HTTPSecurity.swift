import CountersignCore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The server's request context: small bodies (decision API payloads are envelopes, not uploads), and who
/// is calling when the request came over the Unix socket (set by `PeerMiddleware`).
public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection, for the peer's credentials.
    let channel: (any Channel)?
    /// The kernel's word on who connected over the Unix socket; nil on TCP.
    public var socketPeer: CallerIdentity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
    public var maxUploadSize: Int { 256 * 1024 }
}

/// An error answered as JSON `{"error": …}` with its status; messages never echo secrets.
struct APIError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    var headers: HTTPFields { [.contentType: "application/json"] }

    var response: Response {
        Response(
            status: status, headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: CanonicalJSON.string(["error": .string(message)]))))
    }

    func response(from request: Request, context: some RequestContext) throws -> Response { response }
}

extension HTTPField.Name {
    static let csrf = HTTPField.Name("X-Countersign-CSRF")!
}

/// Every response gets the security headers; every request passes the Host, Origin and header-size
/// checks first (DNS rebinding and cross-site requests are refused before any handler runs).
struct SecurityMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let allowedHosts: Set<String>
    /// The Unix socket listener: local by construction, so Host and Origin are not checked (no browser
    /// reaches it, and no DNS name can be rebound to it).
    var unixSocket = false
    static let maximumHeaderBytes = 16 * 1024

    func handle(
        _ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response
    ) async throws -> Response {
        var response: Response
        do {
            try check(request)
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.response
        } catch let error as HTTPError {
            // Hummingbird's own (404, 405, 413 …): keep the status, answer in our JSON shape.
            let message = error.body ?? error.status.reasonPhrase
            response = Response(
                status: error.status, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: CanonicalJSON.string(["error": .string(message)]))))
        }
        Self.secure(&response.headers)
        return response
    }

    func check(_ request: Request) throws {
        var headerBytes = 0
        for field in request.headers { headerBytes += field.name.rawName.utf8.count + field.value.utf8.count + 4 }
        if headerBytes > Self.maximumHeaderBytes {
            throw APIError(
                .init(code: 431, reasonPhrase: "Request Header Fields Too Large"), "request headers too large")
        }
        if unixSocket { return }
        let host = request.head.authority ?? ""
        guard allowedHosts.contains(host.lowercased()) else {
            throw APIError(.misdirectedRequest, "unexpected Host header (use the address the server listens on)")
        }
        if let origin = request.headers[.origin], origin != "http://" + host.lowercased() {
            throw APIError(.forbidden, "cross-origin requests are not accepted")
        }
    }

    static func secure(_ headers: inout HTTPFields) {
        headers[.cacheControl] = "no-store"
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
            + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    }
}

/// Bearer tokens and the CSRF token a signed-in reviewer must send with every vote.
struct Credentials: Sendable {
    let reviewers: ReviewerDirectory
    /// The token agents use for the decision API (`--api-token-env`); nil means loopback trust.
    let apiToken: [UInt8]?
    let csrfKey = SymmetricKey(size: .bits256)

    static func bearer(_ request: Request) -> String? {
        guard let value = request.headers[.authorization], value.hasPrefix("Bearer ") else { return nil }
        return String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    /// The reviewer the request's bearer token belongs to, or 401.
    func reviewer(_ request: Request) throws -> ReviewerDirectory.Reviewer {
        guard let token = Self.bearer(request), let reviewer = reviewers.reviewer(token: token) else {
            throw APIError(.unauthorized, "sign in with a reviewer token")
        }
        return reviewer
    }

    /// Agents' endpoints: the API token or a reviewer's token when an API token is configured (without
    /// one, the loopback bind is the trust boundary). Returns who is asking: what a reviewer's token
    /// requests is theirs, and they cannot approve it.
    @discardableResult
    func requireAgent(_ request: Request, _ context: ServerContext) throws -> Requester {
        if let peer = context.socketPeer {
            // The Unix socket: its permissions decided who may connect, and the kernel says who did.
            if let reviewer = try? reviewer(request) { return .reviewer(reviewer.id) }
            return .socketPeer(uid: peer.uid ?? 0)
        }
        let presented = Self.bearer(request).map { Array($0.utf8) } ?? []
        if let apiToken, ConstantTime.equal(apiToken, presented) { return .apiToken }
        if let reviewer = try? reviewer(request) { return .reviewer(reviewer.id) }
        guard apiToken == nil else {
            throw APIError(.unauthorized, "this endpoint needs the API token (Authorization: Bearer …)")
        }
        return .unauthenticated
    }

    func csrf(for reviewer: ReviewerDirectory.Reviewer) -> String {
        Digest.hex(HMAC<SHA256>.authenticationCode(for: Data(reviewer.id.utf8), using: csrfKey))
    }

    /// State changes need the reviewer's CSRF token and a JSON body (which a cross-site form cannot send).
    func requireCSRF(_ request: Request, reviewer: ReviewerDirectory.Reviewer) throws {
        guard request.headers[.contentType]?.hasPrefix("application/json") == true else {
            throw APIError(.unsupportedMediaType, "send the body as application/json")
        }
        let presented = Array((request.headers[.csrf] ?? "").utf8)
        guard ConstantTime.equal(Array(csrf(for: reviewer).utf8), presented) else {
            throw APIError(.forbidden, "missing or wrong X-Countersign-CSRF header (sign in again)")
        }
    }
}
