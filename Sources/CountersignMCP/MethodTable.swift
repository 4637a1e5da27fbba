/// How the proxy handles each JSON-RPC method. Anything not listed is refused: nothing reaches the
/// server (or the client) by accident. docs/mcp-proxy.md prints this table.
public enum MethodTable {
    public enum Handling: Sendable, Equatable {
        /// Becomes an action envelope and goes through the Gate.
        case mediated
        /// Forwarded unchanged; the answer is inspected (lifecycle, descriptor lists).
        case passthrough
        /// Answered with a JSON-RPC error, never forwarded.
        case refused
    }

    /// Requests from the client to the server.
    public static func clientRequest(_ method: String) -> Handling {
        switch method {
        case "tools/call", "resources/read", "prompts/get": .mediated
        case "initialize", "ping", "server/discover", "tools/list", "resources/list", "resources/templates/list",
            "prompts/list", "completion/complete", "logging/setLevel", "resources/subscribe",
            "resources/unsubscribe", "subscriptions/listen":
            .passthrough
        default: .refused
        }
    }

    /// Notifications from the client; any other is dropped.
    public static let clientNotifications: Set<String> = [
        "notifications/initialized", "notifications/cancelled", "notifications/progress",
        "notifications/roots/list_changed",
    ]

    /// Requests from the server to the client. Sampling asks the client's model to write text for the
    /// server, and URL-mode elicitation sends the human to a web page: both are mediated.
    public static func serverRequest(_ method: String) -> Handling {
        switch method {
        case "sampling/createMessage", "elicitation/create": .mediated
        case "ping", "roots/list": .passthrough
        default: .refused
        }
    }

    /// Notifications from the server; any other is dropped.
    public static let serverNotifications: Set<String> = [
        "notifications/cancelled", "notifications/progress", "notifications/message",
        "notifications/resources/updated", "notifications/resources/list_changed",
        "notifications/tools/list_changed", "notifications/prompts/list_changed",
        "notifications/elicitation/complete",
    ]

    /// Descriptor lists and the kind of descriptor each holds.
    static let lists: [String: (field: String, kind: String, key: String)] = [
        "tools/list": ("tools", "tool", "name"),
        "resources/list": ("resources", "resource", "uri"),
        "resources/templates/list": ("resourceTemplates", "resource-template", "uriTemplate"),
        "prompts/list": ("prompts", "prompt", "name"),
    ]
}
