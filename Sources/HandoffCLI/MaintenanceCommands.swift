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
        abstract: "Inspect and rebuild the projections (inline: onboardings, tasks; async: timings, variables, activity, counts).",
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
                    ["NAME", "KIND", "POSITION", "LAG EVENTS", "LAG SECONDS", "STATE", "HOLDER", "REBUILT"],
                    states.map {
                        [
                            $0.name + ($0.generation.map { " #\($0)" } ?? ""), $0.kind, String($0.position),
                            String($0.lagEvents), String(format: "%.1f", $0.lagSeconds), $0.state, $0.holder ?? "-",
                            $0.rebuiltAt.map { Clock.text($0) } ?? "never",
                        ]
                    })
            }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a projection (or every one) again from the event log.",
            discussion: """
                An inline projection (onboardings, tasks) is emptied and written again in one transaction. An async \
                one (timings, variables, activity, counts) is written into its next generation from position zero while \
                readers keep seeing the live one, then swapped in at once; a rebuild that was stopped resumes \
                where it was. On a terminal a progress bar shows events per second and the time left.
                """)
        @OptionGroup var output: OutputOptions

        @Argument(help: "onboardings, tasks, timings, variables, activity or counts (default: every one).")
        var name: String?

        func run() async throws {
            try await Output.run(output) {
                let names = name.map { [$0] } ?? (Projections.names + Engine.asyncProjectionNames)
                let inline = names.filter(Projections.names.contains)
                let async = names.filter { !Projections.names.contains($0) }
                let owner = "rebuild:\(ProcessInfo.processInfo.hostName):\(getpid())"
                let bar = ProgressBar(enabled: !output.json && isatty(2) == 1)
                let (report, rebuilt) = try await CommandEngine.run { engine in
                    let report = inline.isEmpty && !async.isEmpty
                        ? nil : try await engine.rebuildProjections(inline.count == 1 ? inline[0] : nil)
                    var rebuilt: [AsyncRebuildReport] = []
                    for name in async {
                        rebuilt.append(
                            try await engine.rebuildAsyncProjection(
                                name, owner: owner, leaseSeconds: 30, progress: { bar.show($0) }))
                        bar.finish()
                    }
                    // The replaced generations' rows (a running `serve` or `worker` would clear them too).
                    if !async.isEmpty { try await engine.clearStaleProjectionRows() }
                    return (report, rebuilt)
                }
                if output.json {
                    try Output.printJSON(RebuildOutput(inline: report, async: rebuilt))
                } else {
                    if let report {
                        print(
                            "Rebuilt \(report.projections.joined(separator: " and ")) from \(report.events) events of "
                                + "\(report.streams) streams: \(report.onboardings) onboardings, \(report.tasks) tasks.")
                        for problem in report.problems {
                            print("  problem: \(problem)")
                        }
                    }
                    for rebuilt in rebuilt {
                        print(
                            "Rebuilt \(rebuilt.projection) from \(rebuilt.events) events in "
                                + String(format: "%.1f", rebuilt.seconds) + " s (generation \(rebuilt.generation)).")
                    }
                }
                // A stream that could not be folded is missing from the projections: say so, and fail.
                if let report, !report.problems.isEmpty {
                    throw CommandFailure(
                        code: "internal",
                        message: "\(report.problems.count) streams could not be folded and are missing from the "
                            + "projections: " + report.problems.joined(separator: "; "))
                }
            }
        }
    }

    /// `rebuild --json`: the inline rebuild's report as before, the async ones beside it.
    struct RebuildOutput: Encodable {
        let inline: RebuildReport?
        let async: [AsyncRebuildReport]

        func encode(to encoder: any Encoder) throws {
            if let inline { try inline.encode(to: encoder) }
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(async, forKey: .rebuilt)
        }

        enum Key: String, CodingKey {
            case rebuilt
        }
    }
}

/// A one-line progress bar on standard error, redrawn in place (only on a terminal).
final class ProgressBar: Sendable {
    let enabled: Bool

    init(enabled: Bool) {
        self.enabled = enabled
    }

    func show(_ progress: RebuildProgress) {
        guard enabled else { return }
        let fraction = progress.total > 0 ? min(1, Double(progress.events) / Double(progress.total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let rate = progress.seconds > 0 ? Double(progress.events) / progress.seconds : 0
        let left = rate > 0 ? Double(progress.total - progress.events) / rate : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "\r\(progress.projection) [\(bar)] "
            + String(format: "%3.0f%%  ", fraction * 100) + "\(progress.events)/\(progress.total) events  "
            + String(format: "%.0f events/s  %.0f s left ", rate, max(0, left))
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
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

/// `handoff archive [--older-than DURATION] [--limit N]`
struct ArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Move the events of finished onboardings into the archive.",
        discussion: """
            Moves the events of every onboarding that is completed, cancelled or failed and has not changed for \
            --older-than out of the table that writes and followers of the log work on, into archived_events. \
            Nothing is lost or changed: history, replay, export, verify and projection rebuilds read archived \
            events as before, and the dashboard still lists the onboardings. Active onboardings are never moved.
            """)
    @OptionGroup var output: OutputOptions

    @Option(name: .customLong("older-than"), help: "How long a finished onboarding has been unchanged, such as 30d or 12h.")
    var olderThan: String = "30d"

    @Option(help: "Archive at most this many onboardings (default: every one that qualifies).")
    var limit: Int?

    func run() async throws {
        try await Output.run(output) {
            guard let span = TimeSpan(olderThan) else {
                throw CommandFailure(
                    code: "invalid_input", message: "--older-than takes a duration such as 30d or 12h, not '\(olderThan)'")
            }
            let cutoff = Date().addingTimeInterval(-Double(span.seconds))
            let report = try await CommandEngine.run { engine in try await engine.archive(before: cutoff, limit: limit) }
            try output.show(report) {
                print(
                    "Archived \(report.onboardings) onboardings (\(report.events) events) finished before "
                        + "\(Clock.text(cutoff)); the archive holds \(report.archivedOnboardings) onboardings, "
                        + "\(report.archivedEvents) events.")
            }
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
