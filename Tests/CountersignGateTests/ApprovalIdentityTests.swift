import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation
import Testing

/// Who gave a second key is decided by the channel that collected it, never by a name: a reviewer called
/// `auto-approve-ops` is a person, and a rule's reviewers and groups bind every channel.
@Suite("Approval identity")
struct ApprovalIdentityTests {
    struct Votes: ApprovalProvider {
        let channel: String
        let votes: [ApprovalRecord]
        func isAvailable() -> Bool { true }
        func collect(_ request: ApprovalRequest, deadline: ContinuousClock.Instant) async -> [ApprovalRecord] { votes }
    }

    func gate(_ policy: String) throws -> Gate {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cs-ai-\(UUID().uuidString).jsonl")
            .path
        return Gate(
            policy: try Policy.parse(policy),
            writer: LedgerWriter(store: try ReceiptStores.open(path: path), sealer: Sealer(key: SigningKey.generate())))
    }

    let quorumTwo = """
        rules:
          - {id: two, when: {tool: deploy}, decision: ask, approvals: {quorum: 2, reviewers: [alice, bob], timeout: 2s}}
          - {id: sre, when: {tool: restart}, decision: ask, approvals: {groups: [sre], timeout: 2s}}
        """

    @Test func aReviewerNamedLikeAnAutomaticAnswerIsJustAPerson() async throws {
        let gate = try gate(quorumTwo)
        let action = ActionEnvelope(actor: "agent", surface: "shell", tool: "deploy", intent: "execute")
        for name in ["auto-approve", "auto-approve-ops", "auto-anything"] {
            let decision = await gate.decide(
                action,
                providers: [
                    Votes(channel: "tty", votes: [ApprovalRecord(reviewer: name, channel: "tty", verdict: .approve)])
                ])
            #expect(decision.finalDecision != .askApproved, "\(name)")
        }
        // The operator's fixed answer still stands for the whole quorum.
        #expect(await gate.decide(action, providers: [AutoApprove()]).finalDecision == .askApproved)
        // Two named, distinct people meet it.
        let two = await gate.decide(
            action,
            providers: [
                Votes(
                    channel: "tty",
                    votes: [
                        ApprovalRecord(reviewer: "alice", channel: "tty", verdict: .approve),
                        ApprovalRecord(reviewer: "bob", channel: "tty", verdict: .approve),
                    ])
            ])
        #expect(two.finalDecision == .askApproved)
    }

    @Test func groupsBindEveryChannel() async throws {
        let gate = try gate(quorumTwo)
        let action = ActionEnvelope(actor: "agent", surface: "shell", tool: "restart", intent: "execute")
        for channel in ["tty", "elicitation"] {
            let decision = await gate.decide(
                action,
                providers: [
                    Votes(
                        channel: channel,
                        votes: [ApprovalRecord(reviewer: "mallory", channel: channel, verdict: .approve)])
                ])
            #expect(decision.finalDecision == .askRejected, "\(channel)")
            #expect(decision.approvals.first?.note?.contains("not an allowed reviewer") == true)
        }
    }

    @Test func theRuleAdmitsNamedReviewersAndGroupMembers() {
        let requirement = ApprovalRequirement(quorum: 1, reviewers: ["alice"], groups: ["sre"])
        #expect(requirement.admits(reviewer: "alice", groups: []))
        #expect(requirement.admits(reviewer: "carol", groups: ["sre"]))
        #expect(!requirement.admits(reviewer: "mallory", groups: ["dev"]))
        #expect(ApprovalRequirement().admits(reviewer: "anyone", groups: []))
    }
}
