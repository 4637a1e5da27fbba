// swift-tools-version:6.2
// Countersign: an execution-authorization firewall and flight recorder for AI agents.
//
// One module per layer (DESIGN §1); dependencies point one way, from the CLI down to Core.
import PackageDescription

let package = Package(
    name: "Countersign",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "countersign", targets: ["countersign"]),
        .library(name: "CountersignCore", targets: ["CountersignCore"]),
        .library(name: "CountersignPolicy", targets: ["CountersignPolicy"]),
        .library(name: "CountersignProvenance", targets: ["CountersignProvenance"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // Core: envelope, JSON values, labels, decisions, canonical JSON and hashing.
        .target(
            name: "CountersignCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // Provenance: session state — session labels and labelled values from tool outputs and user input.
        .target(name: "CountersignProvenance", dependencies: ["CountersignCore"]),
        // Policy: YAML loading with positions, validation, lint, compiled matchers, evaluation, fixtures.
        .target(
            name: "CountersignPolicy",
            dependencies: [
                "CountersignCore", "CountersignProvenance", .product(name: "Yams", package: "Yams"),
            ]
        ),
        // CLI: the commands, as a library so tests can drive them in process.
        .target(
            name: "CountersignCLI",
            dependencies: [
                "CountersignCore", "CountersignPolicy", "CountersignProvenance",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The executable stays thin: it only starts the CLI.
        .executableTarget(name: "countersign", dependencies: ["CountersignCLI"]),

        .testTarget(name: "CountersignCoreTests", dependencies: ["CountersignCore"]),
        .testTarget(
            name: "CountersignPolicyTests",
            dependencies: ["CountersignPolicy", "CountersignProvenance"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "CountersignProvenanceTests", dependencies: ["CountersignProvenance"]),
        // Drives the real `countersign` binary as a subprocess, so it depends on the executable.
        .testTarget(name: "CountersignCLITests", dependencies: ["CountersignCLI", "countersign"]),
    ],
    swiftLanguageModes: [.v6]
)
