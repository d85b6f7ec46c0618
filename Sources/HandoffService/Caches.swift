import Foundation
import HandoffCore
import Synchronization

/// Parsed definitions by content hash; a definition never changes under its hash, so entries never go stale.
final class DefinitionCache: Sendable {
    private let interpreters = Mutex<[String: Interpreter]>([:])
    /// Hashes known to be stored in `workflow_definitions` (added only after the storing transaction committed).
    private let stored = Mutex<Set<String>>([])

    func interpreter(_ contentHash: String) -> Interpreter? {
        interpreters.withLock { $0[contentHash] }
    }

    func remember(_ interpreter: Interpreter) {
        interpreters.withLock { $0[interpreter.definition.contentHash] = interpreter }
    }

    func isStored(_ contentHash: String) -> Bool {
        stored.withLock { $0.contains(contentHash) }
    }

    func markStored(_ contentHash: String) {
        _ = stored.withLock { $0.insert(contentHash) }
    }
}

/// The last committed state of recently changed onboardings, so a command reads and decodes only the events
/// appended after it instead of the whole stream.
///
/// Only states whose transaction committed are kept (a rolled-back state would claim events the stream does not
/// hold). A snapshot is a starting point, never the answer: the events after it are always read under the
/// stream lock, so appends by other processes are seen.
///
/// Bounded by `capacity` in two generations of half of it each: states go into the current one, and when that is
/// full it becomes the previous one and the one before is dropped whole. So the states remembered last stay (an
/// onboarding changed again moves to the current generation), and a full cache costs what an empty one does.
/// (Evicting one arbitrary entry per insertion, the first of the dictionary's storage, emptied its start and
/// packed the rest: the probe sequences of its open addressing grew until every lookup compared hundreds of keys,
/// and a full cache took half the client's time in `bench claim`.)
final class SnapshotCache: Sendable {
    private struct Generations {
        var current: [String: FoldedOnboarding] = [:]
        var previous: [String: FoldedOnboarding] = [:]
    }

    private let generations = Mutex(Generations())
    let capacity: Int

    init(capacity: Int = 10_000) {
        self.capacity = max(2, capacity)
    }

    func snapshot(_ onboardingId: String) -> FoldedOnboarding? {
        generations.withLock { $0.current[onboardingId] ?? $0.previous[onboardingId] }
    }

    func remember(_ folded: FoldedOnboarding) {
        let onboardingId = folded.state.onboardingId
        generations.withLock { generations in
            if let known = generations.current[onboardingId] ?? generations.previous[onboardingId],
               known.state.version > folded.state.version {
                return  // a later state is already known
            }
            if generations.current[onboardingId] == nil {
                generations.previous[onboardingId] = nil
                if generations.current.count >= capacity / 2 {
                    generations.previous = generations.current
                    generations.current = Dictionary(minimumCapacity: capacity / 2)
                }
            }
            generations.current[onboardingId] = folded
        }
    }

    /// How many states are kept.
    var count: Int {
        generations.withLock { $0.current.count + $0.previous.count }
    }
}
