import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation
import NIOCore

/// One client ↔ server MCP session through the Gate, independent of the transport: the stdio
/// transport feeds it frames from both sides and writes what it emits.
///
/// Everything runs on one event loop, synchronously, so an allowed call crosses no thread on its way
/// through. Only a call waiting for a second key leaves the loop (in a task), so it never stops the
/// client's other messages — including the answer to that very elicitation.
public final class ProxySession: @unchecked Sendable {
    // All mutable state is confined to `loop`: every entry point runs on it.
    public let loop: any EventLoop
    let gate: any GateService
    let options: ProxyOptions
    let pins: (any DescriptorPinning)?
    let outlet: any ProxyOutlet
    let runID: String
    let approvalState = ApprovalState()

    // What the handshake (or the 2026-07-28 `_meta`) told us.
    var clientInfo: JSONValue?
    var clientCapabilities: JSONValue?
    var serverInfo: JSONValue?
    var protocolVersion: String?
    /// A 2026-07-28 (stateless) client: asks go back as `input_required` results.
    var modern = false
    var frozenSessionID: String?

    /// Descriptors seen in list results, by kind then name, with what was found wrong with them.
    var descriptors: [String: [String: Descriptor]] = [:]
    /// Client requests forwarded to the server and not answered yet.
    var pending: [JSONValue: Pending] = [:]
    /// The proxy's own elicitation requests waiting for the client's answer.
    var elicitations: [JSONValue: CheckedContinuation<JSONValue?, Never>] = [:]
    var nextElicitation = 0
    /// Approvals carried over a server's own `input_required` round trip, by call binding.
    var grants: [String: [ApprovalRecord]] = [:]
    var mediating = 0
    /// Answers taken off `pending` whose receipt and relay are still under way.
    var finishing = 0
    /// Allowed calls waiting for their decision receipt's commit before they are forwarded.
    var committing: Set<JSONValue> = []

    struct Descriptor {
        let value: JSONValue
        let hash: String
        let findings: [String]
    }

    enum PendingKind {
        case initialize
        case discover
        case list(String)
        case mediated(GateDecision)
        case other
    }

    struct Pending {
        let method: String
        let kind: PendingKind
        let deadline: ContinuousClock.Instant
    }

    public init(
        gate: any GateService, options: ProxyOptions, pins: (any DescriptorPinning)?, outlet: any ProxyOutlet,
        loop: any EventLoop
    ) {
        self.loop = loop
        self.gate = gate
        self.options = options
        self.pins = pins
        self.outlet = outlet
        self.runID = String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12))
    }

    // MARK: - From the client

    public func fromClient(_ frame: Frame) {
        loop.preconditionInEventLoop()
        guard let value = parse(frame, from: "client") else { return }
        if case .array(let batch) = value {
            // 2025-03-26 batches: each member is handled (and answered) on its own.
            if batch.isEmpty { reply(JSONRPCError.invalidRequest("empty batch").response()) }
            for member in batch { clientMessage(member, raw: nil) }
        } else {
            clientMessage(value, raw: frame.bytes)
        }
    }

    func clientMessage(_ value: JSONValue, raw: [UInt8]?) {
        let message: JSONRPCMessage
        do {
            message = try JSONRPCMessage(value)
        } catch {
            reply(error.response())
            return
        }
        switch message {
        case .request(let id, let method, let params):
            noteRequestMeta(params)
            switch MethodTable.clientRequest(method) {
            case .mediated:
                mediate(id: id, method: method, params: params)
            case .passthrough:
                let kind: PendingKind =
                    switch method {
                    case "initialize": .initialize
                    case "server/discover": .discover
                    case _ where MethodTable.lists[method] != nil: .list(method)
                    default: .other
                    }
                if method == "initialize" { noteInitialize(params) }
                forward(id: id, method: method, kind: kind, params: params, raw: raw)
            case .refused:
                reply(
                    JSONRPCError(
                        code: JSONRPCError.methodNotFoundCode,
                        message: "Method not found: '\(TerminalSafe.neutralise(String(method.prefix(80))))' is not in "
                            + "Countersign's MCP method table"
                    ).response(id: id))
            }
        case .notification(let method, let params):
            guard MethodTable.clientNotifications.contains(method) else {
                outlet.log("dropped client notification \(TerminalSafe.neutralise(String(method.prefix(80))))")
                return
            }
            sendToServer(params: params, message: message, raw: raw)
        case .result(let id, _), .error(let id, _):
            if let waiter = elicitations.removeValue(forKey: id) {
                waiter.resume(returning: value)
            } else {
                sendToServer(params: nil, message: message, raw: raw)
            }
        }
    }

    /// Forwards a pass-through request and remembers it until the server answers.
    func forward(id: JSONValue, method: String, kind: PendingKind, params: JSONValue?, raw: [UInt8]?) {
        guard pending[id] == nil else {
            reply(JSONRPCError.invalidRequest("id is already in use by a pending request").response(id: id))
            return
        }
        pending[id] = Pending(method: method, kind: kind, deadline: .now + options.downstreamTimeout)
        sendToServer(params: params, message: .request(id: id, method: method, params: params), raw: raw)
    }

    /// Sends a client message on, without anything the proxy or the client addressed to Countersign.
    func sendToServer(params: JSONValue?, message: JSONRPCMessage, raw: [UInt8]?) {
        if let raw, !Self.mentionsCountersign(raw) {
            outlet.toServer(raw)
            return
        }
        var message = message
        switch message {
        case .request(let id, let method, let params):
            message = .request(id: id, method: method, params: params.map(Self.stripped))
        case .notification(let method, let params):
            message = .notification(method: method, params: params.map(Self.stripped))
        default: break
        }
        outlet.toServer(Array(message.line.utf8))
    }

    static func mentionsCountersign(_ raw: [UInt8]) -> Bool {
        ByteSearch.contains(raw, Array("ountersign".utf8))
    }

    /// `params` without the proxy's own keys: `countersign`, `_countersign` and `_meta` entries under
    /// `countersign/` or `dev.countersign/`.
    static func stripped(_ params: JSONValue) -> JSONValue {
        guard case .object(var object) = params else { return params }
        object["countersign"] = nil
        object["_countersign"] = nil
        if case .object(var meta) = object["_meta"] {
            for key in meta.keys where key.hasPrefix("countersign/") || key.hasPrefix("dev.countersign/") {
                meta[key] = nil
            }
            object["_meta"] = .object(meta)
        }
        return .object(object)
    }

    // MARK: - Answers to the client

    func reply(_ message: JSONRPCMessage) {
        outlet.toClient(Array(message.line.utf8))
    }

    /// Parses one frame; malformed or oversized input is answered (client) or logged (server).
    func parse(_ frame: Frame, from side: String) -> JSONValue? {
        let error: JSONRPCError
        switch frame {
        case .oversized(let bytes):
            error = JSONRPCError(
                code: JSONRPCError.messageTooLargeCode,
                message: "message of \(bytes) bytes exceeds the \(options.maximumMessageBytes)-byte limit")
        case .line(let bytes):
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return nil }
            do {
                return try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in
                    try JSONValue.parse(buffer)
                }
            } catch let failure {
                error = JSONRPCError(code: JSONRPCError.parseErrorCode, message: "Parse error: \(failure)")
            }
        }
        if side == "client" {
            reply(error.response())
        } else {
            outlet.log("ignored a message from the server: \(error.message)")
        }
        return nil
    }

    // MARK: - Identity

    func noteInitialize(_ params: JSONValue?) {
        clientInfo = params?["clientInfo"]
        clientCapabilities = params?["capabilities"]
        protocolVersion = params?["protocolVersion"]?.stringValue
        modern = false
    }

    /// 2026-07-28 requests carry the protocol version, client info and capabilities in `_meta`.
    func noteRequestMeta(_ params: JSONValue?) {
        guard let meta = params?["_meta"]?.objectValue,
            let version = meta["io.modelcontextprotocol/protocolVersion"]?.stringValue
        else { return }
        modern = true
        protocolVersion = version
        if let info = meta["io.modelcontextprotocol/clientInfo"] { clientInfo = info }
        if let capabilities = meta["io.modelcontextprotocol/clientCapabilities"] { clientCapabilities = capabilities }
    }

    /// The server's identity — the actor of every envelope — is what the operator configured (`--name`,
    /// default the command's basename), never what the server says about itself in `serverInfo.name`:
    /// a hostile server calling itself `internal-tools` must not match a rule written for internal tools.
    var serverName: String { options.serverName }

    var clientName: String { clientInfo?["name"]?.stringValue ?? "mcp-client" }

    /// Pins are per server command line: a server cannot dodge its pins by renaming itself.
    var serverIdentity: String { options.serverCommand.joined(separator: " ") }

    /// `mcp:<client>:<server>:<run>`, fixed at the first mediated call so taint never splits.
    var sessionID: String {
        if let frozenSessionID { return frozenSessionID }
        func slug(_ s: String) -> String {
            let mapped = s.lowercased().map { ch -> Character in
                ch.isASCII && (ch.isLetter || ch.isNumber || ch == "-" || ch == "_" || ch == ".") ? ch : "-"
            }
            return String(String(mapped).trimmingCharacters(in: CharacterSet(charactersIn: "-")).prefix(64))
        }
        let id = "mcp:\(slug(clientName)):\(slug(serverName)):\(runID)"
        frozenSessionID = id
        return id
    }

    var clientCanElicit: Bool {
        guard let elicitation = clientCapabilities?["elicitation"]?.objectValue else { return false }
        return elicitation.isEmpty || elicitation["form"] != nil
    }

    // MARK: - Shutdown

    /// No mediated call is being decided and no forwarded request is unanswered.
    public var isIdle: Bool {
        loop.preconditionInEventLoop()
        return mediating == 0 && finishing == 0 && pending.isEmpty
    }

    /// Expires forwarded requests past the downstream timeout; the transport calls this periodically.
    public func sweep(now: ContinuousClock.Instant = .now) {
        loop.preconditionInEventLoop()
        for (id, request) in pending where request.deadline <= now {
            pending[id] = nil
            finishing += 1
            defer { finishing -= 1 }
            outlet.toServer(
                Array(
                    JSONRPCMessage.notification(
                        method: "notifications/cancelled",
                        params: ["requestId": id, "reason": "timed out in the Countersign proxy"]
                    ).line.utf8))
            fail(
                id: id, request: request, status: "timeout",
                error: JSONRPCError(
                    code: JSONRPCError.downstreamTimeoutCode,
                    message: "the MCP server did not answer \(request.method) within \(options.downstreamTimeout)"))
        }
    }

    /// The server's output closed: every unanswered request fails (recorded), and no more will come.
    public func serverClosed() {
        loop.preconditionInEventLoop()
        let open = pending
        pending.removeAll()
        finishing += 1
        defer { finishing -= 1 }
        for (id, request) in open {
            fail(
                id: id, request: request, status: "protocol_error",
                error: JSONRPCError(
                    code: JSONRPCError.downstreamFailedCode, message: "the MCP server exited before answering"))
        }
        for (_, waiter) in elicitations { waiter.resume(returning: nil) }
        elicitations.removeAll()
    }

    func fail(id: JSONValue, request: Pending, status: String, error: JSONRPCError) {
        if case .mediated(let decision) = request.kind {
            do {
                _ = try gate.submitOutcome(of: decision, status: status, result: nil, error: error.message)
            } catch {
                outlet.log("could not record the outcome of \(request.method): \(error)")
            }
        }
        reply(error.response(id: id))
    }
}

extension Frame {
    var bytes: [UInt8]? {
        if case .line(let bytes) = self { return bytes }
        return nil
    }
}
