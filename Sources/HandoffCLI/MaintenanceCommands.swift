import ArgumentParser
import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import Timestamps

/// `handoff projections status | rebuild [NAME]`
struct ProjectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections",
        abstract: "Inspect and rebuild the projections (the onboardings status table and the tasks queue).",
        subcommands: [Status.self, Rebuild.self]
    )

    struct Report: Encodable {
        let projections: [ProjectionStatusView]
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show each projection's position and lag behind the log.")
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await Output.run(output) {
                let states = try await CommandEngine.run { engine in try await engine.projectionsStatus() }
                if output.json {
                    try Output.printJSON(Report(projections: states))
                    return
                }
                Output.printTable(
                    ["NAME", "POSITION", "LAG EVENTS", "LAG SECONDS", "STATE", "REBUILT"],
                    states.map {
                        [
                            $0.name, String($0.position), String($0.lagEvents), String(format: "%.1f", $0.lagSeconds),
                            $0.state, $0.rebuiltAt.map { Clock.text($0) } ?? "never",
                        ]
                    })
            }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Empty a projection (or both) and write it again from the event log, in one transaction.")
        @OptionGroup var output: OutputOptions

        @Argument(help: "onboardings or tasks (default: both).")
        var name: String?

        func run() async throws {
            try await Output.run(output) {
                let report = try await CommandEngine.run { engine in try await engine.rebuildProjections(name) }
                if output.json {
                    try Output.printJSON(report)
                } else {
                    print(
                        "Rebuilt \(report.projections.joined(separator: " and ")) from \(report.events) events of "
                            + "\(report.streams) streams: \(report.onboardings) onboardings, \(report.tasks) tasks.")
                    for problem in report.problems {
                        print("  problem: \(problem)")
                    }
                }
                // A stream that could not be folded is missing from the projections: say so, and fail.
                guard report.problems.isEmpty else {
                    throw CommandFailure(
                        code: "internal",
                        message: "\(report.problems.count) streams could not be folded and are missing from the "
                            + "projections: " + report.problems.joined(separator: "; "))
                }
            }
        }
    }
}

/// `handoff verify`
struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay every stream through its pinned definition and check states, projections and decisions.",
        discussion: """
            With --definitions DIR, replays every stored run instead through the definition of its workflow in \
            DIR (the one of its version, else the newest) before they are deployed, and lists each run whose \
            recorded decisions would change, with the first event that differs. Either way the exit status is \
            non-zero (verification_failed) when anything differs.
            """)
    @OptionGroup var output: OutputOptions

    @Option(help: "A folder of candidate workflow files to check every stored run against.")
    var definitions: String?

    func run() async throws {
        try await Output.run(output) {
            if let definitions {
                try await checkCandidates(in: definitions)
                return
            }
            let report = try await CommandEngine.run { engine in try await engine.verify() }
            try output.show(report) {
                for problem in report.problems {
                    print("problem: \(problem)")
                }
                print(
                    "\(report.ok ? "ok" : "FAILED"): \(report.streams) streams, \(report.events) events, "
                        + "\(report.decisions) decisions replayed, \(report.problems.count) problems")
            }
            if !report.ok {
                throw CommandFailure(
                    code: "verification_failed", message: "\(report.problems.count) problems (listed above)")
            }
        }
    }

    private func checkCandidates(in folder: String) async throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandFailure(code: "not_found", message: "no folder \(folder)")
        }
        let (candidates, broken) = try WorkflowLibrary(folder: URL(fileURLWithPath: folder)).load()
        if !broken.isEmpty {
            let files = broken.map { $0.diagnostics.first?.file ?? "?" }.sorted().joined(separator: ", ")
            throw CommandFailure(
                code: "invalid_workflow",
                message: "candidate files that do not load (see `handoff workflows validate`): \(files)")
        }
        guard !candidates.isEmpty else {
            throw CommandFailure(code: "invalid_input", message: "no workflow files (*.yaml) in \(folder)")
        }
        let report = try await CommandEngine.run { engine in try await engine.verify(candidates: candidates) }
        try output.show(report) {
            for change in report.changes {
                print(
                    "changed: \(change.onboarding) (\(change.workflow) v\(change.pinnedVersion), candidate "
                        + "v\(change.candidateVersion)) at version \(change.version)")
                print("  history:   \(change.recorded ?? "(nothing)")")
                print("  candidate: \(change.decided ?? "(nothing: \(change.detail))")")
            }
            let skipped = report.withoutCandidate.sorted { $0.key < $1.key }
                .map { "\($0.value) of \($0.key)" }.joined(separator: ", ")
            print(
                "\(report.ok ? "ok" : "FAILED"): \(report.checked) of \(report.streams) runs checked against \(folder), "
                    + "\(report.decisions) decisions replayed, \(report.changes.count) would change"
                    + (skipped.isEmpty ? "" : "; without a candidate: \(skipped)"))
        }
        if !report.ok {
            throw CommandFailure(
                code: "verification_failed",
                message: "\(report.changes.count) runs would decide differently under \(folder) (listed above)")
        }
    }
}

/// `handoff demo`: the first thing to run on a fresh machine.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a Mail.Send demo onboarding and print the commands to walk it through.",
        discussion: "Uses DATABASE_URL, or starts the private PostgreSQL cluster under $HANDOFF_HOME; applies migrations."
    )
    @OptionGroup var output: OutputOptions

    @Option(help: "The demo company.")
    var company = "Contoso"

    @Option(help: "standard or mail_send_only.")
    var path = "standard"

    /// Starts a Mail.Send onboarding under the first free id of `demo`, `demo-2`, `demo-3`, …
    static func startDemo(_ engine: Engine, company: String, path: String) async throws -> OnboardingView {
        var id = "demo"
        var attempt = 1
        while (try? await engine.onboarding(id)) != nil {
            attempt += 1
            id = "demo-\(attempt)"
        }
        return try await engine.start(
            workflow: "mail-send", inputs: ["company": .string(company), "path": .string(path)], id: id, actor: "demo")
    }

    /// Starts a partner go-live under the first free id of `demo-go-live`, `demo-go-live-2`, … whose contract was
    /// due a day ago by the engine's clock, so that its first tasks show as overdue.
    static func startOverdueDemo(_ engine: Engine, company: String) async throws -> OnboardingView {
        var id = "demo-go-live"
        var attempt = 1
        while (try? await engine.onboarding(id)) != nil {
            attempt += 1
            id = "demo-go-live-\(attempt)"
        }
        let yesterday = Timestamp.format(engine.now.addingTimeInterval(-86_400))
        return try await engine.start(
            workflow: "partner-go-live",
            inputs: [
                "company": .string(company), "contact_email": .string("legal@\(company.lowercased()).example"),
                "contract_by": .string(yesterday),
            ],
            id: id, actor: "demo")
    }

    func run() async throws {
        try await Output.run(output) {
            let settings = DatabaseSettings.fromEnvironment()
            let (onboarding, workflows, task) = try await CommandEngine.run { engine in
                let (definitions, _) = try engine.workflows.load()
                let onboarding = try await Self.startDemo(engine, company: company, path: path)
                let task = try await engine.task("\(onboarding.id)-t1")
                return (onboarding, definitions, task)
            }
            if output.json {
                try Output.printJSON(onboarding)
                return
            }
            let database = settings.databaseURL == nil ? "private cluster in \(settings.home.path)" : "DATABASE_URL"
            print("Handoff demo")
            print("  database:  \(database), migrations applied")
            print("  workflows: " + workflows.map { "\($0.id) v\($0.version)" }.joined(separator: ", "))
            print("")
            print("Started onboarding \(onboarding.id) (mail-send) for \(company), \(path) path.")
            print("")
            Output.printTable(
                ["TASK", "ROLE", "STATE", "TITLE"], onboarding.openTasks.map { [$0.id, $0.role, $0.state, $0.title] })
            let user = Hints.user(for: task.role, otherwise: "alice")
            print("")
            print("Try next, as the customer admin:")
            print("  handoff tasks --role \(task.role)")
            print("  " + Hints.claimCommand(task.id, role: task.role, user: user))
            print("  " + Hints.completeCommand(task, user: user))
            print("Each claim and completion prints the next commands. Follow along with:")
            print("  handoff status \(onboarding.id)")
            print("  handoff history \(onboarding.id)")
        }
    }
}
