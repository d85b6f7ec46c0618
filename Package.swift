// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Handoff",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "handoff", targets: ["HandoffCLI"]),
        .executable(name: "handoff-fuzz", targets: ["HandoffFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", exact: "2.1.1"),
        .package(url: "https://github.com/JohnSundell/Ink", exact: "0.6.0"),
    ],
    targets: [
        // The C shim: libpq as the system installs it (Debian: libpq-dev).
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // A thin, safe Swift layer over libpq: connections, a pool, transactions, LISTEN/NOTIFY,
        // and the private local cluster used when no DATABASE_URL is given.
        .target(
            name: "Postgres",
            dependencies: ["CLibPQ", "Identifiers", "Timestamps"]
        ),
        // Random UUIDs and their text, made fast: one for every event and notification.
        .target(name: "Identifiers"),
        // Handoff's one form of time: whole milliseconds, ISO 8601 in UTC, read and written by hand.
        .target(name: "Timestamps"),
        // Compact JSON written by hand, for the paths that run per event and per projection row.
        .target(name: "HandoffJSON"),
        // The pure core: events, the workflow language, the interpreter. No I/O, no clock.
        .target(
            name: "HandoffCore",
            dependencies: [
                "HandoffJSON",
                "Timestamps",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The store: the only module that speaks SQL (event store, migrations, projections).
        .target(
            name: "HandoffStore",
            dependencies: [
                "HandoffJSON",
                "Identifiers",
                "Postgres",
                "Timestamps",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The service: the only place that joins the core and the store (commands, the task queue, replay).
        .target(
            name: "HandoffService",
            dependencies: [
                "HandoffCore",
                "HandoffJSON",
                "HandoffStore",
                "Identifiers",
                "Postgres",
                "Timestamps",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The HTTP API and the dashboard (server-rendered HTML) on Hummingbird, and the long-running host (`handoff serve`) that runs it beside the
        // background services under swift-service-lifecycle.
        .target(
            name: "HandoffHTTP",
            dependencies: [
                "HandoffCore",
                "HandoffService",
                "HandoffStore",
                "Timestamps",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Ink", package: "Ink"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            resources: [.copy("openapi.json"), .copy("Dashboard/templates"), .copy("Dashboard/assets")]
        ),
        // `handoff bench`: the engine's code paths measured against raw SQL, interleaved.
        .target(
            name: "HandoffBench",
            dependencies: [
                "HandoffService", "HandoffCore", "HandoffStore", "HandoffHTTP", "Postgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The `handoff` command line.
        .executableTarget(
            name: "HandoffCLI",
            dependencies: [
                "HandoffCore",
                "HandoffService",
                "HandoffStore",
                "HandoffBench",
                "HandoffHTTP",
                "Postgres",
                "Timestamps",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What the fuzzer and the property tests feed the loader, the parsers and the interpreter.
        .target(name: "HandoffFuzzing", dependencies: ["HandoffCore"]),
        // `handoff-fuzz`: libFuzzer's entry point on those targets (`make fuzz`), or a replayer of saved inputs.
        .executableTarget(name: "HandoffFuzz", dependencies: ["HandoffFuzzing"]),
        // Shared by the tests that need PostgreSQL: starts a throwaway cluster (or uses DATABASE_URL).
        .target(
            name: "HandoffTestSupport",
            dependencies: ["Postgres", "HandoffStore"],
            path: "Tests/HandoffTestSupport"
        ),
        .testTarget(name: "HandoffCoreTests", dependencies: ["HandoffCore", "HandoffJSON", "HandoffFuzzing", "Timestamps"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "HandoffTestSupport", "Identifiers", "Timestamps"]),
        .testTarget(name: "HandoffStoreTests", dependencies: ["HandoffStore", "Postgres", "HandoffTestSupport"]),
        .testTarget(name: "HandoffBenchTests", dependencies: ["HandoffBench", "HandoffTestSupport"]),
        .testTarget(name: "HandoffCLITests", dependencies: ["Postgres", "HandoffTestSupport"]),
        .testTarget(
            name: "HandoffHTTPTests",
            dependencies: [
                "HandoffHTTP", "HandoffService", "HandoffCore", "HandoffStore", "Postgres", "HandoffTestSupport", "Timestamps",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "HandoffServiceTests",
            dependencies: ["HandoffService", "HandoffCore", "HandoffStore", "Postgres", "HandoffTestSupport", "Timestamps"]
        ),
    ]
)
