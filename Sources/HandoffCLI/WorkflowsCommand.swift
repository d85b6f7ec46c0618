import ArgumentParser
import Foundation
import HandoffCore
import HandoffService

/// `handoff workflows …`: check, list, show and draw the workflow definitions in `$HANDOFF_WORKFLOWS`.
struct Workflows: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflows",
        abstract: "Check, list, show and draw workflow definitions.",
        discussion: "Definitions are the *.yaml files in $HANDOFF_WORKFLOWS (default ./workflows).",
        subcommands: [List.self, Validate.self, Show.self, Graph.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the workflows that load cleanly.")

        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await Output.run(output) {
                let folder = WorkflowFolder.fromEnvironment()
                let (definitions, diagnostics) = try folder.loadEach()
                if !diagnostics.isEmpty {
                    let files = Set(diagnostics.map(\.file)).sorted().joined(separator: ", ")
                    FileHandle.standardError.write(
                        Data("warning: not listed, with problems: \(files) (see handoff workflows validate)\n".utf8))
                }
                try output.show(["workflows": definitions.map(WorkflowSummary.init)]) {
                    Output.printTable(
                        ["ID", "VERSION", "TITLE", "FILE", "HASH"],
                        definitions.map {
                            [$0.id, String($0.version), $0.title, $0.file, String($0.contentHash.prefix(12))]
                        })
                }
            }
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check workflow files and print every problem as file:line:column: message.",
            discussion: "With no FILE, checks every workflow in the folder, including that ids are unique."
        )

        @OptionGroup var output: OutputOptions

        @Argument(help: "Files or folders to check (default: every *.yaml in the workflows folder).")
        var files: [String] = []

        func run() async throws {
            try await Output.run(output) {
                let folder = WorkflowFolder.fromEnvironment()
                // A folder stands for its *.yaml and *.yml files (it was read as a file, and refused).
                let paths = try files.isEmpty
                    ? folder.files()
                    : files.flatMap { path in
                        var isFolder: ObjCBool = false
                        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
                        return exists && isFolder.boolValue ? try WorkflowFolder(path: path).files() : [path]
                    }
                let contents = try paths.map { path in (file: path, data: try WorkflowFolder.read(path)) }
                let diagnostics: [Diagnostic]
                let definitions: [WorkflowDefinition]
                switch WorkflowLoader.loadAll(contents) {
                case .success(let loaded):
                    definitions = loaded
                    diagnostics = []
                case .failure(let error):
                    definitions = []
                    diagnostics = error.diagnostics
                }
                if output.json {
                    try Output.printJSON(
                        ValidationReport(
                            valid: diagnostics.isEmpty, files: paths, problems: diagnostics,
                            workflows: definitions.map(WorkflowSummary.init)))
                } else if diagnostics.isEmpty {
                    for definition in definitions {
                        print(
                            "ok: \(definition.file): \(definition.id) v\(definition.version) (sha256 \(definition.contentHash.prefix(12)))"
                        )
                    }
                } else {
                    for diagnostic in diagnostics {
                        FileHandle.standardError.write(Data("\(diagnostic)\n".utf8))
                    }
                }
                if !diagnostics.isEmpty {
                    let fileCount = Set(diagnostics.map(\.file)).count
                    throw CommandFailure(
                        code: "invalid_workflow",
                        message: "\(diagnostics.count) problem\(diagnostics.count == 1 ? "" : "s") in "
                            + "\(fileCount) file\(fileCount == 1 ? "" : "s")")
                }
                if paths.isEmpty {
                    throw CommandFailure(code: "invalid_input", message: "no workflow files in \(folder.path)")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one workflow: inputs, roles and steps.")

        @OptionGroup var output: OutputOptions

        @Argument(help: "The workflow id.")
        var id: String

        func run() async throws {
            try await Output.run(output) {
                let definition = try WorkflowFolder.fromEnvironment().definition(id)
                if output.json {
                    try Output.printJSON(WorkflowDetail(definition))
                    return
                }
                print("\(definition.id) v\(definition.version): \(definition.title)")
                if let description = definition.description { print(description) }
                print("file: \(definition.file)")
                print("sha256: \(definition.contentHash)")
                print("roles: \(definition.roles.joined(separator: ", "))")
                print("inputs:")
                for input in definition.inputs {
                    let values = input.type == .enum ? " (\(input.values.joined(separator: " | ")))" : ""
                    print("  \(input.name): \(input.type.rawValue)\(values)\(input.required ? ", required" : "")")
                }
                print("steps:")
                Output.printTable(
                    ["STEP", "KIND", "IN", "DETAIL"],
                    WorkflowDetail(definition).steps.map { [$0.id, $0.kind, $0.within ?? "", $0.detail] })
            }
        }
    }

    struct Graph: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Draw a workflow as Mermaid or Graphviz dot.")

        @OptionGroup var output: OutputOptions

        @Argument(help: "The workflow id.")
        var id: String

        @Option(help: "mermaid or dot.")
        var format: String = "mermaid"

        func run() async throws {
            try await Output.run(output) {
                guard let graphFormat = WorkflowGraph.Format(rawValue: format) else {
                    throw CommandFailure(
                        code: "invalid_input", message: "--format must be mermaid or dot, not '\(format)'")
                }
                let definition = try WorkflowFolder.fromEnvironment().definition(id)
                let drawing = WorkflowGraph.render(definition, format: graphFormat)
                try output.show(["workflow": definition.id, "format": graphFormat.rawValue, "graph": drawing]) {
                    print(drawing, terminator: "")
                }
            }
        }
    }
}

/// The folder of workflow files.
struct WorkflowFolder {
    let path: String

    static func fromEnvironment() -> WorkflowFolder {
        let configured = ProcessInfo.processInfo.environment["HANDOFF_WORKFLOWS"] ?? ""
        return WorkflowFolder(path: configured.isEmpty ? "workflows" : configured)
    }

    /// The `*.yaml` and `*.yml` files, sorted, named as `<folder>/<file>`.
    func files() throws -> [String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else {
            throw CommandFailure(code: "not_found", message: "no workflows folder at \(path) (set HANDOFF_WORKFLOWS)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: path)
        let base = path.hasSuffix("/") ? String(path.dropLast()) : path
        return names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { "\(base)/\($0)" }
    }

    static func read(_ file: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CommandFailure(code: "not_found", message: "can't read \(file)")
        }
        return data
    }

    /// Every file loaded on its own: the definitions that load, and the problems of the rest.
    func loadEach() throws -> ([WorkflowDefinition], [Diagnostic]) {
        var definitions: [WorkflowDefinition] = []
        var diagnostics: [Diagnostic] = []
        for file in try files() {
            switch WorkflowLoader.load(data: try Self.read(file), file: file) {
            case .success(let definition): definitions.append(definition)
            case .failure(let error): diagnostics += error.diagnostics
            }
        }
        return (definitions, diagnostics)
    }

    /// The definition with this id, from the first file that defines it.
    func definition(_ id: String) throws -> WorkflowDefinition {
        let (definitions, diagnostics) = try loadEach()
        if let definition = definitions.first(where: { $0.id == id }) {
            return definition
        }
        let broken = Set(diagnostics.map(\.file)).sorted()
        let hint = broken.isEmpty ? "" : " (files with problems: \(broken.joined(separator: ", ")))"
        throw CommandFailure(code: "not_found", message: "no workflow '\(id)' in \(path)\(hint)")
    }
}

struct ValidationReport: Encodable {
    var valid: Bool
    var files: [String]
    var problems: [Diagnostic]
    var workflows: [WorkflowSummary]
}
