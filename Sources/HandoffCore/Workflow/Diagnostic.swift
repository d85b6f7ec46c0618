/// One problem found while loading a workflow file: where it is and what is wrong, in plain words.
public struct Diagnostic: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The file as the caller named it (e.g. `workflows/mail-send.yaml`).
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column, counted in Unicode scalars.
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `file:line:column: message`, the form editors and compilers use.
    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// A position inside a workflow file.
struct SourcePosition: Hashable, Sendable, Codable {
    var line: Int
    var column: Int

    init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    static let start = SourcePosition(line: 1, column: 1)

    /// The location `offset` scalars further along the same line.
    func advanced(by offset: Int) -> SourcePosition {
        SourcePosition(line: line, column: column + offset)
    }
}

/// Loading failed: every problem found, in file order.
public struct WorkflowLoadError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
