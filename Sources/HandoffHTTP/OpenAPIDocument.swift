import Foundation
import HandoffService

/// The OpenAPI document of the API (`openapi.json` in this module's folder), served at `/openapi.json`.
enum OpenAPIDocument {
    /// Reads the document from the resource bundle beside the executable, else from the source tree it was built
    /// from. Throws `internal` when neither has it (a broken install).
    static func load() throws(EngineError) -> [UInt8] {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent("Handoff_HandoffHTTP.resources/openapi.json"),
            executable.deletingLastPathComponent().appendingPathComponent("Handoff_HandoffHTTP.resources/openapi.json"),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("openapi.json"),
        ]
        for candidate in candidates {
            if let data = FileManager.default.contents(atPath: candidate.path) {
                return Array(data)
            }
        }
        throw EngineError(
            .internal, "the OpenAPI document is missing (looked in \(candidates.map(\.path).joined(separator: ", ")))")
    }
}
