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
            if credentialStores.contains(where: { lower.contains($0) }) || lower.hasSuffix("/.ssh")
                || lower.hasSuffix("/.aws") || lower.hasSuffix("/.countersign") || lower.hasSuffix("/.gnupg")
            {
                tags.formUnion(["credentials", "secrets", "critical-file"])
            }
            if lower.contains("kubectl apply") || lower.contains("terraform apply") { tags.insert("prod") }
        }
        for key in input.keys where isSecretKey(key) { tags.insert("secrets") }
        return tags
    }

    /// Where keys, tokens and passwords live — the signing key, SSH, cloud and package-registry credentials,
    /// the coding agents' own login files, process environments — matched anywhere in any argument (a path,
    /// a list of paths, a directory, a command), so a read of one is tagged `credentials` whatever the tool.
    public static let credentialStores: [String] = [
        ".countersign/signing-key", "/.ssh/", ".ssh/id_", "/.aws/", ".aws/credentials", ".netrc", ".git-credentials",
        ".config/git/credentials", ".docker/config.json", ".kube/config", ".config/gh/", ".config/gcloud/", "/.azure/",
        "/.gnupg/", ".npmrc", ".pypirc", ".pgpass", ".vault-token", ".cargo/credentials", "credentials.tfrc.json",
        ".claude/.credentials", ".claude.json", ".codex/auth.json", ".gemini/oauth_creds", "id_rsa", "id_ed25519",
        "id_ecdsa", "/environ", ".bash_history", ".zsh_history",
    ]

    /// Argument names that hold credentials.
    public static func isSecretKey(_ key: String) -> Bool {
        let lower = key.lowercased()
        return ["password", "secret", "token", "api_key", "apikey", "authorization"].contains { lower.contains($0) }
    }
}
