import Foundation
import HandoffCore
import Testing

@Suite("The workflow files in workflows/")
struct WorkflowFilesTests {
    @Test func everyFileLoads() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: workflowsFolder.path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files == ["mail-send.yaml", "partner-go-live.yaml"])
        let loaded = WorkflowLoader.loadAll(
            try files.map { ("workflows/\($0)", try Data(contentsOf: workflowsFolder.appendingPathComponent($0))) })
        switch loaded {
        case .success(let definitions): #expect(definitions.map(\.id) == ["mail-send", "partner-go-live"])
        case .failure(let error): Issue.record("\(error)")
        }
    }
}
