import ArgumentParser
import CountersignCore
import CountersignLedger
import Foundation

/// `countersign init`: the state home a project needs before its adapters run.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Set up a project: the state directory, a starter policy, a signing key pinned for you.",
        discussion: """
            Creates the state directory (.countersign/, or $COUNTERSIGN_HOME) with mode 0700, writes the \
            starter policy to policy.yaml there unless one exists, and creates the signing key and pins its \
            public key in your trust file (so 'countersign verify' reports VALID for what it signs, and \
            hooks and the MCP proxy, which never create a key, find one). Running it again changes nothing. \
            A key already in the directory that you never pinned (a repository can ship one) is refused.
            """)

    func run() throws {
        try reportingErrors {
            let state = StateDirectory.path
            var done: [String] = []
            if !FileManager.default.fileExists(atPath: state) {
                try FileManager.default.createDirectory(
                    atPath: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                done.append("created \(state)/ (mode 0700)")
            }
            let policy = state + "/policy.yaml"
            if !FileManager.default.fileExists(atPath: policy) {
                try InstallCommand.starterPolicy.write(toFile: policy, atomically: true, encoding: .utf8)
                done.append("wrote the starter policy to \(policy) (edit it; check it with countersign policy check)")
            }
            let keyPath = state + "/signing-key"
            if FileManager.default.fileExists(atPath: keyPath) {
                let key = try KeyFile.read(keyPath)
                guard UserTrust.isPinned(key.publicKey) else {
                    throw CLIError(
                        "\(keyPath) (\(key.keyID)) is not a key you created or pinned (\(UserTrust.path)): if it is yours, countersign keys trust --key \(keyPath); otherwise remove it and run init again"
                    )
                }
            } else {
                let key = try KeyResolver.resolve(explicitPath: nil, stateDirectory: state, mode: .create)
                done.append(
                    "created the signing key \(key.key.keyID) at \(keyPath) (mode 0600), pinned in \(UserTrust.path)")
            }
            try Terminal.write(
                (done.isEmpty ? ["\(state)/ is set up already: nothing to change"] : done).joined(separator: "\n")
                    + """


                    Next:
                      countersign install claude-code          # or codex, gemini, cursor
                      countersign mcp proxy -- <MCP server command>
                      countersign serve                        # decision API and approvals dashboard
                      countersign verify                       # after receipts were written

                    """)
        }
    }
}
