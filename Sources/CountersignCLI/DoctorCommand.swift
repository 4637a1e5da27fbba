import ArgumentParser
import CountersignCore
import CountersignHooks
import CountersignLedger
import CountersignSignerClient
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `countersign doctor`: what protects the record here, in plain words — and what does not.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check a set-up and say in plain words what protects the record.",
        discussion: """
            Reports the signer mode (embedded in each adapter, or the signer service at --signer / \
            $COUNTERSIGN_SIGNER / the address the installed hooks use), whether the service answers and as \
            which user, where the key and the ledger live and whether you — and so an agent running as you — \
            could read the key or rewrite the ledger, the hooks installed for each agent (project and user \
            scope) and whether they fail closed, the trust file and the witnesses. Exit 0 when nothing is \
            broken, 1 when something is (a signer that does not answer, a ledger that does not extend its \
            checkpoint); weaknesses that are a choice (the embedded mode) are reported, not failed.
            """)

    @Option(help: ArgumentHelp("The signer service to check (unix:/PATH or http://HOST:PORT).", valueName: "addr"))
    var signer: String?
    @Option(help: ArgumentHelp("The embedded ledger (default .countersign/ledger.sqlite).", valueName: "path"))
    var ledger: String?

    func run() throws {
        try reportingErrors {
            var doctor = Doctor()
            let hooks = doctor.hooks()
            let address =
                signer ?? ProcessInfo.processInfo.environment[SignerAddress.environmentVariable]
                .flatMap { $0.isEmpty ? nil : $0 } ?? hooks.compactMap(\.signer).first
            if let address {
                doctor.service(
                    address,
                    source: signer != nil
                        ? "--signer"
                        : hooks.contains { $0.signer == address }
                            && ProcessInfo.processInfo.environment[SignerAddress.environmentVariable] == nil
                            ? "the installed hooks" : "$COUNTERSIGN_SIGNER")
            }
            if address == nil || ledger != nil || hooks.contains(where: { $0.signer == nil }) {
                doctor.embedded(ledger: ledger ?? StateDirectory.defaultLedger)
            }
            doctor.trust()
            doctor.witnesses()
            doctor.summary(hooks: hooks)
            try Terminal.write(doctor.lines.joined(separator: "\n") + "\n")
            if doctor.broken { throw ExitCode(1) }
        }
    }
}

/// The checks, each adding plain lines; `broken` when something does not work (not merely weak).
struct Doctor {
    var lines: [String] = ["Countersign doctor — what protects the record here", ""]
    var broken = false
    let uid = getuid()
    /// What the signer check found: nil (none checked), or whether the service runs as another user.
    var serviceSeparate: Bool?

    struct InstalledHook {
        let agent: String
        let file: String
        let signer: String?
        let failClosed: Bool
        let kind: String
        var problems: [String] = []
    }

    mutating func section(_ title: String, _ body: [String]) {
        lines.append(title)
        lines.append(contentsOf: body.map { "  " + $0 })
        lines.append("")
    }

    // MARK: - Hooks

    mutating func hooks() -> [InstalledHook] {
        var found: [InstalledHook] = []
        var body: [String] = []
        for dialect in HookDialect.allCases {
            for scope in HookInstaller.Scope.allCases {
                let installer = HookInstaller(
                    dialect: dialect, scope: scope, home: homeDirectory,
                    project: FileManager.default.currentDirectoryPath, arguments: [], timeoutSeconds: 0)
                guard let data = FileManager.default.contents(atPath: installer.settingsPath) else { continue }
                guard case .object(let root)? = try? JSONValue.parse(data) else {
                    if String(decoding: data, as: UTF8.self).contains("countersign") {
                        broken = true
                        body.append("PROBLEM: \(installer.settingsPath) is not a JSON object: the agent may ignore it")
                    }
                    continue
                }
                let entries = Self.ourEntries(root, agent: dialect.rawValue)
                guard !entries.isEmpty else { continue }
                let hook = Self.classify(entries, agent: dialect.rawValue, file: installer.settingsPath)
                found.append(hook)
                var line = "\(dialect.rawValue) (\(scope.rawValue), \(installer.settingsPath)): \(hook.kind)"
                if dialect == .claudeCode {
                    line +=
                        hook.failClosed
                        ? "; fails closed (onFailure: block)" : "; NOT fail-closed (no onFailure: block)"
                }
                body.append(line)
                for problem in hook.problems {
                    broken = true
                    body.append("PROBLEM: \(problem)")
                }
            }
        }
        // Claude Code turns every hook off with one setting, in any of its settings files.
        let claude = [
            FileManager.default.currentDirectoryPath + "/.claude/settings.json",
            FileManager.default.currentDirectoryPath + "/.claude/settings.local.json",
            homeDirectory + "/.claude/settings.json",
        ]
        for path in claude {
            if let data = FileManager.default.contents(atPath: path), let root = try? JSONValue.parse(data),
                root["disableAllHooks"] == .bool(true)
            {
                broken = true
                body.append("PROBLEM: \(path) sets \"disableAllHooks\": true — Claude Code runs no hook at all")
            }
        }
        section("Hooks", body.isEmpty ? ["none installed here (countersign install <agent> [--signer ADDR])"] : body)
        return found
    }

    /// Every hook in a settings file that runs Countersign or posts to its hook endpoint: the command or URL,
    /// and whether the entry fails closed.
    static func ourEntries(_ root: [String: JSONValue], agent: String) -> [(text: String, http: Bool, onFailure: Bool)]
    {
        var found: [(text: String, http: Bool, onFailure: Bool)] = []
        for (_, list) in root["hooks"]?.objectValue ?? [:] {
            for entry in list.arrayValue ?? [] {
                for hook in entry["hooks"]?.arrayValue ?? [entry] {
                    let blocks = hook["onFailure"]?.stringValue == "block"
                    if let url = hook["url"]?.stringValue, url.contains("/v1/hooks/") {
                        found.append((url, true, blocks))
                    } else if let command = hook["command"]?.stringValue, command.contains("countersign") {
                        found.append((command, false, blocks))
                    }
                }
            }
        }
        return found
    }

    static func classify(
        _ entries: [(text: String, http: Bool, onFailure: Bool)], agent: String, file: String
    ) -> InstalledHook {
        var problems: [String] = []
        var signers: Set<String> = []
        var embedded = false
        for entry in entries {
            if entry.http {
                if entry.text.hasSuffix("/v1/hooks/\(agent)") {
                    signers.insert(String(entry.text.dropLast("/v1/hooks/\(agent)".count)))
                } else {
                    problems.append("an HTTP hook in \(file) posts to \(entry.text), not to /v1/hooks/\(agent)")
                }
                continue
            }
            switch commandShape(entry.text, agent: agent) {
            case .failure(let problem): problems.append("\(file): \(problem): \(entry.text)")
            case .success(let signer?): signers.insert(signer)
            case .success(nil): embedded = true
            }
        }
        if signers.count > 1 {
            problems.append("\(file) sends \(agent)'s hooks to several signers: \(signers.sorted())")
        }
        if !signers.isEmpty && embedded { problems.append("\(file) mixes embedded hooks and hooks to a signer") }
        let failClosed = entries.allSatisfy(\.onFailure)
        let signer = signers.sorted().first
        let kind =
            signer == nil
            ? "embedded hook (signs with a key of the agent's user)"
            : entries.contains(where: \.http)
                ? "HTTP hook to the signer service at \(signer!)"
                : "thin command hook to the signer service at \(signer!)"
        return InstalledHook(
            agent: agent, file: file, signer: signer, failClosed: failClosed, kind: kind, problems: problems)
    }

    /// A hook command is exactly what `install` writes, or it is reported: shell syntax around it (`|| true`,
    /// `; exit 0`), an environment prefix or a repeated option can change what runs or what its exit means.
    /// Success carries the signer address, if any.
    static func commandShape(_ command: String, agent: String) -> Result<String?, HookShapeError> {
        let words = ShellQuote.split(command)
        guard ShellQuote.join(words) == command, let program = words.first else {
            return .failure(HookShapeError("not written the way countersign install writes it"))
        }
        var rest = words.dropFirst()
        if program == "countersign" || program.hasSuffix("/countersign") {
            guard rest.first == "hook" else { return .failure(HookShapeError("runs countersign, but not its hook")) }
            rest = rest.dropFirst()
        } else if !(program.hasSuffix("countersign-hook") || program.hasSuffix("countersign-hook-client")) {
            return .failure(HookShapeError("runs \(program), not a Countersign hook"))
        }
        guard rest.first == agent else { return .failure(HookShapeError("is not \(agent)'s hook")) }
        rest = rest.dropFirst()
        var seen: Set<String> = []
        var signer: String?
        while let flag = rest.popFirst() {
            guard flag.hasPrefix("--") else { return .failure(HookShapeError("has an unexpected argument '\(flag)'")) }
            guard seen.insert(flag).inserted else { return .failure(HookShapeError("gives \(flag) twice")) }
            if flag == "--no-redaction" { continue }
            guard let value = rest.popFirst() else { return .failure(HookShapeError("\(flag) has no value")) }
            if flag == "--signer" { signer = value }
        }
        return .success(signer)
    }

    struct HookShapeError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: - The signer service

    mutating func service(_ text: String, source: String) {
        var body = ["address: \(text) (from \(source))"]
        defer { section("Signer service", body) }
        let address: SignerAddress
        do { address = try SignerAddress.parse(text) } catch {
            broken = true
            body.append("PROBLEM: \(error)")
            return
        }
        if case .unix(let path) = address {
            var info = stat()
            if stat(path, &info) == 0 {
                let owner = Self.userName(info.st_uid)
                body.append(
                    "socket \(path): owner \(owner), group \(Self.groupName(info.st_gid)), mode \(String(info.st_mode & 0o777, radix: 8))"
                )
            }
        }
        let response: SignerHTTP.Response
        do {
            var client = SignerHTTP(address: address, timeout: 5)
            client.checksPeer = false  // reported below instead
            response = try client.get("/readyz")
        } catch {
            broken = true
            body.append("PROBLEM: \(error). Every hook call is blocked until it answers (fail closed).")
            return
        }
        guard response.status == 200, case .object(let ready)? = try? JSONValue.parse(Data(response.body)) else {
            broken = true
            body.append(
                "PROBLEM: /readyz answered HTTP \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))"
            )
            return
        }
        body.append(
            "answers: ready; policy \(ready["policy"]?.stringValue ?? "?"), key \(ready["key_id"]?.stringValue ?? "?")")
        if case .http = address {
            body.append(
                "over HTTP the service cannot tell who calls: receipts say isolation \"remote\"; a Unix socket measures the caller's uid"
            )
        }
        // Who answered, from the kernel on a socket (what /readyz says of itself is only a claim).
        let claimed = ready["service_uid"]?.numberValue.map { Int64($0) }
        if let measured = response.peerUID, let claimed, claimed != Int64(measured) {
            broken = true
            body.append(
                "PROBLEM: the process on the socket runs as \(Self.userName(measured)) (uid \(measured)) but claims uid "
                    + "\(claimed): it is not the signer it says it is")
        }
        if let measured = response.peerUID {
            do { try SignerPeer.check(measured, address: address) } catch {
                broken = true
                body.append("PROBLEM: \(error)")
            }
        }
        if let serviceUID = response.peerUID.map({ Int64($0) }) ?? claimed {
            let owner = Self.userName(uid_t(serviceUID))
            serviceSeparate = serviceUID != Int64(uid)
            if serviceUID == Int64(uid) {
                body.append(
                    "the service runs as you (\(owner)): receipts say \"same-user\" — an agent running as you could stop it and rewrite its files"
                )
            } else {
                body.append(
                    "the service runs as \(owner) (uid \(serviceUID)); you are \(Self.userName(uid)) (uid \(uid)): receipts say \"separate-user\""
                )
            }
        }
        if let ledger = ready["ledger"]?.stringValue {
            body.append(
                access(ledger, W_OK) == 0
                    ? "ledger \(ledger): YOU CAN WRITE IT — so could an agent running as you"
                    : "ledger \(ledger): you cannot write it")
            let key = (ledger as NSString).deletingLastPathComponent + "/signing-key"
            if FileManager.default.fileExists(atPath: key)
                || access((key as NSString).deletingLastPathComponent, X_OK) == 0
            {
                body.append(
                    access(key, R_OK) == 0
                        ? "key \(key): YOU CAN READ IT — so could an agent running as you, and sign anything"
                        : "key \(key): you cannot read it")
            }
        }
    }

    // MARK: - Embedded

    mutating func embedded(ledger: String) {
        var body: [String] = []
        let directory = (ledger as NSString).deletingLastPathComponent
        let key = directory + "/signing-key"
        for (path, what) in [(key, "signing key"), (ledger, "ledger"), (directory + "/policy.yaml", "policy")] {
            var info = stat()
            guard stat(path, &info) == 0 else {
                body.append("\(what) \(path): none")
                continue
            }
            let mode = String(info.st_mode & 0o777, radix: 8)
            var line = "\(what) \(path): owner \(Self.userName(info.st_uid)), mode \(mode)"
            if what == "signing key" && access(path, R_OK) == 0 {
                line += " — you can read it: an agent running as you could sign a rewritten ledger"
            } else if what != "signing key" && access(path, W_OK) == 0 {
                line += " — you can write it: so could an agent running as you"
            }
            body.append(line)
        }
        if FileManager.default.fileExists(atPath: ledger) {
            do {
                let store = try ReceiptStores.open(path: ledger, sync: .normal)
                try LedgerCheckpoints.precheck(store: store)
                body.append("the ledger extends its checkpoint (\(try store.count()) receipts)")
            } catch {
                broken = true
                body.append("PROBLEM: \(error)")
            }
        }
        body.append(
            "embedded mode: each hook or proxy signs as the agent's own user (isolation \"same-user\"); the "
                + "signer service under another user keeps the key and ledger out of reach (docs/deployment.md)")
        section("Embedded ledger", body)
    }

    mutating func summary(hooks: [InstalledHook]) {
        var body: [String] = []
        let embedded = hooks.filter { $0.signer == nil }.map(\.agent)
        switch broken ? nil : serviceSeparate {
        case true?:
            body.append(
                "the key and the ledger are out of your user's reach: receipts of calls through the socket say "
                    + "\"separate-user\" with your uid")
        case false?:
            body.append(
                "one service holds the key and the ledger, but it runs as you: anything running as you could "
                    + "rewrite the record (countersign system install runs it as its own user)")
        case nil:
            body.append(
                broken
                    ? "the signer service does not answer: every call through it is blocked until it does"
                    : "anything running as you — the agent included — could read the key and rewrite the record; "
                        + "verify still catches every edit made without the key")
        }
        if !embedded.isEmpty && serviceSeparate != nil {
            body.append(
                "the hooks of \(embedded.joined(separator: ", ")) still sign for themselves (embedded): "
                    + "countersign install AGENT --signer ADDR")
        }
        section("In short", body)
    }

    // MARK: - Trust and witnesses

    mutating func trust() {
        let path = UserTrust.path
        guard let trusted = try? UserTrust.load() else {
            section("Trust", ["\(path): cannot be read — verify reports UNVERIFIED (exit 3) until a key is pinned"])
            return
        }
        section(
            "Trust",
            [
                trusted.keys.isEmpty
                    ? "\(path): no pinned keys (countersign keys trust --key FILE pins one)"
                    : "\(path): \(trusted.keys.count) pinned key(s) (\(trusted.keys.keys.sorted().joined(separator: ", ")))",
                "countersign verify trusts these (or --trusted-key), never a key file beside a ledger",
            ])
    }

    mutating func witnesses() {
        let configured = (ProcessInfo.processInfo.environment["COUNTERSIGN_WITNESSES"] ?? "").split(separator: ",")
        section(
            "Witnesses",
            configured.isEmpty
                ? [
                    "none configured (COUNTERSIGN_WITNESSES or --witness): a ledger rolled back together with every "
                        + "copy of its checkpoint is caught only by an anchor or a witness"
                ]
                : ["\(configured.count) configured: \(configured.joined(separator: ", "))"])
    }

    static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid) else { return "uid \(uid)" }
        return String(cString: entry.pointee.pw_name)
    }

    static func groupName(_ gid: gid_t) -> String {
        guard let entry = getgrgid(gid) else { return "gid \(gid)" }
        return String(cString: entry.pointee.gr_name)
    }
}
