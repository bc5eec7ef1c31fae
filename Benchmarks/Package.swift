// swift-tools-version:6.2
// Micro-benchmarks of Axon's hot paths, kept out of the main package so CI does not build
// them. Run from this directory: `swift package benchmark` (results with allocation counts).
import PackageDescription

let package = Package(
    name: "AxonBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "axon", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MatrixModel", package: "axon"),
                .product(name: "AxonServer", package: "axon"),
                .product(name: "AxonStorage", package: "axon"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // `swift build -c release --product HelloCeiling`: builds Hummingbird alone, not Axon.
        .executableTarget(
            name: "HelloCeiling",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "HelloCeiling"
        ),
    ]
)
