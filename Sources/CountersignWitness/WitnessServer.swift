import CountersignLedger
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// `countersign witness serve`: a tlog-witness (c2sp.org/tlog-witness) over HTTP. One route,
/// `POST /add-checkpoint`; the decision and the state are `WitnessCore`'s.
public struct WitnessServer: Sendable {
    public let core: WitnessCore
    public let host: String
    public let port: Int

    public init(core: WitnessCore, host: String, port: Int) {
        self.core = core
        self.host = host
        self.port = port
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let core = self.core
        router.post("/add-checkpoint") { request, _ -> Response in
            var request = request
            let buffer: ByteBuffer
            do {
                buffer = try await request.collectBody(upTo: WitnessCore.maximumRequest + 1)
            } catch {
                return Self.response(.init(status: 413, contentType: "text/plain", body: "the request is too large\n"))
            }
            let answer = core.addCheckpoint(Data(buffer.readableBytesView))
            return Self.response(answer)
        }
        router.get("/healthz") { _, _ in Self.response(.init(status: 200, contentType: "text/plain", body: "ok\n")) }
        return router
    }

    static func response(_ answer: WitnessCore.Response) -> Response {
        Response(
            status: HTTPResponse.Status(code: answer.status),
            headers: [.contentType: answer.contentType],
            body: .init(byteBuffer: ByteBuffer(string: answer.body)))
    }

    /// Serves until SIGINT/SIGTERM; `ready` gets the bound port.
    public func run(logger: Logger, ready: @escaping @Sendable (Int) -> Void) async throws {
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "countersign-witness"),
            onServerRunning: { channel in ready(channel.localAddress?.port ?? port) },
            logger: logger)
        try await app.runService()
    }
}
