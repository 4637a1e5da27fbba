import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CountersignServer

/// The decision receipts of one trace, oldest first.
func decisions(_ store: any ReceiptStore, trace: String) throws -> [Receipt] {
    var query = ReceiptQuery()
    query.traceID = trace
    query.kind = "decision"
    return try store.query(query)
}

@Suite struct ApprovalLifecycleTests {
    @Test func aVoteRightAfterThePendingAnswerFindsItsEntry() async throws {
        let h = try ServerHarness()
        try await h.app.test(.router) { client in
            let alice = try await client.session("alice")
            for round in 0..<40 {
                let (_, pending) = try await client.json(
                    "/v1/decide", method: .post, action("anyone", command: "ls \(round)"))
                let id = try #require(pending["approval_id"]?.stringValue)
                let (status, answer) = try await client.json(
                    "/v1/approvals/\(id)/approve", method: .post, headers: alice, ["note": "at once"])
                #expect(status == .ok, "round \(round): \(answer)")
                let (_, final) = try await client.json("/v1/decisions/\(id)?wait=5")
                #expect(final["decision"] == "ask->approved", "round \(round)")
            }
        }
    }

    @Test func anAskIsRecordedPendingBeforeTheAnswerAndItsCloseNamesIt() async throws {
        let h = try ServerHarness()
        try await h.app.test(.router) { client in
            let (_, pending) = try await client.json("/v1/decide", method: .post, action("deploy"))
            #expect(pending["status"] == "pending")
            let id = try #require(pending["decision_id"]?.stringValue)
            let opened = try decisions(h.store, trace: id)
            #expect(opened.count == 1)
            let open = try #require(opened.first)
            #expect(open.status == "pending" && open.decision == "ask" && open.ruleID == "deploy")
            #expect(open.error == nil)
            #expect(open.body["open_ask"]?["decision_id"]?.stringValue == id)
            #expect(open.body["open_ask"]?["requester"] == "unauthenticated")

            _ = try await client.json(
                "/v1/approvals/\(id)/deny", method: .post, headers: try await client.session("alice"), ["note": "no"])
            let (_, denied) = try await client.json("/v1/decisions/\(id)?wait=5")
            #expect(denied["decision"] == "ask->rejected")
            let closing = try #require(try decisions(h.store, trace: id).last)
            #expect(closing.decision == "ask->rejected" && closing.body["closes"]?.stringValue == open.id)
        }
    }

    @Test func aRestartClosesTheAsksAServerLeftOpenAsAbandoned() async throws {
        let first = try ServerHarness()
        let ids = try await first.app.test(.router) { client in
            var ids: [String] = []
            for command in ["a", "b"] {
                let (_, pending) = try await client.json(
                    "/v1/decide", method: .post, action("deploy", command: command))
                ids.append(try #require(pending["decision_id"]?.stringValue))
            }
            // One of them closes before the "crash"; the other is left open.
            for reviewer in ["alice", "carol"] {
                _ = try await client.json(
                    "/v1/approvals/\(ids[0])/approve", method: .post, headers: try await client.session(reviewer), [:])
            }
            let (_, approved) = try await client.json("/v1/decisions/\(ids[0])?wait=5")
            #expect(approved["decision"] == "ask->approved")
            return ids
        }
        // The first server is gone without shutting down (as after kill -9). A hook's deferred ask is pending
        // too, but its agent completes it: a restarted server leaves it alone.
        let second = try ServerHarness(store: first.store)
        let deferred = await second.server.service.gate.decideDeferringAsk(
            try ActionEnvelope(json: action("anyone", command: "hook")["action"]!))
        #expect(deferred.receipt?.status == "pending")

        let closed = try await second.server.service.closeAbandonedAsks()
        #expect(closed.count == 1)
        let abandoned = try #require(closed.first)
        let open = try #require(try decisions(first.store, trace: ids[1]).first)
        #expect(abandoned.traceID == ids[1] && abandoned.kind == "decision")
        #expect(abandoned.status == "blocked" && abandoned.decision == "ask->abandoned")
        #expect(abandoned.body["closes"]?.stringValue == open.id && abandoned.ruleID == "deploy")
        #expect(abandoned.actionHash == open.actionHash && abandoned.action == open.action)
        #expect(abandoned.error?.hasPrefix("ask->abandoned via rule 'deploy'") == true)
        #expect(try decisions(first.store, trace: ids[0]).map(\.decision) == ["ask", "ask->approved"])
        // Closed once: a second start finds nothing left open.
        #expect(try await second.server.service.closeAbandonedAsks().isEmpty)
        let report = try first.store.verify(trust: TrustedSigners(), checkSignatures: true)
        #expect(report.failures.isEmpty)
    }

    @Test func stoppingAbandonsOpenAsksAndAnswersTheirWaitingCallers() async throws {
        let h = try ServerHarness()
        try await h.app.test(.router) { client in
            let (_, pending) = try await client.json("/v1/decide", method: .post, action("deploy"))
            let id = try #require(pending["decision_id"]?.stringValue)
            _ = try await client.json(
                "/v1/approvals/\(id)/approve", method: .post, headers: try await client.session("alice"), [:])
            async let waited = client.json("/v1/decisions/\(id)?wait=60")
            try await Task.sleep(for: .milliseconds(200))
            let started = ContinuousClock.now
            await h.server.service.abandonOpenAsks(limit: .seconds(5))
            let (_, final) = try await waited
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(final["status"] == "denied" && final["decision"] == "ask->abandoned")
            #expect(final["approvals"]?.arrayValue?.count == 1)  // alice's vote, recorded
            let (_, inbox) = try await client.json("/v1/approvals", headers: bearer("carol"))
            #expect(inbox["approvals"]?.arrayValue?.first?["state"] == "abandoned")

            // An ask that arrives while the server stops is closed at once, with its receipts.
            let (_, late) = try await client.json(
                "/v1/decide", method: .post, ["wait": 5, "action": action("deploy", command: "late")["action"]!])
            #expect(late["decision"] == "ask->abandoned")
        }
        let closing = try #require(try h.store.query(ReceiptQuery()).first { $0.decision == "ask->abandoned" })
        #expect(closing.status == "blocked" && closing.body["closes"]?.stringValue != nil)
        #expect(try h.store.query(ReceiptQuery()).contains { $0.kind == "approval" && $0.status == "approve" })
    }

    /// Whatever the actor says (the agent writes it), a timeout on a rule with named reviewers is an expiry.
    @Test(arguments: ["agent-7", "alice", "countersign", "Countersign", "bob"])
    func aTimeoutOnARuleWithReviewersIsAnExpiry(actor: String) async throws {
        let h = try ServerHarness()
        try await h.app.test(.router) { client in
            let (_, answer) = try await client.json(
                "/v1/decide", method: .post, ["wait": 5, "action": action("named", actor: actor)["action"]!])
            #expect(answer["status"] == "denied")
            #expect(answer["decision"] == "ask->expired", "actor \(actor): \(answer)")
            let id = try #require(answer["decision_id"]?.stringValue)
            #expect(try decisions(h.store, trace: id).map(\.decision) == ["ask", "ask->expired"])
        }
        #expect(try h.store.query(ReceiptQuery()).contains { $0.kind == "approval" && $0.status == "expire" })
    }
}

@Suite struct RequesterIdentityTests {
    static let apiToken = "agent-api-token-0123456789"
    static let api: HTTPFields = [.authorization: "Bearer agent-api-token-0123456789"]

    func vote(
        _ client: some TestClientProtocol, _ id: String, as reviewer: String
    ) async throws -> (HTTPResponse.Status, JSONValue) {
        try await client.json(
            "/v1/approvals/\(id)/approve", method: .post, headers: try await client.session(reviewer), [:])
    }

    /// A request made with alice's token is alice's, however the actor is spelled (or whoever it names).
    @Test(arguments: ["alice", "Alice", "ALICE", " alice ", "alice\u{200B}", "\u{0430}lice", "build-bot"])
    func aReviewerCannotApproveWhatTheirOwnTokenRequested(actor: String) async throws {
        let h = try ServerHarness(apiToken: Self.apiToken)
        try await h.app.test(.router) { client in
            let (status, pending) = try await client.json(
                "/v1/decide", method: .post, headers: bearer("alice"), action("deploy", actor: actor))
            #expect(status == .ok && pending["status"] == "pending")
            let id = try #require(pending["approval_id"]?.stringValue)
            let (own, why) = try await vote(client, id, as: "alice")
            #expect(own == .forbidden, "actor \(actor.debugDescription)")
            #expect(why["error"]?.stringValue?.contains("made with your token") == true)
            let (_, listed) = try await client.json("/v1/approvals", headers: bearer("alice"))
            let entry = listed["approvals"]?.arrayValue?.first { $0["id"]?.stringValue == id }
            #expect(entry == nil || entry?["can_vote"] == .bool(false))
            // Two others from the group make the quorum.
            #expect(try await vote(client, id, as: "carol").0 == .ok)
            #expect(try await vote(client, id, as: "agent-7").0 == .ok)
            let (_, final) = try await client.json("/v1/decisions/\(id)?wait=5", headers: Self.api)
            #expect(final["decision"] == "ask->approved")
        }
        let open = try #require(try h.store.query(ReceiptQuery()).first { $0.status == "pending" })
        #expect(open.body["open_ask"]?["requester"] == "reviewer:alice")
    }

    /// The actor is metadata: a request made with the API token that calls itself alice is not alice's.
    @Test(arguments: ["alice", "Alice", " alice"])
    func theActorStringIsNotTheRequester(actor: String) async throws {
        let h = try ServerHarness(apiToken: Self.apiToken)
        try await h.app.test(.router) { client in
            let (_, pending) = try await client.json(
                "/v1/decide", method: .post, headers: Self.api, action("anyone", actor: actor))
            let id = try #require(pending["approval_id"]?.stringValue)
            let (status, answer) = try await vote(client, id, as: "alice")
            #expect(status == .ok, "actor \(actor.debugDescription): \(answer)")
            let (_, final) = try await client.json("/v1/decisions/\(id)?wait=5", headers: Self.api)
            #expect(final["decision"] == "ask->approved")
        }
    }

    /// The same actor string with another token: carol's request naming alice is carol's, not alice's.
    @Test func theSameActorWithAnotherTokenIsAnotherRequester() async throws {
        let h = try ServerHarness(apiToken: Self.apiToken)
        try await h.app.test(.router) { client in
            let (_, pending) = try await client.json(
                "/v1/decide", method: .post, headers: bearer("carol"), action("deploy", actor: "alice"))
            let id = try #require(pending["approval_id"]?.stringValue)
            #expect(try await vote(client, id, as: "carol").0 == .forbidden)
            #expect(try await vote(client, id, as: "alice").0 == .ok)
            #expect(try await vote(client, id, as: "agent-7").0 == .ok)
            let (_, final) = try await client.json("/v1/decisions/\(id)?wait=5", headers: Self.api)
            #expect(final["decision"] == "ask->approved")
            #expect(final["approvals"]?.arrayValue?.compactMap { $0["reviewer"]?.stringValue } == ["alice", "agent-7"])

            // The same for a remote adapter's request (the web channel of a hook or MCP proxy).
            let (_, remote) = try await client.json(
                "/v1/approval-requests", method: .post, headers: bearer("alice"),
                ["action": action("deploy", actor: "carol")["action"]!, "quorum": 1, "timeout": 30])
            let request = try #require(remote["approval_id"]?.stringValue)
            #expect(try await vote(client, request, as: "alice").0 == .forbidden)
            #expect(try await vote(client, request, as: "carol").0 == .ok)

            // A malformed requirement is refused, never read as a laxer one.
            for (key, value) in [
                ("quorum", JSONValue.double(1.5)), ("quorum", "1"), ("quorum", true), ("reviewers", "alice"),
                ("groups", [1]),
            ] {
                let (status, _) = try await client.json(
                    "/v1/approval-requests", method: .post, headers: bearer("alice"),
                    ["action": action("deploy", actor: "carol")["action"]!, key: value, "timeout": 30])
                #expect(status == .badRequest, "\(key): \(value)")
            }
        }
    }

    @Test func unknownTokensAreRefusedAndTheAPITokenCannotBeAReviewers() async throws {
        let h = try ServerHarness(apiToken: Self.apiToken)
        try await h.app.test(.router) { client in
            let (status, _) = try await client.json(
                "/v1/decide", method: .post, headers: [.authorization: "Bearer token-of-mallory-0123456789"],
                action("deploy"))
            #expect(status == .unauthorized)
        }
        let gate = h.server.service.gate
        #expect(throws: CountersignServer.SetupError.self) {
            try CountersignServer(
                gate: gate,
                configuration: .init(
                    host: "127.0.0.1", port: 80, reviewers: ReviewerDirectory(reviewers: [reviewer("alice")]),
                    apiToken: "token-of-alice-0123456789"))
        }
    }
}
