import ArgumentParser
import Foundation
import HandoffCore
import HandoffHTTP
import HandoffService
import Logging

/// `handoff serve [--demo]`: the HTTP API and the background work, until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP API on HANDOFF_HOST:HANDOFF_PORT (default 127.0.0.1:8080) until SIGTERM or SIGINT.",
        discussion: """
            Every route but /healthz and /readyz needs `Authorization: Bearer <token>` (see `handoff tokens`). \
            On SIGTERM or SIGINT it stops accepting connections, finishes the requests in flight and closes the \
            database pool. With --demo it first starts a Mail.Send demo onboarding, makes a token for an admin and \
            for each of the demo's roles, and prints them with commands to try.
            """
    )

    @OptionGroup var output: OutputOptions

    @Flag(help: "Start a demo onboarding and make demo tokens first (what `make run` does).")
    var demo = false

    func run() async throws {
        try await Output.run(output) {
            let settings = try ServerSettings.startLogging()
            let demoSetup = demo ? try await DemoSetup.prepare() : nil
            let host = settings.host
            try await Host.serve(settings, logger: Logger(label: "handoff"), onServerRunning: { port in
                var lines = ["Handoff is listening on http://\(host):\(port)"]
                if let demoSetup {
                    lines += demoSetup.instructions(baseURL: "http://\(host):\(port)")
                }
                FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
            })
        }
    }
}

/// `handoff worker`: the background work without HTTP, until SIGTERM or SIGINT.
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the background work (timers, the outbox, the projection runner) without HTTP until SIGTERM or SIGINT.",
        discussion: """
            Fires timer steps and wait timeouts as they fall due, delivers notifications, and follows the log into \
            the async projections, each exactly once however many workers and servers share the database (`serve` \
            runs the same services). Prints one line once it runs.
            """
    )

    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await Output.run(output) {
            let settings = try ServerSettings.startLogging()
            let json = output.json
            try await Host.work(settings.engine, logger: Logger(label: "handoff")) {
                let line = json ? #"{"worker":"running"}"# : "Handoff worker is running (timers, outbox, projections)"
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
        }
    }
}

extension ServerSettings {
    /// The settings from the environment, with logs going to stderr at their `LOG_LEVEL`: how the long-running
    /// commands begin.
    static func startLogging() throws(EngineError) -> ServerSettings {
        let settings = try ServerSettings.fromEnvironment()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = settings.logLevel
            return handler
        }
        return settings
    }
}

/// What `serve --demo` prepares: a demo onboarding and a token per demo person.
struct DemoSetup {
    /// The demo's people: a token name and its roles.
    static let people: [(name: String, role: String)] = [
        ("olivia", Engine.adminRole),
        ("alice", "customer_admin"),
        ("pat", "partner_integration_manager"),
        ("sam", "solutions_engineer"),
    ]

    var onboarding: OnboardingView
    /// A partner go-live whose contract was due yesterday: its task shows as overdue.
    var overdue: OnboardingView
    var tokens: [CreatedToken]

    /// Starts the next free `demo`, `demo-2`, … onboarding and makes the demo's tokens, replacing live tokens of
    /// the same names from an earlier run.
    static func prepare() async throws -> DemoSetup {
        try await CommandEngine.run { engine in
            let onboarding = try await Demo.startDemo(engine, company: "Contoso", path: "standard")
            let overdue = try await Demo.startOverdueDemo(engine, company: "Fabrikam")
            var tokens: [CreatedToken] = []
            for person in people {
                do {
                    try await engine.revokeToken(name: person.name)
                } catch let error as EngineError where error.code == .notFound {}
                tokens.append(try await engine.createToken(name: person.name, roles: [person.role]))
            }
            return DemoSetup(onboarding: onboarding, overdue: overdue, tokens: tokens)
        }
    }

    func instructions(baseURL: String) -> [String] {
        var lines = [
            "", "Dashboard: \(baseURL)/dashboard (sign in with a token below; each role sees its own inbox)",
            "", "Demo onboarding \(onboarding.id) (mail-send, standard path) is waiting on:",
        ]
        lines += onboarding.openTasks.map { "  \($0.id)  \($0.role)  \($0.title)" }
        lines += ["", "Onboarding \(overdue.id) (partner-go-live) has work past its due time:"]
        lines += overdue.openTasks.map { "  \($0.id)  \($0.role)  \($0.title)" }
        lines += ["", "Tokens (each shown once; the name is who the events record):"]
        lines += tokens.map { "  \($0.name.padding(toLength: 7, withPad: " ", startingAt: 0)) \($0.roles.joined(separator: ",").padding(toLength: 28, withPad: " ", startingAt: 0)) \($0.token)" }
        let admin = tokens.first { $0.roles.contains(Engine.adminRole) }?.token ?? ""
        let customer = tokens.first { $0.roles.contains("customer_admin") }?.token ?? ""
        let task = onboarding.openTasks.first?.id ?? "\(onboarding.id)-t1"
        lines += [
            "",
            "Try:",
            "  curl -s -H 'Authorization: Bearer \(customer)' '\(baseURL)/tasks?role=customer_admin'",
            "  curl -s -X POST -H 'Authorization: Bearer \(customer)' \(baseURL)/tasks/\(task)/claim",
            "  curl -s -X POST -H 'Authorization: Bearer \(customer)' -H 'Content-Type: application/json' "
                + "-d '{\"outputs\":{\"client_id\":\"C-1001\"},\"checklist\":[\"client-synced\",\"client-listed\"]}' "
                + "\(baseURL)/tasks/\(task)/complete",
            "  curl -s -H 'Authorization: Bearer \(admin)' \(baseURL)/onboardings/\(onboarding.id)/events",
            "",
            "Ctrl-C stops the server.",
        ]
        return lines
    }
}

/// `handoff tokens create | list | revoke`: who may use the HTTP API.
struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make, list and revoke the bearer tokens of the HTTP API.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token and print it once (only its hash is stored).",
            discussion: """
                The name is the actor every event the token causes records; the roles decide what it may do: a \
                task's role to claim and complete it, `admin` (or a workflow's `starters`) to start, signal and \
                cancel onboardings, `admin` to release someone else's claim. Any valid token may read.
                """
        )
        @OptionGroup var output: OutputOptions

        @Option(help: "Who the token is for: the actor its events record.")
        var name: String

        @Option(help: "A role the token holds (repeat for several).")
        var role: [String] = []

        @Option(help: "How long the token is valid, as 30d, 12h, 1w2d… (default: until revoked).")
        var expires: String?

        func run() async throws {
            try await Output.run(output) {
                var lifetime: TimeInterval?
                if let expires {
                    guard let span = TimeSpan(expires), span.seconds > 0 else {
                        throw CommandFailure(
                            code: "invalid_input", message: "--expires takes a duration such as 30d or 12h, not '\(expires)'")
                    }
                    lifetime = TimeInterval(span.seconds)
                }
                let created = try await CommandEngine.run { engine in
                    try await engine.createToken(name: name, roles: role, lifetime: lifetime)
                }
                try output.show(created) { print(created.token) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens (never their secrets).")
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await Output.run(output) {
                let tokens = try await CommandEngine.run { engine in try await engine.tokens() }
                try output.show(["tokens": tokens]) {
                    guard !tokens.isEmpty else {
                        print("No tokens. Make one with: handoff tokens create --name NAME --role ROLE")
                        return
                    }
                    Output.printTable(
                        ["NAME", "ROLES", "STATE", "CREATED", "EXPIRES"],
                        tokens.map {
                            [$0.name, $0.roles.joined(separator: ","), $0.state, Clock.text($0.createdAt), Clock.text($0.expiresAt)]
                        })
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke the live token with this name.")
        @OptionGroup var output: OutputOptions

        @Argument(help: "The token's name.")
        var name: String

        func run() async throws {
            try await Output.run(output) {
                try await CommandEngine.run { engine in try await engine.revokeToken(name: name) }
                try output.show(["revoked": name]) { print("Revoked token \(name).") }
            }
        }
    }
}
