import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import CountersignProvenance
import CountersignSignerClient
import Foundation

/// One hook call as a process: what `countersign hook` and the slim `countersign-hook` executable both
/// run. The slim one links only this layer (no server, no proxy, no argument parser), so it starts fast.
public enum HookProcess {
    public struct Options: Sendable {
        public var agent = ""
        public var policy: String?
        public var ledger: String?
        public var sessions: String?
        public var sync = SyncMode.normal
        public var lockTimeout = ReceiptStores.defaultLockTimeout
        public var key: String?
        public var noRedaction = false
        public var approvalServer: String?
        public var approvalServerTokenEnv: String?
        /// The signer service (`--signer`, else `$COUNTERSIGN_SIGNER`): the call is forwarded there and this
        /// process loads no policy, opens no ledger and holds no key.
        public var signer: String?
        public var signerTimeout = HookForwarder.defaultTimeout

        public init() {}

        /// Options that only an embedded hook uses: with a signer they belong to `countersign serve`.
        var embeddedOptionsGiven: [String] {
            var given: [String] = []
            if policy != nil { given.append("--policy") }
            if ledger != nil { given.append("--ledger") }
            if sessions != nil { given.append("--sessions") }
            if key != nil { given.append("--key") }
            if approvalServer != nil { given.append("--approval-server") }
            return given
        }
    }

    public static let usage = """
        usage: countersign-hook <claude-code|codex|gemini|cursor> [--policy FILE] [--ledger PATH] [--sessions PATH]
                                [--key FILE] [--sync normal|full] [--lock-timeout SECONDS] [--no-redaction]
                                [--approval-server URL] [--approval-server-token-env NAME]
               countersign-hook <agent> --signer unix:/PATH|http://HOST:PORT [--signer-timeout SECONDS]
        Answers one hook call from the agent's JSON on stdin (same as `countersign hook`; see docs/hooks.md).
        With --signer (or $COUNTERSIGN_SIGNER) the signer service answers it and this process holds no key.
        Every failure, a usage mistake included, exits 2 (the agent's blocking code) with the reason on stderr.
        """

    /// Parses `countersign-hook` arguments; the message of an error says which argument is wrong.
    public static func parse(_ arguments: [String]) throws(HookArgumentError) -> Options {
        var options = Options()
        var rest = arguments[...]
        func value(_ flag: String) throws(HookArgumentError) -> String {
            guard let next = rest.popFirst(), !next.hasPrefix("--") else {
                throw HookArgumentError(message: "\(flag) needs a value")
            }
            return next
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--policy": options.policy = try value(argument)
            case "--ledger": options.ledger = try value(argument)
            case "--sessions": options.sessions = try value(argument)
            case "--key": options.key = try value(argument)
            case "--approval-server", "--server": options.approvalServer = try value(argument)
            case "--approval-server-token-env": options.approvalServerTokenEnv = try value(argument)
            case "--signer":
                guard options.signer == nil else {
                    throw HookArgumentError(message: "--signer given twice: which signer is meant would be unclear")
                }
                options.signer = try value(argument)
            case "--signer-timeout":
                let text = try value(argument)
                guard let seconds = DurationText.seconds(text), seconds > 0, seconds <= 3600 else {
                    throw HookArgumentError(message: "--signer-timeout \(text): a duration such as 5s (at most 1h)")
                }
                options.signerTimeout = seconds
            case "--no-redaction": options.noRedaction = true
            case "--lock-timeout":
                let text = try value(argument)
                guard let seconds = DurationText.seconds(text) else {
                    throw HookArgumentError(message: "--lock-timeout \(text): a duration such as 5s or 0.5")
                }
                options.lockTimeout = seconds
            case "--sync":
                let text = try value(argument)
                guard let mode = SyncMode(rawValue: text) else {
                    throw HookArgumentError(message: "--sync \(text): normal or full")
                }
                options.sync = mode
            case "-h", "--help": throw HookArgumentError(message: usage, isHelp: true)
            default:
                guard !argument.hasPrefix("-") else {
                    throw HookArgumentError(message: "unknown option '\(argument)'\n" + usage)
                }
                guard options.agent.isEmpty else {
                    throw HookArgumentError(
                        message: "unexpected argument '\(argument)' (the agent is '\(options.agent)')")
                }
                options.agent = argument
            }
        }
        guard !options.agent.isEmpty else { throw HookArgumentError(message: "which agent?\n" + usage) }
        if options.signer == nil { options.signer = HookForwarder.environment(SignerAddress.environmentVariable) }
        if let signer = options.signer {
            let address: SignerAddress
            do {
                address = try SignerAddress.parse(signer)
            } catch {
                throw HookArgumentError(message: "--signer: \(error)")
            }
            if address.needsTLS {
                throw HookArgumentError(
                    message: "--signer \(signer): a hook process reaches the service through unix:PATH or a loopback "
                        + "http:// address (it links no TLS); Claude Code's own HTTP hook speaks https: "
                        + "countersign install claude-code --signer \(signer)")
            }
            if !options.embeddedOptionsGiven.isEmpty {
                throw HookArgumentError(
                    message: "\(options.embeddedOptionsGiven.joined(separator: ", ")) cannot be used with a signer "
                        + "(--signer or $COUNTERSIGN_SIGNER): the service has its own policy, ledger and key")
            }
        }
        return options
    }

    /// With a signer: forward the call and answer what the service answered (or block, if it cannot).
    public static func forwarded(_ options: Options, input: [UInt8]) -> HookResult? {
        guard let signer = options.signer, let address = try? SignerAddress.parse(signer) else { return nil }
        let answer = HookForwarder.forward(
            agent: options.agent, payload: input, address: address, timeout: options.signerTimeout,
            token: HookForwarder.environment("COUNTERSIGN_TOKEN"))
        return HookResult(
            stdout: String(decoding: answer.stdout, as: UTF8.self), stderr: answer.stderr, exitCode: answer.exitCode)
    }

    /// Answers one hook call. Every failure is the agent's blocking answer, recorded when the ledger can be
    /// written.
    public static func answer(
        _ options: Options, input: Data, secondKey: (any ApprovalProvider)? = nil
    ) async -> HookResult {
        guard let dialect = HookDialect(rawValue: options.agent) else {
            return .block("unknown agent '\(options.agent)' (claude-code, codex, gemini, cursor)")
        }
        let state = StateDirectory.path
        do {
            let policy = try Policy.load(path: options.policy ?? state + "/policy.yaml")
            let store = try openStore(options)
            let sealer = try sealer(options)
            do {
                try LedgerCheckpoints.precheck(store: store)
            } catch let divergence as LedgerCheckpoints.Divergence {
                return .block("the ledger was tampered with: \(divergence)")  // nothing is written over it
            }
            let writer = LedgerWriter(store: store, sealer: sealer)
            let sessions = try SessionStore(
                path: options.sessions ?? state + "/sessions.sqlite",
                sealer: ValueSealer(key: sealer.key.derivedKey(ValueSealer.purpose)))
            let gate = Gate(policy: policy, writer: writer, sessions: sessions)
            let result = await HookRunner(dialect: dialect, gate: gate, secondKey: secondKey).run(input)
            return checkpointed(result, store: store, key: sealer.key)
        } catch {
            let reason = "\(error)".split(separator: "\n").first.map(String.init) ?? "setup failed"
            recordSetupFailure(reason, options: options, input: input)
            return .block(reason)
        }
    }

    /// Every hook call leaves the checkpoint beside the ledger covering its receipts, so a cut tail shows
    /// in `verify`. A ledger that no longer extends its checkpoint was cut or rewritten: the call is
    /// blocked (fail closed) until someone looks. Other checkpoint trouble is reported, not fatal.
    static func checkpointed(_ result: HookResult, store: any ReceiptStore, key: SigningKey) -> HookResult {
        do {
            try LedgerCheckpoints.advance(store: store, key: key)
        } catch let divergence as LedgerCheckpoints.Divergence {
            return .block("the ledger \(store.path) was tampered with: \(divergence)")
        } catch {
            FileHandle.standardError.write(Data("countersign: checkpoint: \(error)\n".utf8))
        }
        return result
    }

    static func openStore(_ options: Options) throws -> any ReceiptStore {
        try ReceiptStores.open(
            path: options.ledger ?? StateDirectory.path + "/ledger.sqlite", sync: options.sync,
            lockTimeout: options.lockTimeout)
    }

    static func sealer(_ options: Options) throws -> Sealer {
        let resolved = try KeyResolver.resolve(
            explicitPath: options.key, stateDirectory: StateDirectory.path, ledger: options.ledger)
        if let notice = resolved.notice { FileHandle.standardError.write(Data((notice + "\n").utf8)) }
        return Sealer(key: resolved.key, redactor: Redactor(enabled: !options.noRedaction))
    }

    /// A failure before the Gate exists is still evidence: record it when the ledger can be written.
    static func recordSetupFailure(_ reason: String, options: Options, input: Data) {
        guard let store = try? openStore(options), let sealer = try? sealer(options) else { return }
        let payload = (try? JSONValue.parse(input))?.objectValue ?? [:]
        var draft = ReceiptDraft(
            kind: .decision, status: "blocked", sessionID: payload["session_id"]?.stringValue,
            decision: FinalDecision.deny.rawValue, error: "hook setup failed: \(reason)")
        draft.extra["hook"] = .object([
            "agent": .string(options.agent), "event": payload["hook_event_name"] ?? .null,
            "tool": payload["tool_name"] ?? .null,
        ])
        _ = try? store.append([draft], sealer: sealer)
    }
}

public struct HookArgumentError: Error, CustomStringConvertible {
    public let message: String
    public var isHelp = false
    public var description: String { message }
}
