import CountersignCore

/// How a mediated MCP request becomes an action envelope (docs/mcp-proxy.md has the table).
///
/// Intent and risk come from the tool's name, its arguments and — only to raise risk — its annotations:
/// an untrusted server's `readOnlyHint` never makes a call look safer on its own.
enum CallMapping {
    struct Call {
        var tool: String
        var intent: String
        var target: String?
        var args: [String: JSONValue]
        var risk: Set<String>
    }

    static let targetKeys = [
        "path", "file_path", "target", "url", "uri", "command", "branch", "selector", "recipient", "to", "query",
        "name",
    ]

    static func toolCall(name: String, arguments: [String: JSONValue], descriptor: JSONValue?) -> Call {
        let annotations = descriptor?["annotations"]?.objectValue ?? [:]
        var risk: Set<String> = ["mcp"]
        let nameWords = words(name)
        var intent = intent(of: nameWords, arguments: arguments)
        if intent == nil, let description = descriptor?["description"]?.stringValue {
            intent = self.intent(of: words(String(description.prefix(200))), arguments: arguments)
        }
        let resolved = intent ?? "invoke"
        if annotations["readOnlyHint"] == .bool(true) {
            // A hint, not evidence: it only confirms what the name already says.
            if resolved == "read" { risk.insert("read-only") } else { risk.insert("annotation-mismatch") }
        }
        if annotations["destructiveHint"] == .bool(true) && annotations["readOnlyHint"] != .bool(true) {
            risk.insert("destructive")
        }
        if annotations["openWorldHint"] == .bool(true) { risk.insert("open-world") }
        if !nameWords.isDisjoint(with: ["delete", "remove", "drop", "destroy", "wipe", "truncate", "purge"]) {
            risk.insert("destructive")
        }
        if !nameWords.isDisjoint(with: ["pay", "payment", "checkout", "purchase", "transfer", "refund", "charge"]) {
            risk.insert("payment")
        }
        if !nameWords.isDisjoint(with: ["browser", "click", "navigate", "goto"]) { risk.insert("browser") }
        if !nameWords.isDisjoint(with: ["secret", "secrets", "credential", "credentials", "password", "token"]) {
            risk.insert("secrets")
        }
        risk.formUnion(RiskTags.scan(arguments))
        return Call(tool: name, intent: resolved, target: target(arguments), args: arguments, risk: risk)
    }

    static func resourceRead(uri: String) -> Call {
        var risk: Set<String> = ["mcp"]
        risk.formUnion(RiskTags.scan(["uri": .string(uri)]))
        return Call(tool: "resources/read", intent: "read", target: uri, args: ["uri": .string(uri)], risk: risk)
    }

    static func promptGet(name: String, arguments: [String: JSONValue]) -> Call {
        var risk: Set<String> = ["mcp"]
        risk.formUnion(RiskTags.scan(arguments))
        return Call(
            tool: "prompts/get", intent: "read", target: name,
            args: ["name": .string(name), "arguments": .object(arguments)], risk: risk)
    }

    /// The first action word wins, most consequential first.
    static func intent(of words: Set<String>, arguments: [String: JSONValue]) -> String? {
        if arguments["command"] != nil || !words.isDisjoint(with: ["shell", "bash", "exec", "execute", "run", "eval"]) {
            return "execute"
        }
        let table: [(String, Set<String>)] = [
            (
                "send",
                [
                    "send", "email", "mail", "post", "publish", "upload", "message", "notify", "transfer", "pay",
                    "checkout", "purchase", "share", "tweet", "reply", "forward",
                ]
            ),
            (
                "write",
                [
                    "write", "edit", "update", "create", "delete", "remove", "push", "patch", "apply", "move",
                    "rename", "insert", "set", "save", "commit", "merge", "drop", "modify", "append", "put", "deploy",
                ]
            ),
            ("click", ["click", "press", "tap", "submit", "type", "fill"]),
            ("navigate", ["navigate", "goto", "open", "browse", "visit"]),
            (
                "read",
                [
                    "read", "get", "list", "search", "query", "fetch", "find", "lookup", "view", "show", "describe",
                    "inbox", "status", "cat", "download", "load", "check", "inspect",
                ]
            ),
        ]
        for (intent, verbs) in table where !words.isDisjoint(with: verbs) { return intent }
        return nil
    }

    /// Lower-cased words of a name: `getUserEmail`, `get_user-email` and `get.user email` alike.
    static func words(_ text: String) -> Set<String> {
        var result: Set<String> = []
        var current = ""
        var previousLower = false
        for ch in text {
            if ch.isLetter || ch.isNumber {
                if ch.isUppercase && previousLower && !current.isEmpty {
                    result.insert(current)
                    current = ""
                }
                current.append(contentsOf: ch.lowercased())
                previousLower = ch.isLowercase
            } else {
                if !current.isEmpty { result.insert(current) }
                current = ""
                previousLower = false
            }
        }
        if !current.isEmpty { result.insert(current) }
        return result
    }

    static func target(_ arguments: [String: JSONValue]) -> String? {
        for key in targetKeys { if let s = arguments[key]?.stringValue, !s.isEmpty { return s } }
        return nil
    }
}
