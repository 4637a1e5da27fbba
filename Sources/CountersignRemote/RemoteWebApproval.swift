import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The `web` channel for adapters in another process (the MCP proxy, a hook): the request goes to a
/// `countersign serve` inbox (`POST /v1/approval-requests`) and this waits, long-polling, until its
/// reviewers decide or the deadline passes. The server enforces quorum, groups and self-approval; the
/// Gate checks the votes again.
public struct RemoteWebApproval: ApprovalProvider {
    public let channel = "web"
    /// The server's inbox checks each reviewer against the rule (it knows their groups).
    public var admitsReviewers: Bool { true }
    let server: URL
    let token: String?

    public init(server: URL, token: String?) {
        self.server = server
        self.token = token
    }

    public func isAvailable() -> Bool { true }

    public func collect(_ request: ApprovalRequest, deadline: ContinuousClock.Instant) async -> [ApprovalRecord] {
        let remaining = deadline - .now
        let timeout = Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18
        let body: JSONValue = [
            "action": request.envelope.jsonValue,
            "rule": .string(request.outcome.ruleID), "reason": .string(request.outcome.reason),
            "argument_labels": .array(request.argumentLabels.map(JSONValue.string)),
            "quorum": .int(Int64(request.requirement.quorum)),
            "reviewers": .array(request.requirement.reviewers.map(JSONValue.string)),
            "groups": .array(request.requirement.groups.map(JSONValue.string)),
            "timeout": .double(max(0, timeout)),
        ]
        guard let opened = try? await call("POST", "/v1/approval-requests", body: body, wait: 10),
            let id = opened["approval_id"]?.stringValue
        else {
            return [unreachable("could not open the approval request at \(server.absoluteString)")]
        }
        while ContinuousClock.now < deadline {
            let left = deadline - .now
            let step = min(30, max(0, Double(left.components.seconds)))
            guard
                let answer = try? await call(
                    "GET", "/v1/approval-requests/\(id)?wait=\(Int(step))", body: nil, wait: step + 10)
            else {
                return [unreachable("lost the approval server while waiting")]
            }
            if answer["state"]?.stringValue != "open" {
                var votes = (answer["votes"]?.arrayValue ?? []).compactMap(Self.vote)
                if answer["state"]?.stringValue == "expired" {
                    // The server's clock ran out first: the same expiry as our own deadline passing.
                    votes.append(
                        ApprovalRecord(
                            reviewer: "countersign", channel: "timeout", verdict: .expire,
                            note: "no quorum in the server's inbox in time"))
                }
                return votes
            }
        }
        return []  // the deadline passed: the Gate records ask->expired
    }

    func unreachable(_ note: String) -> ApprovalRecord {
        ApprovalRecord(reviewer: "countersign", channel: channel, verdict: .reject, note: note)
    }

    static func vote(_ value: JSONValue) -> ApprovalRecord? {
        guard let reviewer = value["reviewer"]?.stringValue,
            let verdict = value["verdict"]?.stringValue.flatMap(ApprovalRecord.Verdict.init(rawValue:))
        else { return nil }
        return ApprovalRecord(
            reviewer: reviewer, channel: value["channel"]?.stringValue ?? "web", verdict: verdict,
            note: value["note"]?.stringValue)
    }

    func call(_ method: String, _ path: String, body: JSONValue?, wait: Double) async throws -> JSONValue {
        guard let url = URL(string: path, relativeTo: server) else { throw URLError(.badURL) }
        var request = URLRequest(url: url, timeoutInterval: wait)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(CanonicalJSON.string(body).utf8)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw URLError(.badServerResponse) }
        return try JSONValue.parse(data)
    }
}
