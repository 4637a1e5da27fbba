import CountersignGate
import Foundation

/// How `ask` decisions get their second key in the proxy.
public enum ApprovalMode: String, CaseIterable, Sendable {
    /// Elicitation (or `input_required`) when the client can, else the `--approval-server` inbox, else the
    /// terminal, else rejected.
    case auto
    /// Only through the client; a client without the capability gets a rejection.
    case elicitation
    /// Only on the controlling terminal.
    case tty
    /// Only the `countersign serve` inbox given by `--approval-server`.
    case web
    case autoApprove = "auto-approve"
    case autoDeny = "auto-deny"
}

public struct ProxyOptions: Sendable {
    /// The server's command line, as given after `--`.
    public var serverCommand: [String]
    /// Longest JSON-RPC line accepted from either side.
    public var maximumMessageBytes: Int
    /// How long a forwarded request may wait for the server's answer.
    public var downstreamTimeout: Duration
    public var approvalMode: ApprovalMode
    public var ttyPath: String
    /// How long the server may take to exit after its stdin closes before it is terminated.
    public var shutdownGrace: Duration
    /// The `web` channel: a `countersign serve` inbox (`--approval-server`).
    public var approvalServer: (any ApprovalProvider)?
    /// The server's name as the operator configured it (`--name`); nil: the command's basename.
    public var name: String?
    /// With a signer service (`--signer`): a second key comes from the service's own reviewers only. The
    /// client's elicitation answer would reach the service through this proxy, which runs as the agent's
    /// user, so it is not asked.
    public var secondKeyAtSigner = false

    /// The actor of every envelope from this server.
    public var serverName: String {
        if let name, !name.isEmpty { return name }
        return serverCommand.first.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "mcp-server"
    }

    public init(
        serverCommand: [String], maximumMessageBytes: Int = 4 * 1024 * 1024,
        downstreamTimeout: Duration = .seconds(120),
        approvalMode: ApprovalMode = .auto, ttyPath: String = "/dev/tty", shutdownGrace: Duration = .seconds(2),
        approvalServer: (any ApprovalProvider)? = nil, name: String? = nil
    ) {
        self.approvalServer = approvalServer
        self.name = name
        self.serverCommand = serverCommand
        self.maximumMessageBytes = maximumMessageBytes
        self.downstreamTimeout = downstreamTimeout
        self.approvalMode = approvalMode
        self.ttyPath = ttyPath
        self.shutdownGrace = shutdownGrace
    }
}

/// Where the session's messages go; the stdio transport writes them to pipes. Called on the session's
/// event loop.
public protocol ProxyOutlet: Sendable {
    func toClient(_ line: [UInt8])
    func toServer(_ line: [UInt8])
    /// Something worth a line in the proxy's log (never sent to either peer).
    func log(_ message: String)
}
