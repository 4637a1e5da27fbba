/// What a policy says about an action.
public enum Decision: String, Sendable, Hashable, CaseIterable, Codable {
    case allow
    case ask
    case deny
}

/// What finally happened to an action after any second key: the value receipts record.
public enum FinalDecision: String, Sendable, Hashable, CaseIterable, Codable {
    case allow
    case deny
    case askApproved = "ask->approved"
    case askRejected = "ask->rejected"
    case askExpired = "ask->expired"
    /// The ask was still open when the process holding it stopped (or died): nobody can answer it any more.
    case askAbandoned = "ask->abandoned"

    public var allowsExecution: Bool { self == .allow || self == .askApproved }
}
