import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Foundation

/// The coding agents whose hook protocols Countersign speaks.
public enum HookDialect: String, Sendable, CaseIterable {
    /// Claude Code: allow / deny / ask / defer; exit 2 blocks.
    case claudeCode = "claude-code"
    /// OpenAI Codex CLI: Claude's wire format without `defer`.
    case codex
    /// Gemini CLI: BeforeTool/AfterTool, allow or deny only.
    case gemini
    /// Cursor: before*/after* events answered with `{permission, user_message, agent_message}`.
    case cursor
}

/// What one hook invocation prints and exits with.
public struct HookResult: Sendable, Equatable {
    public var stdout: String
    public var stderr: String
    public var exitCode: Int32

    public init(stdout: String, stderr: String, exitCode: Int32) {
        self.stdout = stdout
        self.stderr = stderr
        self.exitCode = exitCode
    }

    static func json(_ value: JSONValue) -> HookResult {
        HookResult(stdout: CanonicalJSON.string(value) + "\n", stderr: "", exitCode: 0)
    }
    static let silent = HookResult(stdout: "", stderr: "", exitCode: 0)
    /// The agent's blocking signal: exit code 2 with the reason on stderr (never 1, which does not block).
    public static func block(_ reason: String) -> HookResult {
        HookResult(stdout: "", stderr: "Countersign blocked this call: \(reason)\n", exitCode: 2)
    }
}

/// Handles one hook call: one process per call, state shared through the ledger and session store.
public struct HookRunner: Sendable {
    public let dialect: HookDialect
    public let gate: Gate
    /// When set (`--approval-server`), an ask waits here for a second key (the server's inbox) and the
    /// agent gets allow or deny; otherwise the agent's own dialog asks the human.
    public let secondKey: (any ApprovalProvider)?
    /// How far the service can believe what a hook reports (the signer service sets it for its callers).
    public var reports = ReportTrust.embedded

    /// In the embedded mode the hook process is the agent's own: what it reports is as good as the agent's
    /// settings. Through the signer service anything running as the caller's user — the agent's shell
    /// included — can post a hook event, so what a hook *claims* must not relax the policy.
    public struct ReportTrust: Sendable {
        /// Whether a reported user prompt clears the integrity labels of the values it contains.
        public var promptsDeclassify: Bool
        /// Set through the service: whose report an approval or prompt was (`uid:N`), recorded with it.
        public var reporter: String?
        /// Set for callers on another user's socket: their sessions are kept apart (`uid:N/…`) from every
        /// other caller's, so one agent cannot read or feed another's labels.
        public var sessionPrefix: String?

        public static let embedded = ReportTrust(promptsDeclassify: true, reporter: nil, sessionPrefix: nil)

        public init(promptsDeclassify: Bool, reporter: String?, sessionPrefix: String?) {
            self.promptsDeclassify = promptsDeclassify
            self.reporter = reporter
            self.sessionPrefix = sessionPrefix
        }
    }

    public init(dialect: HookDialect, gate: Gate, secondKey: (any ApprovalProvider)? = nil) {
        self.dialect = dialect
        self.gate = gate
        self.secondKey = secondKey
    }

    /// The session a payload belongs to, kept apart per caller where the service says so.
    func session(_ id: String) -> String { (reports.sessionPrefix ?? "") + id }

    /// What to answer the agent: the policy's outcome, except that an ask the agent's own dialog cannot
    /// satisfy (the Gate rejected it) is a deny naming what the rule needs.
    static func answerable(_ decision: GateDecision) -> PolicyOutcome {
        guard decision.outcome.decision == .ask, decision.finalDecision == .askRejected else { return decision.outcome }
        return PolicyOutcome(decision: .deny, ruleID: decision.outcome.ruleID, reason: decision.reason)
    }

    public func run(_ input: Data) async -> HookResult {
        let payload: [String: JSONValue]
        do {
            guard case .object(let object) = try JSONValue.parse(input) else {
                return .block("the hook payload is not a JSON object")
            }
            payload = object
        } catch {
            return await unreadable(input, error: "the hook payload is not valid JSON (\(error))")
        }
        guard let event = payload["hook_event_name"]?.stringValue else {
            return .block("the hook payload has no hook_event_name")
        }
        do {
            return try await handle(event, payload)
        } catch {
            // Deciding events block; reporting events must not break the agent, but say why.
            if [.decide, .permissionRequest, .prompt].contains(dialect.stage(event)) {
                return .block("internal error: \(error)")
            }
            return HookResult(stdout: "", stderr: "countersign: could not record \(event): \(error)\n", exitCode: 0)
        }
    }

    func handle(_ event: String, _ payload: [String: JSONValue]) async throws -> HookResult {
        let stage = dialect.stage(event)
        if stage == .decide || stage == .permissionRequest, let problem = dialect.malformedDecision(event, payload) {
            return .block(problem)
        }
        switch stage {
        case .decide:
            let envelope = try envelope(event, payload)
            // The common case, no second key involved: committed on this thread when the ledger is idle.
            if let quick = await gate.decideCommitting(envelope) {
                if let error = quick.internalError { return .block(error) }
                return dialect.answer(event, quick.outcome)
            }
            if let secondKey {
                let decision = await gate.decide(envelope, providers: [secondKey])
                if let error = decision.internalError { return .block(error) }
                guard decision.outcome.decision == .ask else { return dialect.answer(event, decision.outcome) }
                let resolved = PolicyOutcome(
                    decision: decision.allowed ? .allow : .deny, ruleID: decision.outcome.ruleID,
                    reason: "\(decision.finalDecision.rawValue): \(decision.reason)")
                return dialect.answer(event, resolved)
            }
            // Where the agent cannot ask, an ask needs another channel; with none it is rejected and recorded so.
            let decision =
                dialect.canAsk(at: event)
                ? await gate.decideDeferringAsk(envelope) : await gate.decide(envelope, providers: [])
            if let error = decision.internalError { return .block(error) }
            return dialect.answer(event, Self.answerable(decision))
        case .permissionRequest:
            let envelope = try envelope(event, payload)
            let decision = await gate.decideDeferringAsk(envelope)
            if let error = decision.internalError { return .block(error) }
            switch Self.answerable(decision).decision {
            case .ask: return .silent  // leave the agent's own dialog to the human
            case .allow:
                return .json([
                    "hookSpecificOutput": ["hookEventName": "PermissionRequest", "decision": ["behavior": "allow"]]
                ])
            case .deny:
                return .json([
                    "hookSpecificOutput": [
                        "hookEventName": "PermissionRequest",
                        "decision": [
                            "behavior": "deny",
                            "message": .string(
                                "Countersign denied this via rule '\(decision.outcome.ruleID)': \(Self.answerable(decision).reason)"
                            ),
                            "interrupt": false,
                        ],
                    ]
                ])
            }
        case .after, .afterFailure:
            let envelope = try envelope(event, payload)
            let call = dialect.toolCall(event, payload)
            let prior = try await priorDecision(envelope)
            let failed = dialect.stage(event) == .afterFailure
            var status = failed ? "error" : "executed"
            var approval: ApprovalRecord?
            switch prior?.decision {
            case "allow"?: break
            case "ask"? where dialect.canAsk:
                approval = ApprovalRecord(
                    reviewer: "\(dialect.rawValue):user", channel: "hook-native", verdict: .approve,
                    note: reports.reporter.map {
                        "reported by the agent's hook (\($0)): its own permission dialog allowed the call; the "
                            + "service cannot confirm that a person answered"
                    } ?? "the agent's own permission dialog allowed the call")
            default:
                // No allow on record: the hook was skipped or ignored, or the call ran despite a deny.
                status = "unmediated"
            }
            try await gate.recordReportedOutcome(
                envelope, status: status, result: failed ? nil : call.output,
                error: failed
                    ? (call.error ?? "tool failed") : (status == "unmediated" ? unmediatedReason(prior) : nil),
                decision: prior?.decision, approval: approval)
            return .silent
        case .permissionDenied:
            let envelope = try envelope(event, payload)
            try await gate.recordReportedOutcome(
                envelope, status: "permission_denied", result: nil,
                error: payload["reason"]?.stringValue ?? "permission denied",
                decision: "deny")
            return .silent
        case .prompt:
            // Through the service a prompt is a claim by whoever posted it: it does not clear labels there.
            if let prompt = dialect.prompt(payload), reports.promptsDeclassify {
                try gate.recordPrompt(sessionID: session(dialect.sessionID(payload)), text: prompt)
            }
            return dialect == .cursor ? .json(["continue": true]) : .silent
        case .ignore:
            return .silent  // SessionStart, SessionEnd, Stop, … need no decision
        }
    }

    /// A payload that cannot be parsed. Before a tool runs, that blocks. After it ran (an after-event, as far
    /// as the raw text tells), blocking changes nothing: the output's labels are kept for the whole session
    /// instead (every later argument carries them, since nobody can tell which values the agent saw) and
    /// the outcome is recorded.
    func unreadable(_ input: Data, error reason: String) async -> HookResult {
        let text = String(decoding: input.prefix(1 << 20), as: UTF8.self)
        guard let event = Self.rawField("hook_event_name", in: text),
            [.after, .afterFailure].contains(dialect.stage(event)),
            let session = (Self.rawField("session_id", in: text) ?? Self.rawField("conversation_id", in: text))
                .map(session)
        else {
            return .block(reason)
        }
        let tool = Self.rawField("tool_name", in: text) ?? "unknown"
        let mapped = ToolMapping.map(tool: tool, input: [:])
        let envelope = ActionEnvelope(
            actor: dialect.rawValue, surface: mapped.surface, tool: tool, intent: mapped.intent, sessionID: session,
            traceID: Self.rawField("tool_use_id", in: text).map { "\(session):\($0)" },
            metadata: ["hook_event_name": .string(event)], createdAt: Timestamp.now())
        do {
            try await gate.recordUnreadableOutcome(envelope, error: reason)
        } catch {
            return .block("\(reason) (and the outcome could not be recorded: \(error))")
        }
        return HookResult(
            stdout: "",
            stderr: "countersign: \(reason); the session now treats every argument as carrying the output's labels\n",
            exitCode: 0)
    }

    /// A top-level string field read from raw (unparseable) JSON text: `"name": "value"`, plain characters only.
    static func rawField(_ name: String, in text: String) -> String? {
        guard let range = text.range(of: "\"\(name)\"") else { return nil }
        var rest = text[range.upperBound...].drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard rest.first == "\"" else { return nil }
        let value = rest.dropFirst().prefix { $0 != "\"" && $0 != "\\" && $0 != "\n" }
        guard !value.isEmpty, value.count <= 256, rest.dropFirst().dropFirst(value.count).first == "\"" else {
            return nil
        }
        return String(value)
    }

    func unmediatedReason(_ prior: Receipt?) -> String {
        guard let prior else { return "the tool ran with no decision on record (a skipped or ignored hook)" }
        return "the tool ran although the decision was \(prior.decision ?? "unknown") (rule \(prior.ruleID ?? "?"))"
    }

    /// The decision recorded for this tool use by its PreToolUse or PermissionRequest hook.
    func priorDecision(_ envelope: ActionEnvelope) async throws -> Receipt? {
        guard let trace = envelope.traceID else { return nil }
        var query = ReceiptQuery()
        query.traceID = trace
        query.kind = "decision"
        query.descending = true
        return try await gate.receipts(query).first
    }

    /// One envelope per tool use; the before and after events of one call share its trace and hash.
    func envelope(_ event: String, _ payload: [String: JSONValue]) throws -> ActionEnvelope {
        let call = dialect.toolCall(event, payload)
        let (arguments, narration, argv) = ToolMapping.split(tool: call.tool, input: call.input)
        let mapped = ToolMapping.map(tool: call.tool, input: arguments)
        let session = session(dialect.sessionID(payload))
        // Without a tool-use id (Gemini, Cursor), the call's input identifies it: before and after agree. The
        // hash is keyed (the signer's derived key): a plain one of the raw input would confirm a guessed secret.
        let keyed = gate.keyedHash(
            .object(["tool": .string(call.tool), "input": .object(call.input)]))
        let useID = call.useID ?? String(keyed.split(separator: ":").last ?? "").prefix(16).description
        var metadata: [String: JSONValue] = [:]
        for key in [
            "cwd", "permission_mode", "transcript_path", "agent_id", "agent_type", "model", "generation_id",
            "workspace_roots",
        ] {
            if let value = payload[key], !value.isNull { metadata[key] = value }
        }
        metadata["tool_use_id"] = .string(useID)
        if !narration.isEmpty { metadata["narration"] = .object(narration) }
        if let argv { metadata["argv"] = argv }
        return ActionEnvelope(
            actor: dialect.rawValue + (mapped.actorSuffix.map { ":" + $0 } ?? ""), surface: mapped.surface,
            tool: call.tool,
            intent: mapped.intent, target: mapped.target, args: arguments, risk: mapped.risk.sorted(),
            sessionID: session,
            traceID: "\(session):\(useID)", metadata: metadata, createdAt: Timestamp.now())
    }
}
