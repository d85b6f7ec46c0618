import Foundation
import HandoffCore
import Synchronization

/// An onboarding's flow as SVG, drawn on the server by Graphviz (`dot`, Debian's `graphviz`) from the workflow's
/// `dot` drawing with its current steps marked. Drawings are cached by their `dot` text, so an unchanged onboarding
/// costs no process.
final class FlowPicture: Sendable {
    private let cache = Mutex<[String: String]>([:])
    private static let capacity = 500
    /// Where `dot` is; nil when Graphviz is not installed (the page then lists the steps instead).
    let dot: String?

    init(dot: String? = FlowPicture.findDot()) {
        self.dot = dot
    }

    static func findDot() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map { "\($0)/dot" } + ["/usr/bin/dot"])
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The `<svg>` element, or nil when Graphviz is missing or failed.
    func svg(_ definition: WorkflowDefinition, marks: [String: WorkflowGraph.Mark]) async -> String? {
        guard let dot else { return nil }
        let source = WorkflowGraph.render(definition, format: .dot, marks: marks)
        if let cached = cache.withLock({ $0[source] }) { return cached }
        guard let drawn = await Self.run(dot, source) else { return nil }
        cache.withLock { cache in
            if cache.count >= Self.capacity { cache.removeAll(keepingCapacity: true) }
            cache[source] = drawn
        }
        return drawn
    }

    /// Runs `dot -Tsvg` on `source` through temporary files (no pipe to fill), at most 10 seconds.
    private static func run(_ dot: String, _ source: String) async -> String? {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-flow-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            return nil
        }
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("flow.dot")
        let output = folder.appendingPathComponent("flow.svg")
        guard (try? Data(source.utf8).write(to: input)) != nil else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: dot)
        process.arguments = ["-Tsvg", "-o", output.path, input.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let finished: Bool = await withCheckedContinuation { continuation in
            let once = Mutex(false)
            @Sendable func finish(_ value: Bool) {
                let first = once.withLock { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(returning: value) }
            }
            process.terminationHandler = { process in finish(process.terminationStatus == 0) }
            do {
                try process.run()
            } catch {
                finish(false)
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + 10) {
                if process.isRunning { process.terminate() }
                finish(false)
            }
        }
        guard finished, let text = try? String(contentsOf: output, encoding: .utf8),
            let start = text.range(of: "<svg")
        else { return nil }
        // The element alone, without the XML prolog and doctype, to sit inside the page.
        return String(text[start.lowerBound...])
    }
}
