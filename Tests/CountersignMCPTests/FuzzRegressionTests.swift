import CountersignCore
import Foundation
import Testing

@testable import CountersignMCP

/// Inputs the fuzz-mcp target (Fuzz/, docs/security.md) found; each crashed a broken invariant before its fix.
@Suite struct MCPFuzzRegressionTests {
    /// A message with an id that is not one and no `"jsonrpc": "2.0"` was answered with that id echoed
    /// (`"id":[1]`), which is not a JSON-RPC response a client can match. The id is checked first now,
    /// and the answer carries a null id.
    @Test func anInvalidIdIsNeverEchoedEvenWhenTheVersionIsWrongToo() throws {
        for text in [
            #"{"jsonrpcsonrpc":"2.0","id":[1],"method":"ping"}"#, #"{"jsonrpc":"1.0","id":{"a":1},"method":"ping"}"#,
            #"{"id":1.5,"result":{}}"#,
        ] {
            let error = #expect(throws: JSONRPCError.self) { try JSONRPCMessage(try JSONValue.parse(text)) }
            #expect(error?.code == JSONRPCError.invalidRequestCode)
            #expect(error?.id == nil)
            let response = try #require(error?.response())
            #expect(response.id == .null)
            #expect(try JSONRPCMessage(JSONValue.parse(response.line)) == response)
        }
    }

    @Test func theProxyAnswersTheFuzzedLineWithAWellFormedError() async throws {
        let h = try Harness()
        await h.client(#"{"jsonrpcsonrpc":"2.0","id":[1],"method":"ping"}"#)
        let answer = try #require(await h.outlet.clientMessage { $0["error"] != nil })
        #expect(answer["id"] == .null)
        #expect(answer["error"]?["code"] == .int(JSONRPCError.invalidRequestCode))
        for message in h.outlet.toClient { _ = try JSONRPCMessage(message) }
        #expect(h.outlet.toServer.isEmpty)
    }
}
