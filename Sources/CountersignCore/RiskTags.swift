/// Risk tags every adapter reads from an action's arguments, whatever the tool: destructive commands,
/// git pushes, network addresses, secret files and keys, production changes.
public enum RiskTags {
    public static func scan(_ input: [String: JSONValue]) -> Set<String> {
        var tags: Set<String> = []
        JSONValue.object(input).forEachString { text in
            let lower = text.lowercased()
            if lower.contains("rm -rf") || lower.contains("rm -fr") || lower.contains("git reset --hard") {
                tags.insert("destructive")
            }
            if lower.contains("git push") { tags.formUnion(["git", "network"]) }
            if lower.contains("http://") || lower.contains("https://") || lower.contains("curl ")
                || lower.contains("wget ")
            {
                tags.insert("network")
            }
            if lower.contains(".env") || lower.contains("/.ssh/") || lower.contains("id_rsa") || lower.contains(".pem")
            {
                tags.formUnion(["secrets", "critical-file"])
            }
            if lower.contains("kubectl apply") || lower.contains("terraform apply") { tags.insert("prod") }
        }
        for key in input.keys where isSecretKey(key) { tags.insert("secrets") }
        return tags
    }

    /// Argument names that hold credentials.
    public static func isSecretKey(_ key: String) -> Bool {
        let lower = key.lowercased()
        return ["password", "secret", "token", "api_key", "apikey", "authorization"].contains { lower.contains($0) }
    }
}
