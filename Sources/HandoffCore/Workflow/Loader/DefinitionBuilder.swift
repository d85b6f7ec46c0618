import Foundation
import Yams

// The builder's state and its order of work: read the file, then resolve and check what was read. Each concern
// is an extension in a file of its own beside this one.

/// One mapping entry with its key's position.
struct Entry {
    var key: String
    var keyLocation: SourcePosition
    var value: Node
}

/// A scalar's text with enough about its position to place an offset inside it.
struct ScalarText {
    var text: String
    var location: SourcePosition
    var style: Node.Scalar.Style

    func location(atOffset offset: Int) -> SourcePosition {
        let prefix = text.unicodeScalars.prefix(offset)
        if prefix.contains("\n") { return location }
        switch style {
        case .plain, .any: return location.advanced(by: offset)
        case .singleQuoted, .doubleQuoted: return location.advanced(by: offset + 1)
        default: return location
        }
    }
}

/// What an expression is checked in: which block's steps and params it sees.
struct Scope {
    var block: String?
}

/// An expression whose paths and types are checked once every step is known.
struct PendingExpression {
    enum Expectation {
        case condition
        case field(FieldSpec, String)
        case anything
    }

    var expression: Expression
    var scalar: ScalarText
    /// Offset of the expression inside the scalar's text.
    var offset: Int
    var scope: Scope
    var expectation: Expectation
}

/// A step name written somewhere (`next`, a decision branch, `on_timeout`, `start`) that must exist in `list`.
struct PendingReference {
    var from: String?
    var target: String
    var location: SourcePosition
    /// The ids of the list the target must belong to.
    var list: Set<String>
    var listName: String
}

struct DefinitionBuilder {
    let file: String
    let source: String
    var diagnostics: [Diagnostic] = []

    var steps: [String: Step] = [:]
    var stepOrder: [String] = []
    var blocks: [String: BlockDefinition] = [:]
    var blockOrder: [String] = []
    var roles: [String] = []
    var inputs: [FieldSpec] = []
    var variableNames: [String] = []
    var pendingExpressions: [PendingExpression] = []
    var pendingReferences: [PendingReference] = []
    /// Explicit `next:` per step id, resolved after every list is read.
    var explicitNext: [String: (String, SourcePosition)] = [:]
    /// Every list of steps (top level, each branch, each block) in file order.
    var lists: [(name: String, ids: [String], isTopLevel: Bool)] = []
    var blockCalls:
        [(step: String, call: BlockCall, location: SourcePosition, argumentLocations: [String: SourcePosition])] = []
    var referenceProblems = 0

    init(file: String, source: String) {
        self.file = file
        self.source = source
    }

    var sortedDiagnostics: [Diagnostic] {
        var seen = Set<Diagnostic>()
        return diagnostics.enumerated()
            .sorted {
                ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
            }
            .map(\.element)
            .filter { seen.insert($0).inserted }
    }

    mutating func error(_ message: String, at location: SourcePosition) {
        diagnostics.append(Diagnostic(file: file, line: location.line, column: location.column, message: message))
    }

    // MARK: Building

    mutating func build() -> WorkflowDefinition? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: source)
        } catch let error as YamlError {
            reportYAMLError(error)
            return nil
        } catch {
            self.error("the YAML could not be read: \(error)", at: .start)
            return nil
        }
        guard let root else {
            error("the file is empty: a workflow needs id, title, version, roles and steps", at: .start)
            return nil
        }
        guard let top = entries(root, what: "the workflow") else { return nil }
        checkFields(
            top,
            allowed: ["id", "title", "version", "description", "roles", "starters", "inputs", "start", "steps", "blocks"],
            in: "the workflow")
        let rootLocation = location(root)

        let id = requiredString(top, "id", in: "the workflow", at: rootLocation)
        if let id, !Self.isName(id) {
            error(
                "workflow id '\(id)' may only use letters, digits, '-' and '_'",
                at: field(top, "id").map { location($0.value) } ?? rootLocation)
        }
        let title = requiredString(top, "title", in: "the workflow", at: rootLocation)
        var version: Int?
        if let entry = field(top, "version") {
            version = integer(entry.value, what: "'version'")
            if let value = version, value < 1 {
                error("'version' must be 1 or more", at: location(entry.value))
            }
        } else {
            error("the workflow is missing 'version'", at: rootLocation)
        }
        let description = field(top, "description").flatMap { string($0.value, what: "'description'") }

        if let entry = field(top, "roles") {
            readRoles(entry.value)
        } else {
            error("the workflow is missing 'roles'", at: rootLocation)
        }
        var starters: [String] = []
        if let entry = field(top, "starters") {
            starters = readStarters(entry.value)
        }
        if let entry = field(top, "inputs") {
            inputs = readFields(entry.value, owner: "input", allowDefaultTemplate: false, scope: Scope())
        }

        // Blocks first (names and params), so block calls can be checked as steps are read.
        var blockNodes: [(String, [Node], SourcePosition)] = []
        if let entry = field(top, "blocks"), let blockEntries = entries(entry.value, what: "'blocks'") {
            for blockEntry in blockEntries {
                if let nodes = readBlockHeader(blockEntry) {
                    blockNodes.append((blockEntry.key, nodes, blockEntry.keyLocation))
                }
            }
        }

        var topLevel: [String] = []
        if let entry = field(top, "steps") {
            if let nodes = list(entry.value, what: "'steps'") {
                if nodes.isEmpty {
                    error("'steps' is empty: a workflow needs at least one step", at: location(entry.value))
                }
                topLevel = readSteps(
                    nodes, placement: StepPlacement(), listName: "the workflow's steps", topLevel: true)
            }
        } else {
            error("the workflow is missing 'steps'", at: rootLocation)
        }
        for (name, nodes, blockLocation) in blockNodes {
            let ids = readSteps(
                nodes, placement: StepPlacement(block: name), listName: "block '\(name)'", topLevel: false)
            if ids.isEmpty, nodes.isEmpty {
                error("block '\(name)' has no steps", at: blockLocation)
            }
            blocks[name]?.steps = ids
        }

        var start = topLevel.first ?? ""
        if let entry = field(top, "start"), let name = string(entry.value, what: "'start'") {
            start = name
            pendingReferences.append(
                PendingReference(
                    from: nil, target: name, location: location(entry.value), list: Set(topLevel),
                    listName: "the workflow's steps"))
        }

        resolveNext()
        checkReferences()
        checkBlockCalls()
        checkExpressions()
        if referenceProblems == 0 {
            checkReachability(start: start, topLevel: topLevel)
            checkWidth(topLevel: topLevel, at: field(top, "steps")?.keyLocation ?? rootLocation)
        }

        guard let id, let title, let version else { return nil }
        let data = Data(source.utf8)
        return WorkflowDefinition(
            id: id, title: title, version: version, description: description,
            contentHash: WorkflowLoader.contentHash(of: data), file: file, source: source, roles: roles,
            inputs: inputs, start: start, topLevelSteps: topLevel, steps: steps, stepOrder: stepOrder,
            blocks: blocks, blockOrder: blockOrder, variableNames: variableNames, starters: starters)
    }

    mutating func reportYAMLError(_ yamlError: YamlError) {
        switch yamlError {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            error("YAML syntax error: \(problem)", at: SourcePosition(line: mark.line, column: mark.column))
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            error(
                "duplicate key \(names) in the same mapping",
                at: SourcePosition(line: context.mark.line, column: context.mark.column))
        case .reader(let problem, _, _, _):
            error("the file could not be read: \(problem)", at: .start)
        default:
            error("the YAML could not be read: \(yamlError)", at: .start)
        }
    }
}
