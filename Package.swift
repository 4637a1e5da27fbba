// swift-tools-version:6.2
// Countersign: an execution-authorization firewall and flight recorder for AI agents.
//
// One module per layer; dependencies point one way, from the CLI down to Core.
import PackageDescription

let package = Package(
    name: "Countersign",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "countersign", targets: ["countersign"]),
        .executable(name: "countersign-hook", targets: ["countersign-hook"]),
        .executable(name: "countersign-hook-client", targets: ["countersign-hook-client"]),
        .library(name: "CountersignCore", targets: ["CountersignCore"]),
        .library(name: "CountersignPolicy", targets: ["CountersignPolicy"]),
        .library(name: "CountersignProvenance", targets: ["CountersignProvenance"]),
        .library(name: "CountersignLedger", targets: ["CountersignLedger"]),
        .library(name: "CountersignGate", targets: ["CountersignGate"]),
        // The adapters as libraries too, for the fuzz targets in Fuzz/ (a package of their own).
        .library(name: "CountersignHooks", targets: ["CountersignHooks"]),
        .library(name: "CountersignMCP", targets: ["CountersignMCP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // Core: envelope, JSON values, labels, decisions, canonical JSON and hashing.
        .target(
            name: "CountersignCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // Provenance: session state — session labels and labelled values from tool outputs and user input.
        .target(
            name: "CountersignProvenance",
            dependencies: [
                "CountersignCore", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Policy: YAML loading with positions, validation, lint, compiled matchers, evaluation, fixtures.
        .target(
            name: "CountersignPolicy",
            dependencies: [
                "CountersignCore", "CountersignProvenance", .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Ledger: receipts, hash chain, Ed25519 signatures and keys, stores, verify, bundles, redaction, retention.
        .target(
            name: "CountersignLedger",
            dependencies: [
                "CountersignCore", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // Gate: the decide -> approve -> record pipeline every adapter calls, and the approval channels.
        .target(
            name: "CountersignGate",
            dependencies: ["CountersignCore", "CountersignPolicy", "CountersignProvenance", "CountersignLedger"]
        ),
        // The network side of the Gate: the remote `web` approval channel (a countersign serve inbox) and
        // `RemoteGate`, the signer service as a GateService for adapters started with --signer. Kept out of
        // the Gate so that what does not need the network (the slim hook) does not load it.
        .target(
            name: "CountersignRemote",
            dependencies: [
                "CountersignCore", "CountersignPolicy", "CountersignLedger", "CountersignGate",
                "CountersignSignerClient",
            ]
        ),
        // The signer service's client: a Unix-socket/HTTP request and the hook forwarder, on the C library alone
        // (no networking library), for the hooks' --signer, the MCP proxy's RemoteGate and doctor.
        .target(name: "CountersignSignerClient"),
        // Adapters: coding-agent hooks (Claude Code, Codex, Gemini CLI, Cursor).
        .target(
            name: "CountersignHooks",
            dependencies: [
                "CountersignCore", "CountersignPolicy", "CountersignLedger", "CountersignGate",
                "CountersignSignerClient",
            ]
        ),
        // Adapter: the MCP stdio proxy (newline-delimited JSON-RPC over swift-nio pipes).
        .target(
            name: "CountersignMCP",
            dependencies: [
                "CountersignCore", "CountersignPolicy", "CountersignProvenance", "CountersignLedger", "CountersignGate",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Adapter: the server — decision API, approvals inbox with the web channel, dashboard, metrics.
        .target(
            name: "CountersignServer",
            dependencies: [
                "CountersignCore", "CountersignPolicy", "CountersignLedger", "CountersignGate",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdCore", package: "hummingbird"), "CountersignSignerClient",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Witness: a tlog-witness server that cosigns the ledger's checkpoints, and the client the writer
        // submits them with (networking kept out of the ledger, which the slim hook loads).
        .target(
            name: "CountersignWitness",
            dependencies: [
                "CountersignLedger", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Reports: timeline, Markdown, the self-contained HTML viewer, replay under another policy.
        .target(
            name: "CountersignReports",
            dependencies: ["CountersignCore", "CountersignPolicy", "CountersignLedger"]
        ),
        // CLI: the commands, as a library so tests can drive them in process.
        .target(
            name: "CountersignCLI",
            dependencies: [
                "CountersignCore", "CountersignPolicy", "CountersignProvenance", "CountersignLedger", "CountersignGate",
                "CountersignReports", "CountersignHooks", "CountersignMCP", "CountersignServer", "CountersignRemote",
                "CountersignWitness", "CountersignSignerClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The executable stays thin: it only starts the CLI.
        .executableTarget(name: "countersign", dependencies: ["CountersignCore", "CountersignCLI"]),
        // The hook alone, for agents that start a process per tool call: less to load, faster to start.
        .executableTarget(name: "countersign-hook", dependencies: ["CountersignCore", "CountersignHooks"]),
        // The thin hook client: forwards stdin to the signer service (--signer) and prints its answer. In C,
        // on the C library alone: the agent waits for it on every tool call, and it starts as fast as /bin/true.
        // SwiftPM links every executable with the Swift runtime; --as-needed leaves it out (main.c says why).
        .executableTarget(
            name: "countersign-hook-client",
            linkerSettings: [.unsafeFlags(["-Xlinker", "--as-needed"], .when(platforms: [.linux]))]
        ),

        .testTarget(name: "CountersignCoreTests", dependencies: ["CountersignCore"]),
        .testTarget(
            name: "CountersignPolicyTests",
            dependencies: ["CountersignPolicy", "CountersignProvenance"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "CountersignProvenanceTests", dependencies: ["CountersignProvenance"]),
        // Drives the real `countersign` binary as a subprocess, so it depends on the executable.
        .testTarget(
            name: "CountersignLedgerTests",
            dependencies: ["CountersignLedger", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "CountersignGateTests",
            dependencies: [
                "CountersignGate", "CountersignLedger", "CountersignPolicy", "CountersignProvenance",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "CountersignHooksTests",
            dependencies: [
                "CountersignHooks", "CountersignGate", "CountersignLedger", "CountersignPolicy",
                "CountersignProvenance",
            ]
        ),
        .testTarget(
            name: "CountersignMCPTests",
            dependencies: [
                "CountersignMCP", "CountersignGate", "CountersignLedger", "CountersignPolicy", "CountersignProvenance",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "CountersignServerTests",
            dependencies: [
                "CountersignServer", "CountersignGate", "CountersignLedger", "CountersignPolicy",
                "CountersignProvenance",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(name: "CountersignSignerClientTests", dependencies: ["CountersignSignerClient"]),
        .testTarget(
            name: "CountersignCLITests",
            dependencies: ["CountersignCLI", "countersign", "countersign-hook", "countersign-hook-client"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
