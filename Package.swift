// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Handoff",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "handoff", targets: ["HandoffCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
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
            dependencies: ["CLibPQ", "CivilTime"]
        ),
        // UTC times as text (PostgreSQL's and ISO 8601's), read and written by hand.
        .target(name: "CivilTime"),
        // Compact JSON written by hand, for the paths that run per event and per projection row.
        .target(name: "HandoffJSON"),
        // The pure core: events, the workflow language, the interpreter. No I/O, no clock.
        .target(
            name: "HandoffCore",
            dependencies: [
                "CivilTime",
                "HandoffJSON",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The store: the only module that speaks SQL (event store, migrations, projections).
        .target(
            name: "HandoffStore",
            dependencies: [
                "HandoffJSON",
                "Postgres",
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
                "Postgres",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // `handoff bench`: the engine's code paths measured against raw SQL, interleaved.
        .target(
            name: "HandoffBench",
            dependencies: ["HandoffService", "HandoffCore", "HandoffStore", "Postgres"]
        ),
        // The `handoff` command line.
        .executableTarget(
            name: "HandoffCLI",
            dependencies: [
                "HandoffCore",
                "HandoffService",
                "HandoffStore",
                "HandoffBench",
                "Postgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Shared by the tests that need PostgreSQL: starts a throwaway cluster (or uses DATABASE_URL).
        .target(
            name: "HandoffTestSupport",
            dependencies: ["Postgres", "HandoffStore"],
            path: "Tests/HandoffTestSupport"
        ),
        .testTarget(name: "HandoffCoreTests", dependencies: ["HandoffCore", "HandoffJSON"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "HandoffTestSupport"]),
        .testTarget(name: "HandoffStoreTests", dependencies: ["HandoffStore", "Postgres", "HandoffTestSupport"]),
        .testTarget(name: "HandoffBenchTests", dependencies: ["HandoffBench", "HandoffTestSupport"]),
        .testTarget(name: "HandoffCLITests", dependencies: ["Postgres", "HandoffTestSupport"]),
        .testTarget(
            name: "HandoffServiceTests",
            dependencies: ["HandoffService", "HandoffCore", "HandoffStore", "Postgres", "HandoffTestSupport"]
        ),
    ]
)
