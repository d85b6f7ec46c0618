import ArgumentParser
import Foundation
import HandoffCore
import HandoffService
import HandoffStore

/// `handoff tasks [--role ROLE]... [--state STATE]... [--onboarding ID] [--assignee USER] [--overdue]`
struct Tasks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List tasks, oldest first, then by due time (open and claimed ones unless --state says otherwise).")

    @OptionGroup var output: OutputOptions
    @OptionGroup var page: PageOptions

    @Option(name: .customLong("role"), help: "Only tasks for this role; repeat for several.")
    var roles: [String] = []

    @Option(name: .customLong("state"), help: "open, claimed, completed or cancelled; repeat for several.")
    var states: [String] = []

    @Option(help: "Only tasks of this onboarding.")
    var onboarding: String?

    @Option(help: "Only tasks this user holds.")
    var assignee: String?

    @Flag(help: "Only open or claimed tasks past their due time.")
    var overdue = false

    func run() async throws {
        try await Output.run(output) {
            let result = try await CommandEngine.run { engine in
                try await engine.tasks(
                    TaskQuery(roles: roles, states: states, onboardingId: onboarding, assignee: assignee),
                    limit: page.limit, after: page.after, overdue: overdue)
            }
            if output.json {
                try Output.printJSON(result.listing("tasks"))
                return
            }
            if result.items.isEmpty {
                print("No tasks.")
                return
            }
            Render.taskTable(result.items)
            if let next = result.next { print("more: --after \(next)") }
        }
    }
}

/// `handoff claim TASK --as USER --role ROLE` or `handoff claim --next --role ROLE --as USER`
struct Claim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Claim a task (exclusively) for a user who holds its role.",
        discussion: "With --next instead of a task id, claims the oldest open task of the roles that nobody is changing right now."
    )

    @OptionGroup var output: OutputOptions
    @OptionGroup var write: WriteOptions

    @Argument(help: "The task id (omit with --next).")
    var task: String?

    @Flag(help: "Claim the next open task of the roles.")
    var next = false

    @Option(name: .customLong("as"), help: "Who claims it.")
    var user: String

    @Option(name: .customLong("role"), help: "A role the user holds; repeat for several.")
    var roles: [String]

    func validate() throws {
        if next == (task != nil) {
            throw ValidationError("give a task id or --next, not both or neither")
        }
        if roles.isEmpty {
            throw ValidationError("give the user's role with --role")
        }
    }

    func run() async throws {
        try await Output.run(output) {
            let claimed: TaskView? = try await CommandEngine.run { engine in
                if let task {
                    return try await engine.claim(
                        taskId: task, user: user, roles: Set(roles), commandId: write.commandId)
                }
                return try await engine.nextTask(roles: Set(roles), user: user, commandId: write.commandId)
            }
            guard let claimed else {
                throw CommandFailure(
                    code: "not_found", message: "no open task for \(roles.joined(separator: ", ")) right now")
            }
            if output.json {
                try Output.printJSON(claimed)
                return
            }
            print("Claimed \(claimed.id) for \(user): \(claimed.title)")
            Hints.describe(claimed)
            print("")
            print("Complete it with:")
            print("  " + Hints.completeCommand(claimed, user: user))
        }
    }
}

/// `handoff release TASK --as USER`
struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Give a claimed task back to its role's queue.")

    @OptionGroup var output: OutputOptions
    @OptionGroup var write: WriteOptions

    @Argument(help: "The task id.")
    var task: String

    @Option(name: .customLong("as"), help: "Who holds it.")
    var user: String

    func run() async throws {
        try await Output.run(output) {
            let released = try await CommandEngine.run { engine in
                try await engine.release(taskId: task, user: user, commandId: write.commandId)
            }
            try output.show(released) {
                print("Released \(released.id); it is open again for \(released.role).")
            }
        }
    }
}

/// `handoff complete TASK --as USER [--output KEY=VALUE]... [--check ITEM]...`
struct Complete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Complete a task you hold with its outputs and ticked checklist items; the onboarding moves on.")

    @OptionGroup var output: OutputOptions
    @OptionGroup var write: WriteOptions

    @Argument(help: "The task id.")
    var task: String

    @Option(name: .customLong("as"), help: "Who holds it.")
    var user: String

    @Option(name: .customLong("output"), help: "An output as KEY=VALUE; repeat for several.")
    var outputs: [String] = []

    @Option(name: .customLong("check"), help: "A ticked checklist item id; repeat for each.")
    var checks: [String] = []

    func run() async throws {
        try await Output.run(output) {
            let values = try KeyValues.parse(outputs, option: "--output")
            let (completed, onboarding) = try await CommandEngine.run { engine in
                let completed = try await engine.complete(
                    taskId: task, user: user, outputs: values, checklist: Set(checks), commandId: write.commandId)
                return (completed, try await engine.onboarding(completed.onboardingId))
            }
            if output.json {
                try Output.printJSON(completed)
                return
            }
            print("Completed \(completed.id): \(completed.title)")
            Hints.next(onboarding, user: user)
        }
    }
}

/// The exact commands people can type next.
enum Hints {
    /// Who plays each role of the seed workflows in the walkthrough.
    static func user(for role: String, otherwise fallback: String) -> String {
        switch role {
        case "customer_admin": "alice"
        case "partner_integration_manager": "pat"
        case "solutions_engineer": "sam"
        default: fallback
        }
    }

    static func quoted(_ text: String) -> String {
        text.allSatisfy { $0.isLetter || $0.isNumber || "-_.@=:/".contains($0) } ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// A placeholder for an output's value that says what to give, never a made-up value: its title (or
    /// name) for text, its type otherwise, and its pattern.
    static func placeholder(_ output: TaskView.Output) -> String {
        let what: String
        switch output.type {
        case "boolean": what = "true|false"
        case "enum": what = (output.values ?? []).joined(separator: "|")
        case "string", "text": what = output.title ?? output.name
        default: what = output.type
        }
        return "<\(what)\(output.pattern.map { " matching \($0)" } ?? "")>"
    }

    /// The command that completes `task`, with a placeholder for each required output that has no default.
    /// Checklist items are listed apart: ticking them is the person's to say.
    static func completeCommand(_ task: TaskView, user: String) -> String {
        var parts = ["handoff complete \(task.id) --as \(quoted(user))"]
        for output in task.outputs where output.default == nil && output.required {
            parts.append("--output " + quoted("\(output.name)=\(placeholder(output))"))
        }
        if !task.checklist.isEmpty {
            parts.append("--check ID…")
        }
        return parts.joined(separator: " ")
    }

    static func claimCommand(_ id: String, role: String, user: String) -> String {
        "handoff claim \(id) --as \(quoted(user)) --role \(role)"
    }

    /// The task's checklist and outputs, for the person about to do it.
    static func describe(_ task: TaskView) {
        if !task.instructions.isEmpty {
            print("")
            print(task.instructions.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
        }
        if !task.checklist.isEmpty {
            print("")
            print("Checklist (tick each with --check ID):")
            Output.printTable(["  ID", "ITEM"], task.checklist.map { ["  " + $0.id, $0.text] })
        }
        if !task.outputs.isEmpty {
            print("")
            print("Outputs (give each with --output NAME=VALUE):")
            Output.printTable(
                ["  NAME", "TYPE", "REQUIRED", "DEFAULT", "PATTERN", "TITLE"],
                task.outputs.map {
                    [
                        "  " + $0.name, $0.type == "enum" ? "one of " + ($0.values ?? []).joined(separator: ", ") : $0.type,
                        $0.required ? "yes" : "no", $0.default?.displayText ?? "-", $0.pattern ?? "-", $0.title ?? "",
                    ]
                })
        }
    }

    /// What the onboarding waits on now, with the command to take each open task.
    static func next(_ onboarding: OnboardingView, user: String) {
        if onboarding.state != "active" {
            print("Onboarding \(onboarding.id) is \(onboarding.state)" + (onboarding.reason.map { ": \($0)" } ?? "") + ".")
            if !onboarding.variables.isEmpty {
                for name in onboarding.variables.keys.sorted() {
                    print("  \(name) = \(onboarding.variables[name]?.displayText ?? "")")
                }
            }
            print("See the whole story with: handoff history \(onboarding.id)")
            return
        }
        let open = onboarding.openTasks.filter { $0.state == "open" }
        if open.isEmpty, onboarding.awaitedSignals.isEmpty {
            print("Onboarding \(onboarding.id) waits in \(onboarding.currentSteps.joined(separator: ", ")).")
            return
        }
        print("Next:")
        for task in open {
            print("  \(task.id) for \(task.role): \(task.title)")
            print("  " + claimCommand(task.id, role: task.role, user: user))
        }
        for signal in onboarding.awaitedSignals {
            print("  waiting for the signal \(signal); when it comes:")
            print("  handoff signal \(onboarding.id) \(signal) --as \(quoted(user)) [--data JSON]")
        }
    }
}
