import Foundation
import HandoffCore

/// What the fuzzer (`handoff-fuzz`, built with libFuzzer) and the property tests feed Handoff's parsers and
/// interpreter. Each target takes any bytes; refusing them is fine, crashing, hanging or accepting something that
/// can't be read back is a bug, which a target returns as a problem (the fuzzer's entry point then aborts, so
/// that libFuzzer saves the input; the tests expect no problem).
public enum FuzzTargets {
    public enum Target: String, CaseIterable, Sendable {
        case workflow, expression, json, pattern
    }

    /// Runs one target on `bytes`; returns the problem found, nil when there is none.
    public static func run(_ target: Target, _ bytes: [UInt8]) -> String? {
        switch target {
        case .workflow: return workflow(bytes).problem
        case .expression: expression(bytes)
        case .json: return json(bytes)
        case .pattern: pattern(bytes)
        }
        return nil
    }

    /// Loads the bytes as a workflow file; when it validates, starts an onboarding and works it: every open
    /// task claimed and completed with values of its outputs' types, every timer fired, every signal sent, for
    /// a bounded number of rounds. Returns the events written, and a problem when replaying them gives another
    /// state than deciding them did.
    public static func workflow(_ bytes: [UInt8]) -> (events: [OnboardingEvent], problem: String?) {
        guard case .success(let definition) = WorkflowLoader.load(source: String(decoding: bytes, as: UTF8.self), file: "fuzz.yaml")
        else { return ([], nil) }
        let interpreter = Interpreter(definition: definition)
        var now = Date(timeIntervalSince1970: 1_800_000_000)
        var inputs: [String: Value] = [:]
        for spec in definition.inputs where spec.defaultValue == nil {
            inputs[spec.name] = sample(spec.type, values: spec.values)
        }
        var events: [OnboardingEvent] = []
        var state: OnboardingState?
        func apply(_ command: OnboardingCommand) {
            guard let decided = try? interpreter.decide(state, command, now: now) else { return }
            for event in decided {
                state = interpreter.evolve(state, event)
            }
            events += decided
        }
        apply(.start(onboardingId: "fuzz", inputs: inputs))
        for _ in 0..<20 {
            guard let current = state, current.status == .active else { break }
            let versionBefore = events.count
            for task in current.openTasks {
                apply(.claimTask(taskId: task.id, user: "fuzz", roles: [task.role]))
                var outputs: [String: Value] = [:]
                for field in task.outputs where field.default == nil {
                    outputs[field.name] = sample(field.type, values: field.values ?? [])
                }
                apply(
                    .completeTask(
                        taskId: task.id, user: "fuzz", outputs: outputs, checklist: Set(task.checklist.map(\.id))))
            }
            for signal in state?.awaitedSignals ?? [] {
                apply(.deliverSignal(name: signal.signal, data: .object(["fuzz": true])))
            }
            if let timer = state?.timers.min(by: { $0.dueAt < $1.dueAt }) {
                now = max(now, timer.dueAt)
                apply(.fireTimer(timerId: timer.id))
            }
            if events.count == versionBefore { break }
        }
        // What was decided must fold to the same state again (replay).
        if let state, interpreter.replay(events) != state {
            return (events, "replaying the events of a fuzzed workflow gave another state")
        }
        return (events, nil)
    }

    /// Parses the bytes as an expression and as a template, and evaluates what parses.
    public static func expression(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let template = try? Template.parse(text) {
            _ = template.render { _ in .null }
        }
        _ = try? Expression.parse(text)
    }

    /// Parses the bytes as caller JSON; what is accepted must come back unchanged from the stored form, else the
    /// problem is returned.
    public static func json(_ bytes: [UInt8]) -> String? {
        guard let value = try? Value(parsingInput: bytes) else { return nil }
        let stored = value.jsonText
        guard let read = try? Value(parsing: stored), read == value else {
            return "accepted JSON did not read back: \(stored)"
        }
        return nil
    }

    /// The first line is a pattern, the rest a text to match against it.
    public static func pattern(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard let pattern = try? Pattern(String(parts[0])) else { return }
        _ = pattern.matches(parts.count > 1 ? String(parts[1]) : "")
    }

    /// A value of `type` that its checks accept.
    static func sample(_ type: FieldType, values: [String]) -> Value {
        switch type {
        case .string, .text: "fuzz"
        case .boolean: true
        case .integer: 1
        case .enum: .string(values.first ?? "")
        case .email: "fuzz@example.com"
        case .upn: "fuzz@example"
        case .uuid: "00000000-0000-4000-8000-000000000000"
        case .time: "2026-01-31T09:00:00.000Z"
        case .url: "https://example.com/fuzz"
        }
    }
}
