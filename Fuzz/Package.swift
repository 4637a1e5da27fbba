// swift-tools-version:6.2
// Countersign's libFuzzer targets: a package of its own so `swift test` never builds them.
// Run: ./scripts/fuzz [SECONDS_PER_TARGET] [TARGET...]   (Linux; see docs/security.md)
//
// Every module, Countersign's and its dependencies', is built with `-sanitize=fuzzer,address` by
// scripts/fuzz (`-Xswiftc`), so coverage guides the fuzzer through the code under test and AddressSanitizer
// catches out-of-bounds access through unsafe pointers, which -O builds do not check.
import PackageDescription

let package = Package(
    name: "CountersignFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Countersign", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
    ],
    targets: [
        // libFuzzer's driver entry point. SwiftPM links a Linux executable with `--defsym main=<module>_main`,
        // so each target has an `@main` that hands its test function to `LLVMFuzzerRunDriver` instead of
        // relying on the `main` in libFuzzer's runtime.
        .target(name: "CFuzzerDriver"),
        // What several targets share: starting libFuzzer, running async code to completion, a scratch Gate,
        // findings.
        .target(
            name: "FuzzSupport",
            dependencies: [
                "CFuzzerDriver",
                .product(name: "CountersignCore", package: "Countersign"),
                .product(name: "CountersignPolicy", package: "Countersign"),
                .product(name: "CountersignLedger", package: "Countersign"),
                .product(name: "CountersignGate", package: "Countersign"),
            ]
        ),
        // JSON parser and RFC 8785 canonical form.
        .executableTarget(
            name: "fuzz-json",
            dependencies: ["FuzzSupport", .product(name: "CountersignCore", package: "Countersign")]
        ),
        // Policy loader: YAML/JSON text to a compiled policy, then lint and evaluation.
        .executableTarget(
            name: "fuzz-policy",
            dependencies: [
                "FuzzSupport", .product(name: "CountersignCore", package: "Countersign"),
                .product(name: "CountersignPolicy", package: "Countersign"),
                .product(name: "CountersignProvenance", package: "Countersign"),
            ]
        ),
        // MCP line framer and JSON-RPC parsing and dispatch through a proxy session.
        .executableTarget(
            name: "fuzz-mcp",
            dependencies: [
                "FuzzSupport", .product(name: "CountersignCore", package: "Countersign"),
                .product(name: "CountersignGate", package: "Countersign"),
                .product(name: "CountersignLedger", package: "Countersign"),
                .product(name: "CountersignPolicy", package: "Countersign"),
                .product(name: "CountersignMCP", package: "Countersign"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        // Hook payloads of each dialect through HookRunner and a Gate.
        .executableTarget(
            name: "fuzz-hooks",
            dependencies: [
                "FuzzSupport", .product(name: "CountersignCore", package: "Countersign"),
                .product(name: "CountersignGate", package: "Countersign"),
                .product(name: "CountersignHooks", package: "Countersign"),
            ]
        ),
        // A JSONL ledger's bytes: scan, verify, query and append after corruption.
        .executableTarget(
            name: "fuzz-ledger",
            dependencies: [
                "FuzzSupport", .product(name: "CountersignCore", package: "Countersign"),
                .product(name: "CountersignLedger", package: "Countersign"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
