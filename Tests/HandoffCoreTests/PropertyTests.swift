import Foundation
import HandoffCore
import Testing

/// Random valid command sequences on the repository's workflows. Each run is reproducible from its seed.
@Suite("Properties of random runs")
struct PropertyTests {
    static let seeds: [UInt64] = Array(1...150)

    @Test(arguments: ["mail-send", "partner-go-live"])
    func foldingReproducesTheStateAndNothingGetsStuck(workflow: String) throws {
        let definition = try loadWorkflow(workflow)
        var endings: [OnboardingState.Status: Int] = [:]
        for seed in Self.seeds {
            var random = SplitMix64(seed: seed)
            let final = try Self.randomRun(definition, random: &random, seed: seed).state
            endings[final.status, default: 0] += 1
        }
        // The random walks reach every way a run can end that the workflow has.
        #expect(endings[.completed, default: 0] > 0, "\(endings)")
        #expect(endings[.cancelled, default: 0] > 0, "\(endings)")
    }

    /// Runs random valid commands (and some refused ones) until the onboarding ends or 300 commands pass.
    static func randomRun(
        _ definition: WorkflowDefinition, random: inout SplitMix64, seed: UInt64
    ) throws -> (state: OnboardingState, events: [OnboardingEvent]) {
        let interpreter = Interpreter(definition: definition)
        var now = t0
        var events = try interpreter.decide(
            nil, .start(onboardingId: "ob\(seed)", inputs: inputs(definition, &random)), now: now)
        var state = try #require(interpreter.replay(events))
        for _ in 0..<300 where state.status == .active {
            now = now.addingTimeInterval(Double(Int.random(in: 0...3_600, using: &random)))
            if Int.random(in: 0..<5, using: &random) == 0, let refused = refusedCommand(state, &random) {
                #expect(throws: DecisionError.self, "seed \(seed): \(refused) should be refused") {
                    try interpreter.decide(state, refused, now: now)
                }
            }
            let choices = validCommands(state, now: now, &random)
            let (command, at) = try #require(choices.randomElement(using: &random), "seed \(seed): no command possible")
            now = max(now, at)
            let new: [OnboardingEvent]
            do {
                new = try interpreter.decide(state, command, now: now)
            } catch {
                Issue.record("seed \(seed): \(command) was refused: \(error)")
                break
            }
            #expect(
                try interpreter.decide(state, command, now: now) == new, "seed \(seed): decide is not deterministic")
            events += new
            for event in new {
                state = interpreter.evolve(state, event)
            }
            #expect(interpreter.replay(events) == state, "seed \(seed): folding the events gives another state")
            checkNeverStuck(state, seed: seed)
        }
        let decoded = try events.map { event in
            let stored = try event.encoded()
            return try OnboardingEvent.decode(
                type: stored.type, schemaVersion: event.schemaVersion, data: stored.data)
        }
        #expect(interpreter.replay(decoded) == state, "seed \(seed): the stored events give another state")
        return (state, events)
    }

    /// The events of one random run.
    static func randomEvents(
        _ definition: WorkflowDefinition, random: inout SplitMix64, seed: UInt64
    ) throws -> [OnboardingEvent] {
        try randomRun(definition, random: &random, seed: seed).events
    }

    /// An active onboarding always waits on something; every open task belongs to a step the flow is in.
    static func checkNeverStuck(_ state: OnboardingState, seed: UInt64) {
        if state.status == .active {
            #expect(
                !state.openTasks.isEmpty || !state.awaitedSignals.isEmpty || !state.timers.isEmpty,
                "seed \(seed): active but waiting on nothing")
            let active = Set(state.activeSteps.map(\.path))
            for task in state.openTasks {
                #expect(active.contains(task.path), "seed \(seed): open task \(task.id) has no active step")
            }
        } else {
            #expect(state.openTasks.isEmpty && state.timers.isEmpty && state.activeSteps.isEmpty)
        }
    }

    static func inputs(_ definition: WorkflowDefinition, _ random: inout SplitMix64) -> [String: Value] {
        var inputs: [String: Value] = [:]
        for spec in definition.inputs where spec.required || Bool.random(using: &random) {
            inputs[spec.name] = value(for: spec.type, values: spec.values, &random)
        }
        return inputs
    }

    /// Every command that should succeed now, with the time it may run at.
    static func validCommands(
        _ state: OnboardingState, now: Date, _ random: inout SplitMix64
    ) -> [(OnboardingCommand, Date)] {
        var commands: [(OnboardingCommand, Date)] = []
        for task in state.openTasks {
            if task.state == .open {
                let user = ["ann", "bob"].randomElement(using: &random) ?? "ann"
                commands.append((.claimTask(taskId: task.id, user: user, roles: [task.role, "viewer"]), now))
            } else if let holder = task.assignee {
                commands.append((.releaseTask(taskId: task.id, user: holder), now))
                var outputs: [String: Value] = [:]
                for field in task.outputs where (field.required && field.default == nil) || Bool.random(using: &random)
                {
                    outputs[field.name] = value(for: field.type, values: field.values ?? [], &random)
                }
                let checklist = Set(task.checklist.map(\.id))
                let completion = OnboardingCommand.completeTask(
                    taskId: task.id, user: holder, outputs: outputs, checklist: checklist)
                commands += [(completion, now), (completion, now), (completion, now)]
            }
        }
        for signal in state.awaitedSignals {
            commands.append((.deliverSignal(name: signal.signal, data: ["note": "n"]), now))
        }
        for timer in state.timers {
            commands.append((.fireTimer(timerId: timer.id), max(now, timer.dueAt)))
        }
        if Int.random(in: 0..<40, using: &random) == 0 {
            commands.append((.cancel(user: "boss", reason: "stopped"), now))
        }
        return commands
    }

    /// A command that must be refused now, if one can be made.
    static func refusedCommand(_ state: OnboardingState, _ random: inout SplitMix64) -> OnboardingCommand? {
        guard let task = state.openTasks.randomElement(using: &random) else {
            return .claimTask(taskId: "nope", user: "ann", roles: [])
        }
        switch (task.state, Int.random(in: 0..<3, using: &random)) {
        case (.open, 0): return .claimTask(taskId: task.id, user: "eve", roles: ["nobody"])
        case (.open, _): return .completeTask(taskId: task.id, user: "eve", outputs: [:], checklist: [])
        case (_, 0): return .completeTask(taskId: task.id, user: "mallory", outputs: [:], checklist: [])
        case (_, 1) where !task.checklist.isEmpty:
            return .completeTask(taskId: task.id, user: task.assignee ?? "", outputs: [:], checklist: [])
        default: return .releaseTask(taskId: task.id, user: "mallory")
        }
    }

    static func value(for type: FieldType, values: [String], _ random: inout SplitMix64) -> Value {
        let n = Int.random(in: 0..<1_000, using: &random)
        switch type {
        case .string: return .string("value \(n)")
        case .text: return .string("line \(n)\nanother line")
        case .boolean: return .boolean(Bool.random(using: &random))
        case .integer: return .integer(n)
        case .enum: return .string(values.randomElement(using: &random) ?? "")
        case .email: return .string("person\(n)@example.com")
        case .upn: return .string("account\(n)@contoso.onmicrosoft.com")
        case .uuid: return .string(String(format: "%08X-1234-4ABC-8DEF-%012X", n, n * 7919))
        case .url: return .string("https://example.com/\(n)")
        case .time: return .string(String(format: "2027-01-%02dT09:%02d:00.000Z", n % 28 + 1, n % 60))
        }
    }
}
