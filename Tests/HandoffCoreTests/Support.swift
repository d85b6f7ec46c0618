import Foundation
import HandoffCore
import Testing

/// The repository's `workflows/` folder.
let workflowsFolder = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("workflows")

/// Loads a workflow from `workflows/`, failing the test with every diagnostic when it does not load.
func loadWorkflow(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> WorkflowDefinition {
    let url = workflowsFolder.appendingPathComponent("\(name).yaml")
    let data = try Data(contentsOf: url)
    switch WorkflowLoader.load(data: data, file: "workflows/\(name).yaml") {
    case .success(let definition):
        return definition
    case .failure(let error):
        Issue.record("workflows/\(name).yaml does not load:\n\(error)", sourceLocation: sourceLocation)
        throw error
    }
}

/// The diagnostics of loading `source` as `test.yaml`, as `line:column: message` strings.
func problems(_ source: String) -> [String] {
    switch WorkflowLoader.load(source: source, file: "test.yaml") {
    case .success: []
    case .failure(let error): error.diagnostics.map { "\($0.line):\($0.column): \($0.message)" }
    }
}

/// A fixed instant tests use as "now".
let t0 = Date(timeIntervalSince1970: 1_790_000_000)

/// A tiny deterministic random generator (SplitMix64), so property tests can be replayed from their seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Drives one onboarding through an interpreter, keeping the events and the folded state.
struct Harness {
    let interpreter: Interpreter
    var events: [OnboardingEvent] = []
    var state: OnboardingState?
    var now = t0

    init(_ definition: WorkflowDefinition) {
        interpreter = Interpreter(definition: definition)
    }

    /// Decides and applies a command; returns the new events.
    @discardableResult
    mutating func run(_ command: OnboardingCommand) throws(DecisionError) -> [OnboardingEvent] {
        let new = try interpreter.decide(state, command, now: now)
        for event in new {
            state = interpreter.evolve(state, event)
        }
        events += new
        return new
    }

    /// The open (or claimed) tasks as `step@role` strings, in opening order.
    var openTasks: [String] {
        state?.openTasks.map { "\($0.path)@\($0.role)" } ?? []
    }

    /// The only open task, or a test failure.
    func onlyOpenTask(sourceLocation: SourceLocation = #_sourceLocation) -> OnboardingTask? {
        let open = state?.openTasks ?? []
        #expect(open.count == 1, "expected one open task, found \(open.map(\.path))", sourceLocation: sourceLocation)
        return open.first
    }

    /// Completes each task as it opens (outputs the Mail.Send tasks need), until the onboarding ends.
    mutating func completeEveryTask() throws {
        while state?.status == .active {
            let task = try #require(state?.openTasks.first)
            let outputs: [String: Value] =
                task.outputs.contains { $0.name == "upn" } ? ["upn": "svc@contoso.com"] : ["client_id": "C-1"]
            try completeOnlyTask(outputs: task.outputs.contains { $0.default == nil && $0.required } ? outputs : [:])
        }
    }

    /// Claims and completes the only open task, ticking its whole checklist.
    mutating func completeOnlyTask(
        as user: String = "sam", outputs: [String: Value] = [:], sourceLocation: SourceLocation = #_sourceLocation
    ) throws(DecisionError) {
        guard let task = onlyOpenTask(sourceLocation: sourceLocation) else { return }
        try run(.claimTask(taskId: task.id, user: user, roles: [task.role]))
        try run(
            .completeTask(taskId: task.id, user: user, outputs: outputs, checklist: Set(task.checklist.map(\.id))))
    }
}
