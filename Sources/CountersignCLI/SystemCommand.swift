import ArgumentParser
import CountersignCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where a system install puts things, and who owns them.
struct SystemLayout: Sendable {
    var user = "countersign"
    var group = "countersign"
    var agentGroup = "countersign-agents"
    var stateDir = "/var/lib/countersign"
    var configDir = "/etc/countersign"
    var socket = "/run/countersign/countersign.sock"
    var binary = "/usr/local/bin/countersign"
    var unitDir = "/etc/systemd/system"

    var policy: String { configDir + "/policy.yaml" }
    var socketDir: String { (socket as NSString).deletingLastPathComponent }
    var unitPath: String { unitDir + "/countersign.service" }
    var manifest: String { configDir + "/install.json" }

    var serveCommand: [String] {
        [
            binary, "serve", "--socket", socket, "--socket-group", agentGroup, "--policy", policy, "--ledger",
            stateDir + "/ledger.sqlite", "--sessions", stateDir + "/sessions.sqlite",
        ]
    }

    /// How to start the service by hand where systemd does not run (containers, CI).
    var manualStart: String {
        "runuser -u \(user) -- env COUNTERSIGN_HOME=\(stateDir) XDG_CONFIG_HOME=\(stateDir)/config "
            + serveCommand.joined(separator: " ")
    }
}

/// Options shared by `system install` and `system uninstall`.
struct SystemLayoutOptions: ParsableArguments {
    @Option(help: "The service's system user.") var user = "countersign"
    @Option(help: "The service's own group.") var group = "countersign"
    @Option(name: .customLong("agent-group"), help: "The group whose members (the agents' users) may connect.")
    var agentGroup = "countersign-agents"
    @Option(name: .customLong("state-dir"), help: "Key, ledger, sessions (0700, owned by the service user).")
    var stateDir = "/var/lib/countersign"
    @Option(name: .customLong("config-dir"), help: "policy.yaml (root-owned; the service reads it).")
    var configDir = "/etc/countersign"
    @Option(help: "The service's Unix socket.") var socket = "/run/countersign/countersign.sock"
    @Option(name: .customLong("unit-dir"), help: "Where the systemd unit goes.") var unitDir = "/etc/systemd/system"

    var layout: SystemLayout {
        var layout = SystemLayout()
        layout.user = user
        layout.group = group
        layout.agentGroup = agentGroup
        layout.stateDir = stateDir
        layout.configDir = configDir
        layout.socket = socket
        layout.unitDir = unitDir
        return layout
    }
}

struct SystemCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system",
        abstract: "Install the signer service as a system service, out of the agents' reach (Linux, root).",
        subcommands: [SystemInstallCommand.self, SystemUninstallCommand.self])
}

/// `countersign system install`: the signer service under a user of its own, so that the agents' users
/// cannot read its key or rewrite its ledger, policy or session state.
struct SystemInstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Create the service user and directories, install the systemd unit, start the signer.",
        discussion: """
            Run as root. Creates (when missing) the system user and group 'countersign', the agent group \
            (--agent-group, whose members may connect to the socket), the state directory /var/lib/countersign \
            (0700, owned by the service user: signing key, ledger, sessions, trust file), /etc/countersign \
            (root-owned, readable by the service group) with policy.yaml (--policy FILE, else the starter \
            policy), and the socket directory /run/countersign. Writes the systemd unit (the one in \
            deploy/systemd/), then enables and starts it where systemd runs; elsewhere it prints the command \
            that starts the service by hand. Running it again changes only what is missing. Add the agents' \
            users to the agent group (usermod -aG countersign-agents USER) and point their hooks at the socket \
            (countersign install claude-code --signer unix:/run/countersign/countersign.sock). What it created \
            is listed in /etc/countersign/install.json for 'system uninstall'.
            """)

    @OptionGroup var options: SystemLayoutOptions
    @Option(help: ArgumentHelp("The policy to install (default: the starter policy).", valueName: "file"))
    var policy: String?
    @Option(help: ArgumentHelp("The countersign binary the service runs (default: this one).", valueName: "path"))
    var binary: String?
    @Flag(name: .customLong("no-start"), help: "Do not enable or start the service.") var noStart = false
    @Flag(name: .customLong("no-systemd"), help: "Do not write a systemd unit.") var noSystemd = false

    func run() throws {
        try reportingErrors {
            var layout = options.layout
            layout.binary = try binary ?? SystemSetup.currentBinary()
            try SystemSetup.requireRoot("system install")
            var setup = SystemSetup(layout: layout)
            try setup.install(policySource: policy, writeUnit: !noSystemd, start: !noStart)
            try Terminal.write(setup.report.joined(separator: "\n") + "\n")
        }
    }
}

/// `countersign system uninstall`: removes what install made; the ledger and key only with --purge.
struct SystemUninstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall",
        abstract: "Stop the signer service and remove its unit and socket directory (--purge: everything).",
        discussion: """
            Run as root. Stops and disables the service where systemd runs, removes the unit and the socket \
            directory. The ledger, the signing key, the policy and the service user stay (the record outlives \
            the service) unless --purge, which also removes the state and config directories and the users \
            and groups install created (as listed in install.json).
            """)

    @OptionGroup var options: SystemLayoutOptions
    @Flag(help: "Also remove the ledger, key, policy, and the users and groups install created.") var purge = false

    func run() throws {
        try reportingErrors {
            try SystemSetup.requireRoot("system uninstall")
            var setup = SystemSetup(layout: options.layout)
            try setup.uninstall(purge: purge)
            try Terminal.write(setup.report.joined(separator: "\n") + "\n")
        }
    }
}

/// The steps of a system install, each idempotent, each reported.
struct SystemSetup {
    let layout: SystemLayout
    var report: [String] = []

    init(layout: SystemLayout) { self.layout = layout }

    static func requireRoot(_ command: String) throws {
        #if os(Linux)
            guard geteuid() == 0 else {
                throw CLIError("\(command) must run as root (sudo countersign \(command)): it creates a system user")
            }
        #else
            throw CLIError(
                "\(command) is for Linux; on macOS use deploy/launchd/dev.countersign.signer.plist (docs/deployment.md)"
            )
        #endif
    }

    static func currentBinary() throws -> String {
        let path =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }

    static var systemdRunning: Bool { FileManager.default.fileExists(atPath: "/run/systemd/system") }

    mutating func install(policySource: String?, writeUnit: Bool, start: Bool) throws {
        var created = readManifest()
        for (name, key) in [(layout.group, "group"), (layout.agentGroup, "agent_group")] where getgrnam(name) == nil {
            try Self.run(["groupadd", "--system", name])
            created[key] = .string(name)
            report.append("created the group \(name)")
        }
        if getpwnam(layout.user) == nil {
            try Self.run([
                "useradd", "--system", "--gid", layout.group, "--home-dir", layout.stateDir, "--no-create-home",
                "--shell",
                FileManager.default.fileExists(atPath: "/usr/sbin/nologin") ? "/usr/sbin/nologin" : "/bin/false",
                layout.user,
            ])
            created["user"] = .string(layout.user)
            report.append("created the system user \(layout.user)")
        }
        // The service gives the socket the agents' group: it must belong to it.
        try Self.run(["usermod", "-a", "-G", layout.agentGroup, layout.user])
        // getpwnam and getgrnam return static storage that the next call overwrites: copy each id at once.
        guard let uid = getpwnam(layout.user)?.pointee.pw_uid, let gid = getgrnam(layout.group)?.pointee.gr_gid,
            let agentGid = getgrnam(layout.agentGroup)?.pointee.gr_gid
        else { throw CLIError("the user \(layout.user) or its groups could not be read back") }

        // What a user could have planted before install (a symlink to follow, a key or a policy of theirs) is
        // refused, never adopted: root would chown its target, the service would sign with their key.
        for path in [layout.stateDir, layout.configDir, layout.socketDir] { try Self.checkParent(of: path) }
        try directory(layout.stateDir, mode: 0o700, uid: uid, gid: gid, what: "state (key, ledger, sessions)")
        try directory(layout.stateDir + "/config", mode: 0o700, uid: uid, gid: gid, what: "the service's trust file")
        try directory(layout.configDir, mode: 0o750, uid: 0, gid: gid, what: "configuration (root-owned)")
        try directory(layout.socketDir, mode: 0o750, uid: uid, gid: agentGid, what: "the socket")
        for name in ["signing-key", "ledger.sqlite", "sessions.sqlite", "mcp-pins.sqlite", "config/countersign"] {
            try Self.checkPlanted(layout.stateDir + "/" + name, owner: uid, privateMode: true)
        }
        try Self.checkPlanted(layout.policy, owner: 0, privateMode: false)
        if !FileManager.default.fileExists(atPath: layout.policy) {
            let text =
                try policySource.map { try String(contentsOfFile: $0, encoding: .utf8) } ?? InstallCommand.starterPolicy
            try text.write(toFile: layout.policy, atomically: true, encoding: .utf8)
            chown(layout.policy, 0, gid)
            chmod(layout.policy, 0o640)
            report.append("wrote \(layout.policy) (root-owned, mode 0640: the service reads it, agents cannot)")
        }
        if writeUnit {
            if FileManager.default.fileExists(atPath: layout.unitDir) {
                try SystemUnit.render(layout).write(toFile: layout.unitPath, atomically: true, encoding: .utf8)
                chmod(layout.unitPath, 0o644)
                created["unit"] = .string(layout.unitPath)
                report.append("wrote the systemd unit \(layout.unitPath)")
            } else {
                report.append("no \(layout.unitDir): the systemd unit was not written")
            }
        }
        created["layout"] = .object([
            "state_dir": .string(layout.stateDir), "config_dir": .string(layout.configDir),
            "socket": .string(layout.socket),
        ])
        try CanonicalJSON.string(.object(created)).write(toFile: layout.manifest, atomically: true, encoding: .utf8)
        chmod(layout.manifest, 0o640)

        if start && writeUnit && Self.systemdRunning && FileManager.default.fileExists(atPath: layout.unitPath) {
            try Self.run(["systemctl", "daemon-reload"])
            try Self.run(["systemctl", "enable", "--now", "countersign.service"])
            report.append("enabled and started countersign.service (systemctl status countersign)")
        } else {
            report.append(
                start && writeUnit
                    ? "systemd is not running here: start the service with\n  \(layout.manualStart)"
                    : "start the service with\n  \(layout.manualStart)")
        }
        report.append(
            """

            Next:
              usermod -aG \(layout.agentGroup) AGENT_USER      # each user whose agents it judges (log in again)
              countersign install claude-code --signer unix:\(layout.socket)   # as that user, in a project
              countersign doctor                             # what protects the record, in plain words
            """)
    }

    /// What an earlier install created (install.json), to extend or to undo.
    func readManifest() -> [String: JSONValue] {
        (try? JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: layout.manifest))))?.objectValue ?? [:]
    }

    mutating func uninstall(purge: Bool) throws {
        let created = readManifest()
        if FileManager.default.fileExists(atPath: layout.unitPath) {
            if Self.systemdRunning {
                try? Self.run(["systemctl", "disable", "--now", "countersign.service"])
                report.append("stopped and disabled countersign.service")
            }
            try FileManager.default.removeItem(atPath: layout.unitPath)
            if Self.systemdRunning { try? Self.run(["systemctl", "daemon-reload"]) }
            report.append("removed \(layout.unitPath)")
        }
        if FileManager.default.fileExists(atPath: layout.socketDir) {
            try FileManager.default.removeItem(atPath: layout.socketDir)
            report.append("removed \(layout.socketDir)")
        }
        guard purge else {
            report.append(
                "kept \(layout.stateDir) (ledger, key), \(layout.configDir) (policy) and the user \(layout.user): "
                    + "the record outlives the service (--purge removes them)")
            return
        }
        for path in [layout.stateDir, layout.configDir] where FileManager.default.fileExists(atPath: path) {
            try FileManager.default.removeItem(atPath: path)
            report.append("removed \(path)")
        }
        if let user = created["user"]?.stringValue, getpwnam(user) != nil {
            try Self.run(["userdel", user])
            report.append("removed the user \(user)")
        }
        for key in ["agent_group", "group"] {
            if let group = created[key]?.stringValue, getgrnam(group) != nil {
                try Self.run(["groupdel", group])
                report.append("removed the group \(group)")
            }
        }
    }

    mutating func directory(_ path: String, mode: mode_t, uid: uid_t, gid: gid_t, what: String) throws {
        var info = stat()
        let existed = lstat(path, &info) == 0
        if existed {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw CLIError("\(path) exists and is not a directory (a symlink is never followed): remove it first")
            }
            guard info.st_uid == 0 || info.st_uid == uid else {
                throw CLIError(
                    "\(path) exists and belongs to \(Doctor.userName(info.st_uid)), not root or \(layout.user): "
                        + "whoever made it could have planted files there; remove it first")
            }
        }
        if !existed { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        guard chown(path, uid, gid) == 0, chmod(path, mode) == 0 else {
            throw CLIError("\(path): cannot set its owner and mode: \(String(cString: strerror(errno)))")
        }
        report.append(
            "\(existed ? "checked" : "created") \(path) — \(what); mode \(String(mode, radix: 8)), owner \(uid):\(gid)")
    }

    /// A directory whose parent another user can write can be swapped after install: refused.
    static func checkParent(of path: String) throws {
        var parent = (path as NSString).deletingLastPathComponent
        while !parent.isEmpty && parent != "/" {
            var info = stat()
            if lstat(parent, &info) == 0 {
                let sticky = info.st_mode & S_ISVTX != 0
                let othersWrite = info.st_mode & 0o002 != 0 && !sticky
                let groupWrite = info.st_mode & 0o020 != 0 && info.st_gid != 0
                if info.st_mode & S_IFMT == S_IFLNK || othersWrite || groupWrite || (info.st_uid != 0 && !sticky) {
                    throw CLIError(
                        "\(parent) (above \(path)) is a symlink, writable by others or not root's: anyone who can write "
                            + "it could replace what install makes; choose a path under root-owned directories")
                }
                return
            }
            parent = (parent as NSString).deletingLastPathComponent
        }
    }

    /// A file install would keep must be the owner's own, private where it must be, and never a symlink.
    static func checkPlanted(_ path: String, owner: uid_t, privateMode: Bool) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        let wrongMode = privateMode ? info.st_mode & 0o077 != 0 : info.st_mode & 0o022 != 0
        if info.st_mode & S_IFMT == S_IFLNK || info.st_uid != owner || wrongMode {
            throw CLIError(
                "\(path) is already there, but as \(Doctor.userName(info.st_uid))'s, mode "
                    + "\(String(info.st_mode & 0o7777, radix: 8))\(info.st_mode & S_IFMT == S_IFLNK ? ", a symlink" : ""): "
                    + "install never adopts a file someone else could have planted; check it and remove it first")
        }
    }

    static func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { throw CLIError("cannot run \(arguments[0]): \(error)") }
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CLIError(
                "\(arguments.joined(separator: " ")) failed (exit \(process.terminationStatus)): "
                    + String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}
