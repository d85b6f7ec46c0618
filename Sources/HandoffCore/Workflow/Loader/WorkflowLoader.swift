import Crypto
import Foundation



/// Builds checked `WorkflowDefinition`s from workflow files.
///
/// The work is `DefinitionBuilder`'s, one concern a file beside this one: reading YAML nodes (`YAMLReading`), the
/// model's parts (`StepReading`), which step follows which (`References`), blocks (`BlockChecks`), expression
/// types (`ExpressionTyping`) and what the flow can reach and how it ends (`FlowAnalysis`).
///
/// Loading is pure and deterministic: the same bytes always give the same definition or the same diagnostics, so
/// a definition stored by its source text can be loaded again later. Every problem in a file is reported, each with
/// its line and column, in file order.
public enum WorkflowLoader {
    /// Loads one workflow from its text; `file` is only used to name the file in diagnostics.
    public static func load(source: String, file: String) -> Result<WorkflowDefinition, WorkflowLoadError> {
        var builder = DefinitionBuilder(file: file, source: source)
        let definition = builder.build()
        let diagnostics = builder.sortedDiagnostics
        if let definition, diagnostics.isEmpty {
            return .success(definition)
        }
        return .failure(WorkflowLoadError(diagnostics: diagnostics))
    }

    /// Loads one workflow from the bytes of its file (which must be UTF-8).
    public static func load(data: Data, file: String) -> Result<WorkflowDefinition, WorkflowLoadError> {
        guard let source = String(data: data, encoding: .utf8) else {
            return .failure(
                WorkflowLoadError(diagnostics: [
                    Diagnostic(file: file, line: 1, column: 1, message: "the file is not valid UTF-8 text")
                ]))
        }
        return load(source: source, file: file)
    }

    /// Loads several files (a folder's worth) and also checks that no two define the same workflow id.
    ///
    /// Diagnostics come in the order of `files`; definitions of the files that loaded cleanly are returned only
    /// when no file has a problem.
    public static func loadAll(_ files: [(file: String, data: Data)]) -> Result<[WorkflowDefinition], WorkflowLoadError>
    {
        var definitions: [WorkflowDefinition] = []
        var diagnostics: [Diagnostic] = []
        var firstFileByID: [String: String] = [:]
        for (file, data) in files {
            switch load(data: data, file: file) {
            case .success(let definition):
                if let first = firstFileByID[definition.id] {
                    let location = definition.idLocation
                    diagnostics.append(
                        Diagnostic(
                            file: file, line: location.line, column: location.column,
                            message: "workflow id '\(definition.id)' is already used by \(first)"))
                } else {
                    firstFileByID[definition.id] = file
                    definitions.append(definition)
                }
            case .failure(let error):
                diagnostics.append(contentsOf: error.diagnostics)
            }
        }
        return diagnostics.isEmpty ? .success(definitions) : .failure(WorkflowLoadError(diagnostics: diagnostics))
    }

    /// The most steps a flow may wait in at once (see `checkWidth`).
    public static let maximumWidth = 100

    /// SHA-256 of `data` as lowercase hex: a definition's content hash.
    public static func contentHash(of data: Data) -> String {
        Hex.sha256(data)
    }
}

extension WorkflowLoader {
    /// The candidate nearest to a mistyped `word`, when one is near enough (a third of its letters changed at
    /// most): "did you mean" for the loader's messages and the command line's.
    public static func closest(to word: String, in candidates: [String]) -> String? {
        DefinitionBuilder.closest(to: word, in: candidates)
    }

    /// Whether `text` is a name a workflow may use for a role, step or field: letters, digits, `-` and `_`.
    public static func isName(_ text: String) -> Bool {
        !text.isEmpty
            && text.unicodeScalars.allSatisfy { scalar in
                scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "_"
            }
    }
}

extension WorkflowDefinition {
    /// Where the `id` field is written (line 1 when it could not be found).
    var idLocation: SourcePosition {
        var line = 1
        for text in source.split(separator: "\n", omittingEmptySubsequences: false) {
            if text.hasPrefix("id:") { return SourcePosition(line: line, column: 1) }
            line += 1
        }
        return .start
    }
}

