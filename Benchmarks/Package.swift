// swift-tools-version:6.2
// Countersign's benchmarks: a package of its own so `swift test` never builds them.
// Run: cd Benchmarks && swift package benchmark   (see docs/performance.md)
import PackageDescription

let package = Package(
    name: "CountersignBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Countersign", path: ".."),
        // The MallocInterposer trait keeps SwiftPM from fetching swift-runtime-interposer (not mirrored here).
        .package(
            url: "https://github.com/ordo-one/package-benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .target(
            name: "BenchmarkSupport",
            dependencies: [
                .product(name: "CountersignCore", package: "Countersign"),
                .product(name: "CountersignPolicy", package: "Countersign"),
                .product(name: "CountersignProvenance", package: "Countersign"),
            ],
            path: "Benchmarks/BenchmarkSupport"
        ),
        .executableTarget(
            name: "PolicyBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "CountersignCore", package: "Countersign"),
                .product(name: "CountersignPolicy", package: "Countersign"),
                .product(name: "CountersignProvenance", package: "Countersign"),
            ],
            path: "Benchmarks/PolicyBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "LedgerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "CountersignCore", package: "Countersign"),
                .product(name: "CountersignPolicy", package: "Countersign"),
                .product(name: "CountersignLedger", package: "Countersign"),
                .product(name: "CountersignGate", package: "Countersign"),
            ],
            path: "Benchmarks/LedgerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // A plain loop for profilers (valgrind --tool=callgrind, perf): no harness in the way.
        .executableTarget(
            name: "ProfileDecisions",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "CountersignCore", package: "Countersign"),
                .product(name: "CountersignPolicy", package: "Countersign"),
            ],
            path: "Benchmarks/ProfileDecisions"
        ),
    ],
    swiftLanguageModes: [.v6]
)
