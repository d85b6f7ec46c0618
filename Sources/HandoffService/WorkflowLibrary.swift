import Foundation
import HandoffCore
import Synchronization

/// The workflow files new onboardings start from: `*.yaml` in a folder (`$HANDOFF_WORKFLOWS`, default
/// `./workflows`), re-read when a file changes.
///
/// Only `start` uses the library. A running onboarding never does: it uses the definition stored under the
/// content hash it started with, so editing a file changes nothing for runs in flight.
public final class WorkflowLibrary: Sendable {
    public let folder: URL
    private let cache = Mutex<[String: CachedFile]>([:])

    private struct CachedFile: Sendable {
        var modified: Date
        var size: Int
        var result: Result<WorkflowDefinition, WorkflowLoadError>
    }

    public init(folder: URL) {
        self.folder = folder
    }

    /// The folder `$HANDOFF_WORKFLOWS` names, or `./workflows`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        -> WorkflowLibrary
    {
        let configured = environment["HANDOFF_WORKFLOWS"] ?? ""
        return WorkflowLibrary(folder: URL(fileURLWithPath: configured.isEmpty ? "workflows" : configured))
    }

    /// The definition with this id. Throws `not_found` when no file defines it, `invalid_workflow` when the
    /// only files that could define it do not load.
    public func definition(_ id: String) throws(EngineError) -> WorkflowDefinition {
        let (definitions, broken) = try load()
        if let definition = definitions.first(where: { $0.id == id }) {
            return definition
        }
        if !broken.isEmpty {
            let names = broken.map { $0.diagnostics.first?.file ?? "?" }.sorted().joined(separator: ", ")
            throw EngineError(
                .notFound,
                "no workflow '\(id)' in \(folder.path) (files with problems, see `handoff workflows validate`: "
                    + "\(names))")
        }
        throw EngineError(.notFound, "no workflow '\(id)' in \(folder.path)")
    }

    /// Every definition that loads, and the load errors of the files that do not.
    public func load() throws(EngineError) -> ([WorkflowDefinition], [WorkflowLoadError]) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        } catch {
            throw EngineError(.notFound, "no workflows folder at \(folder.path) (set HANDOFF_WORKFLOWS)")
        }
        var definitions: [WorkflowDefinition] = []
        var broken: [WorkflowLoadError] = []
        for name in names {
            let path = folder.appendingPathComponent(name).path
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            let modified = attributes?[.modificationDate] as? Date ?? .distantPast
            let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
            let cached = cache.withLock { $0[path] }
            let result: Result<WorkflowDefinition, WorkflowLoadError>
            if let cached, cached.modified == modified, cached.size == size {
                result = cached.result
            } else {
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                result = WorkflowLoader.load(data: data, file: "\(folder.lastPathComponent)/\(name)")
                cache.withLock { $0[path] = CachedFile(modified: modified, size: size, result: result) }
            }
            switch result {
            case .success(let definition): definitions.append(definition)
            case .failure(let error): broken.append(error)
            }
        }
        return (definitions, broken)
    }
}

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
