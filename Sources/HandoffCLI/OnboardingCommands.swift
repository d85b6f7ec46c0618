import ArgumentParser
import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import Timestamps

/// `handoff start WORKFLOW [--input KEY=VALUE]... [--id ID] [--as USER]`
struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start an onboarding of a workflow and print its id.",
        discussion: "The workflow comes from $HANDOFF_WORKFLOWS; the onboarding keeps that exact definition for its whole life."
    )

    @OptionGroup var output: OutputOptions
    @OptionGroup var write: WriteOptions

    @Argument(help: "The workflow id (see `handoff workflows list`).")
    var workflow: String

    @Option(name: .customLong("input"), help: "An input as KEY=VALUE; repeat for several.")
    var inputs: [String] = []

    @Option(help: "The onboarding's id (default: made from the workflow id).")
    var id: String?

    @Option(name: .customLong("as"), help: "Who starts it (default: $USER).")
    var actor: String?

    func run() async throws {
        try await Output.run(output) {
            let inputs = try KeyValues.parse(inputs, option: "--input")
            let view = try await CommandEngine.run { engine in
                try await engine.start(
                    workflow: workflow, inputs: inputs, id: id, actor: actor ?? CommandEngine.defaultActor,
                    commandId: write.commandId)
            }
            try output.show(view) {
                print(view.id)
            }
        }
    }
}

/// `handoff status [ONBOARDING] [--workflow W] [--state S]`
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one onboarding, or list onboardings by start time.")

    @OptionGroup var output: OutputOptions
    @OptionGroup var page: PageOptions

    @Argument(help: "An onboarding id; without it, onboardings are listed.")
    var onboarding: String?

    @Option(help: "Only onboardings of this workflow.")
    var workflow: String?

    @Option(help: "Only onboardings in this state: active, completed, cancelled or failed.")
    var state: String?

    @Option(help: "Only onboardings waiting in this step (its path).")
    var step: String?

    @Option(
        name: .customLong("where"),
        help: "Only onboardings with an input or variable of this value, as NAME=VALUE (repeat: all of them).")
    var values: [String] = []

    func run() async throws {
        try await Output.run(output) {
            if let onboarding {
                let view = try await CommandEngine.run { engine in try await engine.onboarding(onboarding) }
                try output.show(view) {
                    Render.onboarding(view)
                }
                return
            }
            if let state, !["active", "completed", "cancelled", "failed"].contains(state) {
                throw CommandFailure(
                    code: "invalid_input", message: "--state is active, completed, cancelled or failed, not '\(state)'")
            }
            let pairs = try values.map { (pair) throws(EngineError) in try Engine.valueFilter(pair, option: "--where") }
            let result = try await CommandEngine.run { engine in
                try await engine.onboardings(
                    OnboardingQuery(workflowId: workflow, state: state, step: step, values: pairs), limit: page.limit,
                    after: page.after)
            }
            if output.json {
                try Output.printJSON(result.listing("onboardings"))
                return
            }
            Output.printTable(
                ["ONBOARDING", "WORKFLOW", "STATE", "WAITING IN", "OPEN TASKS", "VERSION", "UPDATED"],
                result.items.map {
                    [
                        $0.id, "\($0.workflow) v\($0.workflowVersion)", $0.state,
                        $0.currentSteps.isEmpty ? "-" : $0.currentSteps.joined(separator: ", "),
                        $0.openTasks.isEmpty ? "-" : $0.openTasks.map(\.id).joined(separator: ", "),
                        String($0.version), Clock.text($0.updatedAt),
                    ]
                })
            if let next = result.next { print("more: --after \(next)") }
        }
    }
}

/// `handoff signal ONBOARDING NAME [--data JSON]`
struct Signal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Deliver a named signal to the steps waiting for it.")

    @OptionGroup var output: OutputOptions
    @OptionGroup var write: WriteOptions

    @Argument(help: "The onboarding id.")
    var onboarding: String

    @Argument(help: "The signal's name.")
    var name: String

    @Option(help: "The signal's data as JSON.")
    var data: String?

    @Option(name: .customLong("as"), help: "Who sends it (default: $USER).")
    var actor: String?

    func run() async throws {
        try await Output.run(output) {
            let value = try data.map { try KeyValues.json($0, option: "--data") } ?? .null
            let view = try await CommandEngine.run { engine in
                try await engine.signal(
                    onboardingId: onboarding, name: name, data: value, actor: actor ?? CommandEngine.defaultActor,
                    commandId: write.commandId)
            }
            try output.show(view) {
                print("Delivered \(name) to \(onboarding).")
                Render.onboarding(view)
            }
        }
    }
}

/// `handoff cancel ONBOARDING --as USER --reason TEXT`
struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cancel an active onboarding; its open tasks are withdrawn.")

    @OptionGroup var output: OutputOptions
    @OptionGroup var write: WriteOptions

    @Argument(help: "The onboarding id.")
    var onboarding: String

    @Option(name: .customLong("as"), help: "Who cancels it.")
    var actor: String

    @Option(help: "Why, for the history.")
    var reason: String

    func run() async throws {
        try await Output.run(output) {
            let view = try await CommandEngine.run { engine in
                try await engine.cancel(onboardingId: onboarding, user: actor, reason: reason, commandId: write.commandId)
            }
            try output.show(view) {
                print("Cancelled \(onboarding): \(reason)")
            }
        }
    }
}

/// `handoff upgrade ONBOARDING --to VERSION --as USER`
struct Upgrade: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move a run in flight to a newer version of its workflow, if the steps it is in map onto it.",
        discussion: """
            The version comes from the workflows folder (HANDOFF_WORKFLOWS), or from the definitions stored by runs \
            that started with it. Refused, with the reason and nothing written, unless every step the run is in \
            now is a step of the same kind in the newer version (and every open task's step a task for the same \
            role). `handoff verify --definitions DIR` shows first how the newer version would have decided the \
            run's history.
            """)

    @OptionGroup var output: OutputOptions
    @OptionGroup var write: WriteOptions

    @Argument(help: "The onboarding id.")
    var onboarding: String

    @Option(help: "The workflow version to move it to.")
    var to: Int

    @Option(name: .customLong("as"), help: "Who upgrades it.")
    var actor: String

    func run() async throws {
        try await Output.run(output) {
            let view = try await CommandEngine.run { engine in
                try await engine.upgrade(onboardingId: onboarding, toVersion: to, user: actor, commandId: write.commandId)
            }
            try output.show(view) {
                print("Upgraded \(onboarding) to \(view.workflow) v\(view.workflowVersion).")
                print("")
                Render.onboarding(view)
            }
        }
    }
}


/// `handoff history ONBOARDING`
struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every event of an onboarding: who did what, when.",
        discussion: """
            --type, --actor, --since and --until narrow it (types and actors repeat: any of those given). \
            --format ndjson prints one event per line, as JSON, for jq and for files.
            """)

    @OptionGroup var output: OutputOptions

    @Argument(help: "The onboarding id.")
    var onboarding: String

    @Option(name: .customLong("type"), help: "Only events of this type (TaskCompleted, VariablesSet, …).")
    var types: [String] = []

    @Option(name: .customLong("actor"), help: "Only events this user's commands appended.")
    var actors: [String] = []

    @Option(help: "Only events recorded at or after this ISO 8601 time.")
    var since: String?

    @Option(help: "Only events recorded at or before this ISO 8601 time.")
    var until: String?

    @Option(help: "table, json or ndjson (default: table; json with --json).")
    var format: String?

    func run() async throws {
        try await Output.run(output) {
            let format = try Self.format(format, json: output.json)
            let filter = HistoryFilter(
                types: Set(types), actors: Set(actors), since: try since.map { try Self.time($0, "--since") },
                until: try until.map { try Self.time($0, "--until") })
            let events = try await CommandEngine.run { engine in try await engine.history(onboarding, matching: filter) }
            switch format {
            case "json":
                try Output.printJSON(["events": events])
            case "ndjson":
                for event in events { try Output.printJSONLine(event) }
            default:
                Output.printTable(
                    ["VER", "POSITION", "TIME", "ACTOR", "EVENT", "DETAIL"],
                    events.map {
                        [
                            String($0.version), String($0.position), Clock.text($0.recordedAt), $0.actor ?? "-",
                            $0.type, Render.detail(of: $0),
                        ]
                    })
            }
        }
    }

    static func format(_ format: String?, json: Bool) throws -> String {
        switch (format, json) {
        case (nil, false): return "table"
        case (nil, true), ("json", _): return "json"
        case ("table", false), ("ndjson", false): return format!
        case ("table", true), ("ndjson", true):
            throw CommandFailure(code: "invalid_input", message: "--json prints JSON; it does not go with --format \(format!)")
        case (let other?, _):
            throw CommandFailure(code: "invalid_input", message: "--format is table, json or ndjson, not '\(other)'")
        }
    }

    /// The time an ISO 8601 flag gives; `invalid_input` naming the flag when it is not one.
    static func time(_ text: String, _ flag: String) throws -> Date {
        guard let time = Timestamp.parse(text) else {
            throw CommandFailure(code: "invalid_input", message: "\(flag) is not an ISO 8601 time: \(text)")
        }
        return time
    }
}

/// `handoff replay ONBOARDING [--at VERSION | --at-time ISO8601]`
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show an onboarding as it was at a version or a time, folded from its log.")

    @OptionGroup var output: OutputOptions

    @Argument(help: "The onboarding id.")
    var onboarding: String

    @Option(help: "Stop after the event with this version (1 is the start).")
    var at: Int64?

    @Option(name: .customLong("at-time"), help: "Stop after the last event recorded at or before this ISO 8601 time.")
    var atTime: String?

    func run() async throws {
        try await Output.run(output) {
            let point: Engine.ReplayPoint
            switch (at, atTime) {
            case (nil, nil): point = .latest
            case (let version?, nil): point = .version(version)
            case (nil, let text?):
                point = .time(try History.time(text, "--at-time"))
            case (_?, _?):
                throw CommandFailure(code: "invalid_input", message: "give --at or --at-time, not both")
            }
            let view = try await CommandEngine.run { engine in try await engine.replay(onboarding, at: point) }
            if output.json {
                try Output.printJSON(view)
                return
            }
            print("as of version \(view.version) (\(Clock.text(view.onboarding.updatedAt)))")
            Render.onboarding(view.onboarding, listTasks: false)
            print("")
            Render.taskTable(view.tasks)
        }
    }
}

/// How the onboarding commands show things to people.
enum Render {
    static func onboarding(_ view: OnboardingView, listTasks: Bool = true) {
        let values: ([String: Value]) -> String = { values in
            values.isEmpty ? "-" : values.keys.sorted().map { "\($0)=\(values[$0]?.displayText ?? "")" }
                .joined(separator: ", ")
        }
        var rows = [
            ["onboarding", view.id],
            ["workflow", "\(view.workflow) v\(view.workflowVersion) (sha256 \(view.contentHash.prefix(12)))"],
            ["state", view.state + (view.reason.map { " (\($0))" } ?? "")],
            ["waiting in", view.currentSteps.isEmpty ? "-" : view.currentSteps.joined(separator: ", ")],
            ["inputs", values(view.inputs)],
            ["variables", values(view.variables)],
            ["started", Clock.text(view.startedAt)],
            ["updated", Clock.text(view.updatedAt)],
            ["version", String(view.version)],
        ]
        if !view.awaitedSignals.isEmpty { rows.append(["signals", view.awaitedSignals.joined(separator: ", ")]) }
        if !view.timers.isEmpty {
            rows.append(["timers", view.timers.map { "\($0.id) at \(Clock.text($0.dueAt))" }.joined(separator: ", ")])
        }
        for row in rows {
            print(row[0].padding(toLength: 12, withPad: " ", startingAt: 0) + row[1])
        }
        if listTasks, !view.openTasks.isEmpty {
            print("")
            Output.printTable(
                ["TASK", "ROLE", "STATE", "ASSIGNEE", "TITLE"],
                view.openTasks.map { [$0.id, $0.role, $0.state, $0.assignee ?? "-", $0.title] })
        }
    }

    static func taskTable(_ tasks: [TaskView]) {
        Output.printTable(
            ["TASK", "ROLE", "STATE", "ASSIGNEE", "DUE", "TITLE"],
            tasks.map {
                let overdue = $0.dueAt.map { $0 <= Date() } == true && ($0.state == "open" || $0.state == "claimed")
                let role = ([$0.role] + $0.escalatedRoles.map { "+" + $0 }).joined(separator: " ")
                return [$0.id, role, $0.state, $0.assignee ?? "-", Clock.text($0.dueAt) + (overdue ? " OVERDUE" : ""), $0.title]
            })
    }

    /// One line about an event's data, for `history`: the event's own summary.
    static func detail(of event: EventView) -> String {
        OnboardingEvent.summary(type: event.type, data: event.data)
    }
}
