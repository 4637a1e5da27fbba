import Foundation
import Testing

@Suite("mcp proxy and serve: usage mistakes are refused with a clear message")
struct AdapterCLITests {
    @Test func proxyUsageErrors() throws {
        let dir = CLI.temporaryDirectory()
        let policy = try CLI.temporaryFile("p.yaml", "default_decision: deny\nrules: []\n")
        let noServer = try CLI.run(["mcp", "proxy", "--policy", policy], in: dir)
        #expect(noServer.status == 64 && noServer.stderr.contains("give the MCP server's command after '--'"))
        let web = try CLI.run(["mcp", "proxy", "--policy", policy, "--approval", "web", "--", "cat"], in: dir)
        #expect(web.status == 64 && web.stderr.contains("--approval web needs --approval-server"))
        let env = try CLI.run(["mcp", "proxy", "--policy", policy, "--allow-env", "A-B", "--", "cat"], in: dir)
        #expect(env.status == 64 && env.stderr.contains("not an environment variable name"))
        _ = try CLI.run(["keys", "generate"], in: dir)
        let missing = try CLI.run(
            ["mcp", "proxy", "--policy", policy, "--", "no-such-server-binary"], stdin: "", in: dir)
        #expect(missing.status == 1 && missing.stderr.contains("cannot find 'no-such-server-binary' on PATH"))
    }

    @Test func serveRefusesAnOpenBindWithoutTokens() throws {
        let dir = CLI.temporaryDirectory()
        let policy = try CLI.temporaryFile("p.yaml", "default_decision: deny\nrules: []\n")
        let open = try CLI.run(["serve", "--policy", policy, "--listen", "0.0.0.0:0"], in: dir)
        #expect(open.status == 1 && open.stderr.contains("requires --api-token-env and a --reviewers file"))
        let bad = try CLI.run(["serve", "--policy", policy, "--listen", "localhost"], in: dir)
        #expect(bad.status == 1 && bad.stderr.contains("expected host:port"))
        let reviewers = try CLI.temporaryFile("r.yaml", "reviewers:\n  - {id: a, token_env: NOT_SET_ANYWHERE_42}\n")
        let unset = try CLI.run(["serve", "--policy", policy, "--reviewers", reviewers], in: dir)
        #expect(unset.status == 1 && unset.stderr.contains("NOT_SET_ANYWHERE_42 must hold a token"))
    }
}
