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
/// stream lock, so appends by other processes are seen. Bounded: past `capacity` entries, arbitrary ones go.
final class SnapshotCache: Sendable {
    private let entries = Mutex<[String: FoldedOnboarding]>([:])
    let capacity: Int

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    func snapshot(_ onboardingId: String) -> FoldedOnboarding? {
        entries.withLock { $0[onboardingId] }
    }

    func remember(_ folded: FoldedOnboarding) {
        entries.withLock { entries in
            if entries[folded.state.onboardingId] == nil, entries.count >= capacity,
               let victim = entries.keys.first {
                entries[victim] = nil
            }
            if let known = entries[folded.state.onboardingId], known.state.version > folded.state.version {
                return  // a later state is already known
            }
            entries[folded.state.onboardingId] = folded
        }
    }
}
