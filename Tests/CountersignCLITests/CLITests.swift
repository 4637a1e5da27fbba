import Foundation
import Testing

/// Runs the built `countersign` binary, as a user would.
struct CLI {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let binary: URL = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "countersign")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return root.appendingPathComponent(".build/debug/countersign")
    }()

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func run(
        _ arguments: [String], stdin: String? = nil, in directory: String? = nil, home: String? = nil,
        executable: URL = binary, trustOf user: String? = nil, extraEnvironment: [String: String] = [:]
    ) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment(in: user ?? directory, home: home).merging(extraEnvironment) { $1 }
        process.currentDirectoryURL = directory.map { URL(fileURLWithPath: $0) } ?? root
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        // A child that exits before reading its stdin (a usage error) must not kill the test run with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        try process.run()
        if let stdin { try? input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
            stderr: String(decoding: stderrData, as: UTF8.self))
    }

    /// Each test directory is its own user as far as trust goes: keys it creates are pinned in a trust
    /// file of its own, never in the real user's.
    static func environment(in directory: String?, home: String? = nil) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        if let home { environment["HOME"] = home }
        environment["XDG_CONFIG_HOME"] =
            (directory ?? home ?? FileManager.default.temporaryDirectory.path) + "/.xdg-config"
        environment["COUNTERSIGN_TRUST_FILE"] = nil
        return environment
    }

    static func temporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("countersign-cli-\(UUID().uuidString)")
            .path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func temporaryFile(_ name: String, _ contents: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("countersign-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
}

@Suite("countersign policy eval")
struct PolicyEvalCLITests {
    let policy = "examples/policies/claude-code.yaml"
    let rmAction =
        #"{"actor":"claude-code","surface":"shell","tool":"Bash","intent":"execute","args":{"command":"rm -rf build"}}"#

    @Test func deniesAndExplainsWithExitZero() throws {
        let result = try CLI.run(["policy", "eval", "--policy", policy, "--action-json", rmAction])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Decision: deny"))
        #expect(result.stdout.contains("Matched rule: destructive_bash_is_denied"))
        #expect(result.stdout.contains("Reason: Destructive shell commands are denied"))
        #expect(result.stdout.contains("1. secret_like_files_are_denied -> no-match (deny)"))
        #expect(
            result.stdout.contains("   x tool_in ['Write', 'Edit', 'MultiEdit', 'NotebookEdit'] did not match")
                || result.stdout.contains("x tool 'Bash' is not in"))
        #expect(result.stdout.contains("-> skipped"))
    }

    @Test func readsTheActionFromStdinAsJSONOrYAML() throws {
        let yaml = "actor: claude-code\nsurface: shell\ntool: Bash\nintent: execute\nargs: {command: git status}\n"
        let result = try CLI.run(["policy", "eval", "--policy", policy], stdin: yaml)
        #expect(result.status == 0)
        #expect(result.stdout.contains("Matched rule: read_only_bash"))
    }

    @Test func jsonFormat() throws {
        let result = try CLI.run(["policy", "eval", "--policy", policy, "--action-json", rmAction, "--format", "json"])
        #expect(result.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let outcome = object?["outcome"] as? [String: Any]
        #expect(outcome?["decision"] as? String == "deny")
        #expect(outcome?["rule_id"] as? String == "destructive_bash_is_denied")
        #expect((object?["rules"] as? [[String: Any]])?.count == 13)
        #expect((object?["action_hash"] as? String)?.hasPrefix("sha256:") == true)
    }

    @Test func promptMakesValuesTrusted() throws {
        let action =
            #"{"actor":"a","surface":"payment","tool":"transfer","intent":"send","args":{"iban":"DE89370400440532013000"}}"#
        let result = try CLI.run([
            "policy", "eval", "--policy", "examples/policies/label-flows.yaml", "--action-json", action, "--prompt",
            "pay DE89370400440532013000", "--format", "json",
        ])
        #expect(result.stdout.contains("\"trusted\""))
    }

    @Test func badInputExitsOneWithAMessage() throws {
        let empty = try CLI.run(["policy", "eval", "--policy", policy], stdin: "  \n")
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("no action payload provided"))

        let missing = try CLI.run([
            "policy", "eval", "--policy", policy, "--action-json", #"{"actor":"a","surface":"s","tool":"t"}"#,
        ])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("action field 'intent': is required"))

        let notObject = try CLI.run(["policy", "eval", "--policy", policy, "--action-json", "[1, 2]"])
        #expect(notObject.status == 1)
        #expect(notObject.stderr.contains("must be a JSON/YAML object"))

        let malformed = try CLI.run(["policy", "eval", "--policy", policy, "--action-json", "{\"actor\": "])
        #expect(malformed.status == 1)
        #expect(malformed.stderr.contains("--action-json:"))
    }

    @Test func badPolicyExitsOneWithPosition() throws {
        let path = try CLI.temporaryFile("bad.yaml", "rules:\n  - id: a\n    decision: alow\n")
        let result = try CLI.run(["policy", "eval", "--policy", path, "--action-json", rmAction])
        #expect(result.status == 1)
        #expect(result.stderr.contains("bad.yaml:3:15: error: decision must be allow, ask or deny, got 'alow'"))
        #expect(result.stderr.contains("hint: did you mean 'allow'?"))
        let missing = try CLI.run(["policy", "eval", "--policy", "/no/such/policy.yaml", "--action-json", rmAction])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no policy file at /no/such/policy.yaml: run 'countersign init'"))
    }

    @Test func usageErrorsExitSixtyFour() throws {
        let result = try CLI.run(["policy", "eval", "--action-json", rmAction])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--policy"))
    }

    @Test func writesToOutputFile() throws {
        let out = try CLI.temporaryFile("placeholder", "") + ".d/result.txt"
        let result = try CLI.run(["policy", "eval", "--policy", policy, "--action-json", rmAction, "--output", out])
        #expect(result.status == 0)
        #expect(result.stdout.isEmpty)
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("Decision: deny"))
    }
}

@Suite("countersign policy test and check")
struct PolicyTestCLITests {
    @Test func passingSuiteEndsWithTheSummaryLine() throws {
        let result = try CLI.run([
            "policy", "test", "--policy", "examples/policies/label-flows.yaml", "--cases",
            "examples/policies/label-flows-tests.yaml",
        ])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.last == "18 passed, 0 failed")
        #expect(result.stdout.contains("[session web_value_reaches_shell]"))
    }

    @Test func failingSuiteExitsOne() throws {
        let cases = try CLI.temporaryFile(
            "cases.yaml",
            "- id: wrong\n  action: {actor: a, surface: shell, tool: Bash, intent: execute, args: {command: rm -rf /}}\n  expect: {decision: allow}\n- id: right\n  action: {actor: a, surface: shell, tool: Bash, intent: execute, args: {command: rm -rf /}}\n  expect: {decision: deny}\n"
        )
        let result = try CLI.run(["policy", "test", "--policy", "examples/policies/claude-code.yaml", "--cases", cases])
        #expect(result.status == 1)
        #expect(result.stdout.contains("1. wrong -> FAIL"))
        #expect(result.stdout.contains("x expected decision='allow', got 'deny'"))
        #expect(result.stdout.hasSuffix("1 passed, 1 failed\n"))
        let failFast = try CLI.run([
            "policy", "test", "--policy", "examples/policies/claude-code.yaml", "--cases", cases, "--fail-fast",
            "--format", "json",
        ])
        #expect(failFast.status == 1)
        let object = try JSONSerialization.jsonObject(with: Data(failFast.stdout.utf8)) as? [String: Any]
        #expect(object?["case_count"] as? Int == 1)
        #expect(object?["failed"] as? Int == 1)
    }

    @Test func dualKeySuitesPassUnchanged() throws {
        for name in ["dualkey", "claude-code", "openhands", "semantics"] {
            let dir = "Tests/CountersignPolicyTests/Fixtures/dualkey"
            let result = try CLI.run([
                "policy", "test", "--policy", "\(dir)/\(name).yaml", "--cases", "\(dir)/\(name)-tests.yaml",
                "--fail-fast",
            ])
            #expect(result.status == 0, "\(name): \(result.stdout)")
        }
    }

    @Test func checkPrintsWarningsAndExitsZero() throws {
        let path = try CLI.temporaryFile(
            "shadow.yaml", "rules:\n  - {id: all, decision: ask}\n  - {id: bash, when: {tool: Bash}, decision: deny}\n")
        let result = try CLI.run(["policy", "check", "--policy", path])
        #expect(result.status == 0)
        #expect(result.stdout.contains("shadow.yaml:3:5: warning: rule 'bash' is shadowed by rule 'all'"))
        let strict = try CLI.run(["policy", "check", "--policy", path, "--strict"])
        #expect(strict.status == 1)
    }

    @Test func checkErrorsExitOne() throws {
        let path = try CLI.temporaryFile(
            "err.yaml", "rules:\n  - id: a\n    when: {tool: Bash, arg_regex: {command: \"(\"}}\n    decision: deny\n")
        let result = try CLI.run(["policy", "check", "--policy", path, "--format", "json"])
        #expect(result.status == 1)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let diagnostic = (object?["diagnostics"] as? [[String: Any]])?.first
        #expect(diagnostic?["line"] as? Int == 3)
        #expect((diagnostic?["message"] as? String)?.contains("invalid regular expression") == true)
    }

    @Test func examplePoliciesCheckClean() throws {
        for name in ["label-flows", "claude-code", "mcp-proxy", "browser-agent", "shell-agent", "payments"] {
            let result = try CLI.run(["policy", "check", "--policy", "examples/policies/\(name).yaml", "--strict"])
            #expect(result.status == 0, "\(name): \(result.stdout)\(result.stderr)")
        }
    }

    @Test func helpTeaches() throws {
        let result = try CLI.run(["policy", "test", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("sessions:"))
        let version = try CLI.run(["--version"])
        #expect(version.stdout.hasPrefix("0."))
    }
}
