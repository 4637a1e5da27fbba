import CountersignCore
import CountersignLedger
import Foundation

/// How an ask is settled when the policy asks for a second key.
public enum DecisionMode: Sendable {
    /// Put the ask to these approval channels (nil: the Gate's own) and wait for the second key.
    case secondKey([any ApprovalProvider]?)
    /// Leave the ask to the agent's own dialog: recorded as `ask`, status `pending` (see
    /// `Gate.decideDeferringAsk`).
    case deferAsk
}

/// The one interface an adapter decides and records through: the in-process `Gate` (embedded mode) or
/// the signer service's client (`RemoteGate`, with `--signer`). Adapters never reach the ledger, the
/// writer or the key themselves, so each is written once for both modes.
public protocol GateService: Sendable {
    /// Seconds an approval may take when the rule does not say.
    var defaultApprovalTimeout: Double { get }

    /// Decides at once when no second key is involved, submitting the decision receipt (`commit` says
    /// when it is durable); nil when that is not possible here — call `decide`.
    func decideSubmitting(_ envelope: ActionEnvelope) -> GateDecision?

    /// Decides, settling an ask as `mode` says; the decision receipt is committed before this returns.
    func decide(_ envelope: ActionEnvelope, mode: DecisionMode) async -> GateDecision

    /// Records what happened when an allowed action ran. The output's labels reach the session before
    /// any later decision is made.
    @discardableResult
    func submitOutcome(of decision: GateDecision, status: String, result: JSONValue?, error: String?) throws
        -> CommitTicket

    /// Records something an adapter observed that is not an action (a session's identity, descriptors).
    @discardableResult
    func submitEvent(sessionID: String?, status: String, fields: [String: JSONValue]) -> CommitTicket

    /// Receipts matching a query (the adapter's own view of the record).
    func receipts(_ query: ReceiptQuery) async throws -> [Receipt]

    /// The ledger's verification report, as `countersign verify --format json` prints it.
    func verify() async throws -> JSONValue

    /// Waits until everything submitted so far is recorded.
    func flush() async
}

extension GateService {
    public func submitOutcome(of decision: GateDecision, status: String) throws -> CommitTicket {
        try submitOutcome(of: decision, status: status, result: nil, error: nil)
    }
}

extension Gate: GateService {
    public func decide(_ envelope: ActionEnvelope, mode: DecisionMode) async -> GateDecision {
        switch mode {
        case .secondKey(let providers): await decide(envelope, providers: providers)
        case .deferAsk: await decideDeferringAsk(envelope)
        }
    }

    public func receipts(_ query: ReceiptQuery) async throws -> [Receipt] {
        try writer.store.query(query)
    }

    public func verify() async throws -> JSONValue {
        _ = try? writer.checkpointer?.checkpointNow()
        return try writer.store.verifyLedger(trust: try UserTrust.load(), allowEmpty: true).json
    }

    public func flush() async { await writer.flush() }

    /// The keyed hash the ledger uses for values it must not reveal (a guessed secret cannot be confirmed).
    public func keyedHash(_ value: JSONValue) -> String { redactor.protectedHash(value) }

    /// Where the ledger lives (absolute) and who signs it: what `/readyz` and `countersign doctor` report.
    public var ledgerPath: String { URL(fileURLWithPath: writer.store.path).standardizedFileURL.path }
    public var signerKeyID: String { writer.sealer.key.keyID }

    /// What previews shown to reviewers are redacted with (the ledger's own redactor).
    public var previewRedactor: Redactor { redactor }

    /// Whether the ledger answers at all.
    public func ledgerIsReadable() throws { _ = try writer.store.count() }
}
