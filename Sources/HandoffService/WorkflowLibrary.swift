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
