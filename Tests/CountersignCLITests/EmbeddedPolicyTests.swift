import Foundation
import Testing

@testable import CountersignCLI

@Suite("Embedded policies match the documented files")
struct EmbeddedPolicyTests {
    @Test func demoAndStarterPoliciesAreTheExampleFiles() throws {
        func example(_ name: String) throws -> String {
            try String(contentsOf: CLI.root.appendingPathComponent("examples/policies/\(name)"), encoding: .utf8)
        }
        #expect(DemoCommand.embeddedPolicy == (try example("demo.yaml")))
        #expect(InstallCommand.starterPolicy == (try example("starter.yaml")))
        #expect(ShimEval.policy == (try example("mcp-proxy.yaml")))
    }
}

@Suite("verify with a trusted-signers file")
struct TrustedSignersFileTests {
    @Test func pinnedByFile() throws {
        let dir = CLI.temporaryDirectory()
        _ = try CLI.run(["demo", "--ledger", "l.jsonl"], in: dir)
        let shown = try CLI.run(["keys", "show", "--format", "json"], in: dir)
        let key =
            (try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])?["public_key"]
            as! String
        let good = try CLI.temporaryFile(
            "trusted.json", #"{"version": 1, "trusted_keys": [{"public_key": "\#(key)", "label": "ci"}]}"#)
        let verified = try CLI.run(["verify", "l.jsonl", "--trusted-keys", good], in: dir)
        #expect(verified.status == 0, "\(verified.stdout)")
        #expect(verified.stdout.contains("pinned (\(good))"))
        let stranger = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        let other = try CLI.temporaryFile("other.json", #"{"trusted_keys": [{"public_key": "\#(stranger)"}]}"#)
        let refused = try CLI.run(["verify", "l.jsonl", "--trusted-keys", other], in: dir)
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("not a trusted signer"))
        let broken = try CLI.temporaryFile("broken.json", #"{"trusted_keys": [{"public_key": "zz"}]}"#)
        let error = try CLI.run(["verify", "l.jsonl", "--trusted-keys", broken], in: dir)
        #expect(error.status == 1)
        #expect(error.stderr.contains("trusted_keys[0]"))
    }
}
