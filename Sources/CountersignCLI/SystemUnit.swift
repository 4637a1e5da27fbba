/// The systemd unit `countersign system install` writes: deploy/systemd/countersign.service with the
/// install's user, groups, paths and binary (a test checks the default rendering is that file, byte for byte).
enum SystemUnit {
    static let template = #"""
        # Countersign's signer service: the decision API, the approvals inbox and the hook endpoints on a Unix
        # socket, run as its own user so the agents it judges (other users, in the countersign-agents group) can
        # neither read nor change its policy, signing key, ledger or session state.
        #
        # Installed by `sudo countersign system install --agent-group countersign-agents` (docs/deployment.md),
        # which also creates the countersign user and group. By hand:
        #   sudo install -m 0644 deploy/systemd/countersign.service /etc/systemd/system/
        #   sudo systemctl daemon-reload && sudo systemctl enable --now countersign
        # Directives: systemd.exec(5), systemd.service(5), systemd.resource-control(5).

        [Unit]
        Description=Countersign signer service (execution authorization for AI agents)
        # The policy is deployed by the administrator; without it the service cannot decide, so do not start.
        ConditionPathExists=/etc/countersign/policy.yaml
        After=network.target

        [Service]
        Type=simple
        # Its own unprivileged user and group: an agent running as another user cannot touch its state.
        User=countersign
        Group=countersign
        # Needed to give the socket the agents' group (a process may only chgrp to a group it belongs to).
        SupplementaryGroups=countersign-agents

        # Where relative paths and the default key (COUNTERSIGN_HOME/signing-key) resolve; the trust file
        # (XDG_CONFIG_HOME/countersign/trusted-keys.json) stays inside the state directory too.
        Environment=COUNTERSIGN_HOME=/var/lib/countersign XDG_CONFIG_HOME=/var/lib/countersign/config
        WorkingDirectory=/var/lib/countersign
        ExecStart=/usr/local/bin/countersign serve --socket /run/countersign/countersign.sock --socket-group countersign-agents --policy /etc/countersign/policy.yaml --ledger /var/lib/countersign/ledger.sqlite --sessions /var/lib/countersign/sessions.sqlite
        # SIGTERM closes open asks as ask->abandoned and commits every receipt within 8 s; allow a margin.
        TimeoutStopSec=20
        # A crash is restarted (hooks fail closed meanwhile); a clean stop or a refused configuration is not retried.
        Restart=on-failure
        RestartSec=2

        # /run/countersign, created at start and removed at stop, owned by countersign:countersign.
        RuntimeDirectory=countersign
        # 0751, not 0750: agents (group countersign-agents, not countersign) must traverse the directory to reach
        # the socket; they still cannot list it, and the socket itself (0660, group countersign-agents) decides
        # who may connect.
        RuntimeDirectoryMode=0751
        # /var/lib/countersign: ledger, sessions, signing key, trust file; only the service reads it.
        StateDirectory=countersign
        StateDirectoryMode=0700
        # Every file the service creates is private to it (the socket is opened to the group explicitly).
        UMask=0077

        # Hardening: the service needs nothing beyond its state directory, its socket and the network.
        # Neither it nor anything it could be tricked into running gains privileges (setuid, file capabilities).
        NoNewPrivileges=yes
        # No capabilities at all: it runs as an ordinary user.
        CapabilityBoundingSet=
        AmbientCapabilities=
        # The whole file system read-only (including /etc, so the policy cannot be rewritten through it)...
        ProtectSystem=strict
        # ...except the state directory (StateDirectory= already implies it; stated for readers).
        ReadWritePaths=/var/lib/countersign
        # No access to users' home directories: the agents' projects are none of its business.
        ProtectHome=yes
        # A private /tmp and /var/tmp: nothing shared with the agents there.
        PrivateTmp=yes
        # No physical devices (only /dev/null, /dev/zero, /dev/urandom and the like).
        PrivateDevices=yes
        # Kernel settings, modules, logs, the clock and the host name stay out of reach.
        ProtectKernelTunables=yes
        ProtectKernelModules=yes
        ProtectKernelLogs=yes
        ProtectControlGroups=yes
        ProtectClock=yes
        ProtectHostname=yes
        # Only Unix sockets (agents, hooks) and IP (--listen, --witness, the dashboard behind a proxy).
        RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
        # No new namespaces, realtime scheduling, setuid/setgid files, or other ABIs and personalities.
        RestrictNamespaces=yes
        RestrictRealtime=yes
        RestrictSUIDSGID=yes
        LockPersonality=yes
        SystemCallArchitectures=native
        # MemoryDenyWriteExecute=yes is left out for now: the Swift runtime does not generate code, but this has
        # not been tested with every library the binary links (Foundation, ICU, SQLite); enable it after
        # checking the service starts and decides with it. SystemCallFilter= is left out for the same reason.

        [Install]
        WantedBy=multi-user.target
        """#

    static func render(_ layout: SystemLayout) -> String {
        var lines: [String] = []
        for line in template.split(separator: "\n", omittingEmptySubsequences: false) {
            switch true {
            case line.hasPrefix("ConditionPathExists="): lines.append("ConditionPathExists=\(layout.policy)")
            case line.hasPrefix("User="): lines.append("User=\(layout.user)")
            case line.hasPrefix("Group="): lines.append("Group=\(layout.group)")
            case line.hasPrefix("SupplementaryGroups="): lines.append("SupplementaryGroups=\(layout.agentGroup)")
            case line.hasPrefix("Environment="):
                lines.append(
                    "Environment=COUNTERSIGN_HOME=\(layout.stateDir) XDG_CONFIG_HOME=\(layout.stateDir)/config")
            case line.hasPrefix("WorkingDirectory="): lines.append("WorkingDirectory=\(layout.stateDir)")
            case line.hasPrefix("ExecStart="): lines.append("ExecStart=" + layout.serveCommand.joined(separator: " "))
            case line.hasPrefix("ReadWritePaths="): lines.append("ReadWritePaths=\(layout.stateDir)")
            default: lines.append(String(line))
            }
        }
        return lines.joined(separator: "\n") + "\n"  // the literal ends before its last newline
    }
}
