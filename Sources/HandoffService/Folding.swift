import Crypto
import Foundation
import HandoffCore
import HandoffStore
import Postgres
import Timestamps

/// Reading and folding streams through their pinned definitions, on one connection.
struct Folding {
    let connection: Connection
    let definitions: DefinitionCache

    /// The interpreter of the definition stored under `contentHash`, parsed once per process.
    func interpreter(_ contentHash: String) throws -> Interpreter {
        if let cached = definitions.interpreter(contentHash) { return cached }
        return try Self.interpreter(
            DefinitionStore.load(on: connection, contentHash: contentHash), contentHash: contentHash,
            definitions: definitions)
    }

    /// `interpreter(_:)` without blocking a thread (inside a write's transaction).
    func interpreterWithoutBlocking(_ contentHash: String) async throws -> Interpreter {
        if let cached = definitions.interpreter(contentHash) { return cached }
        return try Self.interpreter(
            await DefinitionStore.load(on: connection, contentHash: contentHash), contentHash: contentHash,
            definitions: definitions)
    }

    /// The interpreter of a stored definition, parsed and remembered in `definitions`.
    private static func interpreter(
        _ record: DefinitionRecord?, contentHash: String, definitions: DefinitionCache
    ) throws -> Interpreter {
        guard let record else {
            throw EngineError(.internal, "the definition with content hash \(contentHash) is not stored")
        }
        let interpreter = Interpreter(definition: try definition(record, .internal))
        definitions.remember(interpreter)
        return interpreter
    }

    /// The definition a record holds (a stored one, or one an export carries), checked against its content hash;
    /// `code` is what a record that does not load or hash to it is (a fault of stored data, or bad input).
    static func definition(_ record: DefinitionRecord, _ code: EngineError.Code) throws(EngineError)
        -> WorkflowDefinition
    {
        let stored = code == .internal
        switch WorkflowLoader.load(source: record.source, file: record.file) {
        case .success(let definition):
            guard definition.contentHash == record.contentHash else {
                throw EngineError(
                    code,
                    stored
                        ? "the stored definition \(record.contentHash) hashes to \(definition.contentHash)"
                        : "the definition's source hashes to \(definition.contentHash), not to its content hash "
                            + "\(record.contentHash) (was it edited?)")
            }
            return definition
        case .failure(let error):
            throw EngineError(
                code,
                stored
                    ? "the stored definition \(record.contentHash) no longer loads: \(error)"
                    : "the definition's source does not load: \(error)")
        }
    }

    func decode(_ events: [some FoldableEvent]) throws -> [OnboardingEvent] {
        try Self.decode(events)
    }

    static func decode(_ events: [some FoldableEvent]) throws -> [OnboardingEvent] {
        try events.map { try OnboardingEvent.decode(type: $0.type, schemaVersion: $0.schemaVersion, json: $0.dataText) }
    }

    /// Folds a non-empty stream prefix.
    func fold(_ events: [some FoldableEvent]) throws -> FoldedOnboarding {
        try fold(events, decoded: decode(events)).folded
    }

    func fold(_ events: [some FoldableEvent], decoded: [OnboardingEvent]) throws -> (
        folded: FoldedOnboarding, interpreter: Interpreter
    ) {
        try Self.fold(events, decoded: decoded, interpreter: interpreter)
    }

    /// Folds a non-empty stream prefix through the interpreter `interpreter(contentHash)` gives for the definition
    /// its `OnboardingStarted` pins.
    static func fold(
        _ events: [some FoldableEvent], decoded: [OnboardingEvent], interpreter: (String) throws -> Interpreter
    ) throws -> (folded: FoldedOnboarding, interpreter: Interpreter) {
        guard let first = events.first, let last = events.last, case .started(let started)? = decoded.first else {
            throw EngineError(
                .internal, "stream '\(events.first?.streamId ?? "")' does not begin with OnboardingStarted")
        }
        var current = try interpreter(started.contentHash)
        var state = current.evolve(nil, decoded[0])
        try evolve(&state, decoded.dropFirst(), interpreter: &current, lookup: interpreter)
        return (FoldedOnboarding(state: state, startedAt: first.recordedAt, updatedAt: last.recordedAt), current)
    }

    /// Folds `events` into `state` with `interpreter`, which follows the run's definition: after an
    /// `OnboardingUpgraded` it is the one `lookup` gives for the newer definition.
    static func evolve(
        _ state: inout OnboardingState, _ events: some Sequence<OnboardingEvent>, interpreter: inout Interpreter,
        lookup: (String) throws -> Interpreter
    ) throws {
        for event in events {
            interpreter.evolve(&state, event)
            if case .upgraded(let upgraded) = event {
                interpreter = try lookup(upgraded.contentHash)
            }
        }
    }

    /// The content hashes of every definition a stream's events pin it to: the one it started with, then each
    /// it was upgraded to.
    static func pinnedHashes(_ decoded: some Sequence<OnboardingEvent>) -> [String] {
        decoded.compactMap { event in
            switch event {
            case .started(let started): started.contentHash
            case .upgraded(let upgraded): upgraded.contentHash
            default: nil
            }
        }
    }
}
