import Foundation
import HandoffCore
import Testing

@Suite("The workflow files in workflows/")
struct WorkflowFilesTests {
    @Test func everyFileLoads() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: workflowsFolder.path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files == ["mail-send.yaml", "partner-go-live.yaml", "portal-configuration.yaml"])
        let loaded = WorkflowLoader.loadAll(
            try files.map { ("workflows/\($0)", try Data(contentsOf: workflowsFolder.appendingPathComponent($0))) })
        switch loaded {
        case .success(let definitions): #expect(definitions.map(\.id) == ["mail-send", "partner-go-live", "portal-configuration"])
        case .failure(let error): Issue.record("\(error)")
        }
    }
}

@Suite("workflows/schema.json")
struct WorkflowSchemaTests {
    @Test func theSchemaNamesWhatTheLoaderAccepts() throws {
        let data = try Data(contentsOf: workflowsFolder.appendingPathComponent("schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        let definitions = try #require(schema["$defs"] as? [String: Any])
        let fieldType = try #require(definitions["fieldType"] as? [String: Any])
        #expect(fieldType["enum"] as? [String] == FieldType.allCases.map(\.rawValue))
        let step = try #require(definitions["step"] as? [String: Any])
        let properties = try #require(step["properties"] as? [String: Any])
        #expect(
            Set(properties.keys) == [
                "id", "title", "if", "next", "task", "decision", "parallel", "wait", "timer", "block", "set", "notify",
                "call", "end",
            ])
    }
}
