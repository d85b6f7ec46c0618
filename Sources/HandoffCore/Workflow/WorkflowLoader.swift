import Crypto
import Foundation
import Yams
import Timestamps

/// Builds checked `WorkflowDefinition`s from workflow files.
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

    /// SHA-256 of `data` as lowercase hex: a definition's content hash.
    /// The most steps a flow may wait in at once (see `checkWidth`).
    public static let maximumWidth = 100

    public static func contentHash(of data: Data) -> String {
        Hex.sha256(data)
    }
}

extension WorkflowLoader {
    /// Whether `text` is a name a workflow may use for a role, step or field: letters, digits, `-` and `_`.
    /// The candidate nearest to a mistyped `word`, when one is near enough (a third of its letters changed at
    /// most): "did you mean" for the loader's messages and the command line's.
    public static func closest(to word: String, in candidates: [String]) -> String? {
        DefinitionBuilder.closest(to: word, in: candidates)
    }

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

// MARK: - The builder

/// One mapping entry with its key's position.
private struct Entry {
    var key: String
    var keyLocation: SourcePosition
    var value: Node
}

/// A scalar's text with enough about its position to place an offset inside it.
private struct ScalarText {
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
private struct Scope {
    var block: String?
}

/// An expression whose paths and types are checked once every step is known.
private struct PendingExpression {
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
private struct PendingReference {
    var from: String?
    var target: String
    var location: SourcePosition
    /// The ids of the list the target must belong to.
    var list: Set<String>
    var listName: String
}

private struct DefinitionBuilder {
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

    // MARK: Roles and fields

    mutating func readRoles(_ node: Node) {
        guard let items = list(node, what: "'roles'") else { return }
        if items.isEmpty {
            error("'roles' is empty: name at least one role", at: location(node))
        }
        for item in items {
            guard let name = string(item, what: "a role") else { continue }
            if !Self.isName(name) {
                error("role '\(name)' may only use letters, digits, '-' and '_'", at: location(item))
            } else if roles.contains(name) {
                error("role '\(name)' is listed twice", at: location(item))
            } else {
                roles.append(name)
            }
        }
    }

    /// Reads `starters`: role names, each once (they need not be task roles: `admin` or a role of the API's tokens).
    mutating func readStarters(_ node: Node) -> [String] {
        guard let items = list(node, what: "'starters'") else { return [] }
        var starters: [String] = []
        for item in items {
            guard let name = string(item, what: "a starter role") else { continue }
            if !Self.isName(name) {
                error("starter role '\(name)' may only use letters, digits, '-' and '_'", at: location(item))
            } else if starters.contains(name) {
                error("starter role '\(name)' is listed twice", at: location(item))
            } else {
                starters.append(name)
            }
        }
        return starters
    }

    /// Reads a mapping of field name → spec (inputs, outputs, params).
    mutating func readFields(_ node: Node, owner: String, allowDefaultTemplate: Bool, scope: Scope) -> [FieldSpec] {
        guard let fieldEntries = entries(node, what: "the \(owner)s") else { return [] }
        var result: [FieldSpec] = []
        for entry in fieldEntries {
            let name = entry.key
            let context = "\(owner) '\(name)'"
            if !Self.isName(name) {
                error("\(context): names may only use letters, digits, '-' and '_'", at: entry.keyLocation)
            }
            var typeName: String?
            var spec = FieldSpec(
                name: name, type: .string, required: false, values: [], location: entry.keyLocation)
            var specEntries: [Entry] = []
            if let scalar = entry.value.scalar, scalar.tagName != .null {
                typeName = scalar.string
            } else if let mapped = entries(entry.value, what: context) {
                specEntries = mapped
                checkFields(
                    mapped, allowed: ["type", "required", "title", "description", "values", "pattern", "default"],
                    in: context)
                if let typeEntry = field(mapped, "type") {
                    typeName = string(typeEntry.value, what: "'type' of \(context)")
                } else {
                    error("\(context) is missing 'type'", at: entry.keyLocation)
                }
            }
            if let typeName {
                if let type = FieldType(rawValue: typeName) {
                    spec.type = type
                } else {
                    let typeLocation = field(specEntries, "type").map { location($0.value) } ?? location(entry.value)
                    error(
                        "\(context) has unknown type '\(typeName)' (types are: "
                            + FieldType.allCases.map(\.rawValue).joined(separator: ", ") + ")",
                        at: typeLocation)
                    continue
                }
            } else if specEntries.isEmpty {
                continue
            }
            if let requiredEntry = field(specEntries, "required") {
                spec.required = boolean(requiredEntry.value, what: "'required' of \(context)") ?? false
            }
            spec.title = field(specEntries, "title").flatMap { string($0.value, what: "'title' of \(context)") }
            spec.description = field(specEntries, "description").flatMap {
                string($0.value, what: "'description' of \(context)")
            }
            if let valuesEntry = field(specEntries, "values") {
                if spec.type != .enum {
                    error(
                        "\(context) has 'values' but its type is \(spec.type.rawValue), not enum",
                        at: valuesEntry.keyLocation)
                } else if let items = list(valuesEntry.value, what: "'values' of \(context)") {
                    spec.values = items.compactMap { string($0, what: "a value of \(context)") }
                    if spec.values.isEmpty {
                        error("\(context) has no values", at: location(valuesEntry.value))
                    }
                }
            } else if spec.type == .enum {
                error("\(context) is an enum but has no 'values'", at: entry.keyLocation)
            }
            if let patternEntry = field(specEntries, "pattern"),
                let pattern = string(patternEntry.value, what: "'pattern'")
            {
                if !spec.type.holdsString {
                    error(
                        "\(context) has a 'pattern' but its type is \(spec.type.rawValue)", at: patternEntry.keyLocation
                    )
                } else if let problem = FieldSpec.patternProblem(pattern) {
                    error("\(context) has an invalid pattern: \(problem)", at: location(patternEntry.value))
                } else {
                    spec.pattern = pattern
                }
            }
            if let defaultEntry = field(specEntries, "default") {
                spec.defaultValue = readDefault(
                    defaultEntry.value, spec: spec, context: context, allowTemplate: allowDefaultTemplate, scope: scope)
            }
            if result.contains(where: { $0.name == name }) {
                error("\(context) is declared twice", at: entry.keyLocation)
            }
            result.append(spec)
        }
        return result
    }

    mutating func readDefault(
        _ node: Node, spec: FieldSpec, context: String, allowTemplate: Bool, scope: Scope
    ) -> ValueSource? {
        guard let source = valueSource(node, what: "the default of \(context)", scope: scope, expectation: nil) else {
            return nil
        }
        switch source {
        case .literal(let value):
            if case .failure(let problem) = spec.check(value) {
                error("the default of \(context) \(problem.reason)", at: location(node))
            }
        case .template(let template):
            if !allowTemplate, !template.expressions.isEmpty {
                error("the default of \(context) must be a fixed value, not an expression", at: location(node))
                return nil
            }
            if let expression = template.soleExpression, let scalar = scalarText(node) {
                pendingExpressions.append(
                    PendingExpression(
                        expression: expression, scalar: scalar, offset: template.expressions[0].1, scope: scope,
                        expectation: .field(spec, "the default of \(context)")))
            } else if template.expressions.isEmpty {
                if case .failure(let problem) = spec.check(.string(template.source)) {
                    error("the default of \(context) \(problem.reason)", at: location(node))
                }
            } else {
                queueTemplate(template, node: node, scope: scope)
                if !spec.type.holdsString {
                    error(
                        "the default of \(context) is text, but \(spec.name) is \(spec.type.article) \(spec.type.rawValue)",
                        at: location(node))
                }
            }
        }
        return source
    }

    // MARK: Blocks

    mutating func readBlockHeader(_ entry: Entry) -> [Node]? {
        let name = entry.key
        let context = "block '\(name)'"
        if !Self.isName(name) {
            error("block name '\(name)' may only use letters, digits, '-' and '_'", at: entry.keyLocation)
        }
        guard let blockEntries = entries(entry.value, what: context) else { return nil }
        checkFields(blockEntries, allowed: ["title", "params", "results", "steps"], in: context)
        let scope = Scope(block: name)
        var block = BlockDefinition(
            name: name, title: nil, params: [], results: [], steps: [], location: entry.keyLocation)
        block.title = field(blockEntries, "title").flatMap { string($0.value, what: "'title' of \(context)") }
        if let paramsEntry = field(blockEntries, "params") {
            block.params = readFields(paramsEntry.value, owner: "parameter", allowDefaultTemplate: true, scope: Scope())
        }
        if let resultsEntry = field(blockEntries, "results"),
            let results = entries(resultsEntry.value, what: "'results'")
        {
            for result in results {
                if let value = valueSource(result.value, what: "result '\(result.key)'", scope: scope, expectation: nil)
                {
                    block.results.append(NamedValue(name: result.key, value: value))
                }
            }
        }
        blocks[name] = block
        blockOrder.append(name)
        guard let stepsEntry = field(blockEntries, "steps") else {
            error("\(context) is missing 'steps'", at: entry.keyLocation)
            return nil
        }
        return list(stepsEntry.value, what: "'steps' of \(context)")
    }

    // MARK: Steps

    static let stepKinds = ["task", "decision", "parallel", "wait", "timer", "block", "set", "end"]

    mutating func readSteps(_ nodes: [Node], placement: StepPlacement, listName: String, topLevel: Bool) -> [String] {
        var ids: [String] = []
        for node in nodes {
            if let id = readStep(node, placement: placement) {
                ids.append(id)
            }
        }
        lists.append((listName, ids, topLevel))
        return ids
    }

    mutating func readStep(_ node: Node, placement: StepPlacement) -> String? {
        guard let stepEntries = entries(node, what: "a step") else { return nil }
        let stepLocation = location(node)
        guard let idEntry = field(stepEntries, "id"), let id = string(idEntry.value, what: "a step id") else {
            if field(stepEntries, "id") == nil {
                error("a step is missing 'id'", at: stepLocation)
            }
            return nil
        }
        let idLocation = location(idEntry.value)
        let context = "step '\(id)'"
        if !Self.isName(id) {
            error("step id '\(id)' may only use letters, digits, '-' and '_'", at: idLocation)
        }
        if let existing = steps[id] {
            error("duplicate step id '\(id)' (first used on line \(existing.location.line))", at: idLocation)
            return nil
        }
        checkFields(stepEntries, allowed: ["id", "title", "if", "next"] + Self.stepKinds, in: context)
        let kinds = stepEntries.filter { Self.stepKinds.contains($0.key) }
        guard let kindEntry = kinds.first else {
            error("\(context) needs one of: \(Self.stepKinds.joined(separator: ", "))", at: idLocation)
            return nil
        }
        if kinds.count > 1 {
            error(
                "\(context) has both '\(kinds[0].key)' and '\(kinds[1].key)'; a step does one thing",
                at: kinds[1].keyLocation)
        }
        let scope = Scope(block: placement.block)
        // Register the step before reading its body, so nested steps see its id as taken.
        var step = Step(
            id: id, title: nil, condition: nil, next: nil, kind: .end(EndStep(outcome: .completed, reason: nil)),
            placement: placement, location: idLocation)
        steps[id] = step
        stepOrder.append(id)

        step.title = field(stepEntries, "title").flatMap { string($0.value, what: "'title' of \(context)") }
        if let ifEntry = field(stepEntries, "if") {
            step.condition = condition(ifEntry.value, what: "'if' of \(context)", scope: scope)
        }
        if let nextEntry = field(stepEntries, "next"), let next = string(nextEntry.value, what: "'next' of \(context)")
        {
            if ["decision", "end"].contains(kindEntry.key) {
                error("\(context) is a \(kindEntry.key) step, which has no 'next'", at: nextEntry.keyLocation)
            } else {
                explicitNext[id] = (next, location(nextEntry.value))
            }
        }
        let body = kindEntry.value
        switch kindEntry.key {
        case "task":
            step.kind = .task(readTask(body, context: context, scope: scope, at: kindEntry.keyLocation))
        case "decision":
            step.kind = .decision(readDecision(body, stepID: id, context: context, scope: scope))
        case "parallel":
            step.kind = .parallel(readParallel(body, stepID: id, placement: placement, context: context))
        case "wait":
            step.kind = .wait(readWait(body, stepID: id, context: context, at: kindEntry.keyLocation))
        case "timer":
            step.kind = .timer(readTimer(body, context: context, scope: scope, at: kindEntry.keyLocation))
        case "block":
            step.kind = .block(
                readBlockCall(body, stepID: id, context: context, scope: scope, at: kindEntry.keyLocation))
        case "set":
            step.kind = .set(readSet(body, context: context, scope: scope))
        default:
            step.kind = .end(readEnd(body, context: context, scope: scope))
        }
        steps[id] = step
        return id
    }

    mutating func readTask(_ node: Node, context: String, scope: Scope, at keyLocation: SourcePosition) -> TaskStep {
        var task = TaskStep(
            role: "", title: Template(literal: ""), instructions: nil, checklist: [], outputs: [], due: nil)
        guard let taskEntries = entries(node, what: "the task of \(context)") else { return task }
        checkFields(
            taskEntries, allowed: ["role", "title", "instructions", "checklist", "outputs", "due"],
            in: "the task of \(context)")
        if let roleEntry = field(taskEntries, "role") {
            if let role = string(roleEntry.value, what: "'role'") {
                task.role = role
                if !roles.contains(role) {
                    error(
                        "\(context) has unknown role '\(role)' (roles are: \(roles.joined(separator: ", ")))",
                        at: location(roleEntry.value))
                }
            }
        } else {
            error("the task of \(context) is missing 'role'", at: keyLocation)
        }
        if let titleEntry = field(taskEntries, "title") {
            task.title = template(titleEntry.value, what: "'title' of \(context)", scope: scope) ?? task.title
        } else {
            error("the task of \(context) is missing 'title'", at: keyLocation)
        }
        if let instructionsEntry = field(taskEntries, "instructions") {
            task.instructions = template(instructionsEntry.value, what: "'instructions' of \(context)", scope: scope)
        }
        if let checklistEntry = field(taskEntries, "checklist"),
            let items = list(checklistEntry.value, what: "'checklist'")
        {
            for (index, item) in items.enumerated() {
                var itemID = String(index + 1)
                var textNode = item
                var itemCondition: Expression?
                if item.mapping != nil, let itemEntries = entries(item, what: "a checklist item") {
                    checkFields(itemEntries, allowed: ["id", "text", "if"], in: "a checklist item of \(context)")
                    if let idNode = field(itemEntries, "id"), let given = string(idNode.value, what: "a checklist id") {
                        itemID = given
                        if !Self.isName(given) {
                            error(
                                "checklist id '\(given)' may only use letters, digits, '-' and '_'",
                                at: location(idNode.value))
                        }
                    }
                    if let ifNode = field(itemEntries, "if") {
                        itemCondition = condition(
                            ifNode.value, what: "'if' of a checklist item of \(context)", scope: scope)
                    }
                    guard let text = field(itemEntries, "text") else {
                        error("a checklist item of \(context) is missing 'text'", at: location(item))
                        continue
                    }
                    textNode = text.value
                }
                if task.checklist.contains(where: { $0.id == itemID }) {
                    error("checklist item '\(itemID)' of \(context) is listed twice", at: location(item))
                    continue
                }
                if let text = template(textNode, what: "a checklist item of \(context)", scope: scope) {
                    task.checklist.append(ChecklistEntry(id: itemID, text: text, condition: itemCondition))
                }
            }
        }
        if let outputsEntry = field(taskEntries, "outputs") {
            task.outputs = readFields(outputsEntry.value, owner: "output", allowDefaultTemplate: true, scope: scope)
        }
        if let dueEntry = field(taskEntries, "due") {
            task.due = timeSpan(dueEntry.value, what: "'due' of \(context)")
        }
        return task
    }

    mutating func readDecision(_ node: Node, stepID: String, context: String, scope: Scope) -> DecisionStep {
        var decision = DecisionStep(branches: [], otherwise: nil)
        guard let items = list(node, what: "the decision of \(context)") else { return decision }
        if items.isEmpty {
            error("the decision of \(context) has no branches", at: location(node))
        }
        for item in items {
            guard let branchEntries = entries(item, what: "a branch of \(context)") else { continue }
            if decision.otherwise != nil {
                error("\(context) has a branch after 'otherwise'; 'otherwise' comes last", at: location(item))
            }
            if let otherwise = field(branchEntries, "otherwise") {
                checkFields(branchEntries, allowed: ["otherwise"], in: "the 'otherwise' branch of \(context)")
                if let target = string(otherwise.value, what: "'otherwise'") {
                    decision.otherwise = target
                    explicitReference(from: stepID, target: target, at: location(otherwise.value))
                }
                continue
            }
            checkFields(branchEntries, allowed: ["when", "next"], in: "a branch of \(context)")
            guard let whenEntry = field(branchEntries, "when") else {
                error("a branch of \(context) needs 'when' and 'next', or 'otherwise'", at: location(item))
                continue
            }
            guard let nextEntry = field(branchEntries, "next") else {
                error("a branch of \(context) is missing 'next'", at: location(item))
                continue
            }
            let condition = condition(whenEntry.value, what: "'when' of \(context)", scope: scope)
            if let target = string(nextEntry.value, what: "'next'") {
                explicitReference(from: stepID, target: target, at: location(nextEntry.value))
                if let condition {
                    decision.branches.append(DecisionBranch(condition: condition, next: target))
                }
            }
        }
        return decision
    }

    mutating func readParallel(_ node: Node, stepID: String, placement: StepPlacement, context: String) -> ParallelStep
    {
        var parallel = ParallelStep(branches: [])
        guard let branchEntries = entries(node, what: "the parallel of \(context)") else { return parallel }
        if branchEntries.count < 2 {
            error("the parallel of \(context) needs at least two branches", at: location(node))
        }
        for entry in branchEntries {
            guard let nodes = list(entry.value, what: "branch '\(entry.key)' of \(context)") else { continue }
            if nodes.isEmpty {
                error("branch '\(entry.key)' of \(context) has no steps", at: entry.keyLocation)
            }
            let branchPlacement = StepPlacement(block: placement.block, parallel: stepID, branch: entry.key)
            let ids = readSteps(
                nodes, placement: branchPlacement, listName: "branch '\(entry.key)' of \(context)", topLevel: false)
            parallel.branches.append(ParallelBranch(name: entry.key, steps: ids))
        }
        return parallel
    }

    mutating func readWait(_ node: Node, stepID: String, context: String, at keyLocation: SourcePosition) -> WaitStep {
        var wait = WaitStep(signal: "", timeout: nil, onTimeout: nil)
        guard let waitEntries = entries(node, what: "the wait of \(context)") else { return wait }
        checkFields(waitEntries, allowed: ["signal", "timeout", "on_timeout"], in: "the wait of \(context)")
        if let signalEntry = field(waitEntries, "signal"), let signal = string(signalEntry.value, what: "'signal'") {
            wait.signal = signal
            if !Self.isName(signal) {
                error(
                    "signal name '\(signal)' may only use letters, digits, '-' and '_'", at: location(signalEntry.value)
                )
            }
        } else if field(waitEntries, "signal") == nil {
            error("the wait of \(context) is missing 'signal'", at: keyLocation)
        }
        if let timeoutEntry = field(waitEntries, "timeout") {
            wait.timeout = timeSpan(timeoutEntry.value, what: "'timeout' of \(context)")
        }
        if let onTimeoutEntry = field(waitEntries, "on_timeout"),
            let target = string(onTimeoutEntry.value, what: "'on_timeout'")
        {
            if field(waitEntries, "timeout") == nil {
                error("\(context) has 'on_timeout' but no 'timeout'", at: onTimeoutEntry.keyLocation)
            }
            wait.onTimeout = target
            explicitReference(from: stepID, target: target, at: location(onTimeoutEntry.value))
        }
        return wait
    }

    mutating func readTimer(_ node: Node, context: String, scope: Scope, at keyLocation: SourcePosition) -> TimerStep {
        let fallback = TimerStep.duration(TimeSpan(seconds: 0))
        guard let timerEntries = entries(node, what: "the timer of \(context)") else { return fallback }
        checkFields(timerEntries, allowed: ["for", "until"], in: "the timer of \(context)")
        let duration = field(timerEntries, "for")
        let until = field(timerEntries, "until")
        switch (duration, until) {
        case (let duration?, nil):
            return timeSpan(duration.value, what: "'for' of \(context)").map { .duration($0) } ?? fallback
        case (nil, let until?):
            if let value = valueSource(until.value, what: "'until' of \(context)", scope: scope, expectation: nil) {
                if case .literal(let literal) = value, literal.stringValue.flatMap(Timestamp.parse) == nil {
                    error(
                        "'until' of \(context) must be an ISO 8601 time such as 2026-01-31T09:00:00Z",
                        at: location(until.value))
                } else if case .template(let template) = value, template.expressions.isEmpty,
                    Timestamp.parse(template.source) == nil
                {
                    error(
                        "'until' of \(context) must be an ISO 8601 time such as 2026-01-31T09:00:00Z",
                        at: location(until.value))
                }
                return .until(value)
            }
            return fallback
        case (.some, .some):
            error("the timer of \(context) has both 'for' and 'until'; give one", at: keyLocation)
            return fallback
        case (nil, nil):
            error("the timer of \(context) needs 'for' (a duration) or 'until' (a time)", at: keyLocation)
            return fallback
        }
    }

    mutating func readBlockCall(
        _ node: Node, stepID: String, context: String, scope: Scope, at keyLocation: SourcePosition
    ) -> BlockCall {
        var call = BlockCall(block: "", arguments: [])
        guard let callEntries = entries(node, what: "the block of \(context)") else { return call }
        checkFields(callEntries, allowed: ["use", "with"], in: "the block of \(context)")
        var argumentLocations: [String: SourcePosition] = [:]
        guard let useEntry = field(callEntries, "use"), let name = string(useEntry.value, what: "'use'") else {
            if field(callEntries, "use") == nil {
                error("the block of \(context) is missing 'use' (the block to run)", at: keyLocation)
            }
            return call
        }
        call.block = name
        if let withEntry = field(callEntries, "with"), let arguments = entries(withEntry.value, what: "'with'") {
            for argument in arguments {
                argumentLocations[argument.key] = argument.keyLocation
                if let value = valueSource(
                    argument.value, what: "argument '\(argument.key)'", scope: scope, expectation: nil)
                {
                    call.arguments.append(NamedValue(name: argument.key, value: value))
                }
            }
        }
        blockCalls.append((stepID, call, location(useEntry.value), argumentLocations))
        return call
    }

    mutating func readSet(_ node: Node, context: String, scope: Scope) -> [VariableAssignment] {
        guard let setEntries = entries(node, what: "the set of \(context)") else { return [] }
        if setEntries.isEmpty {
            error("the set of \(context) names no variables", at: location(node))
        }
        var assignments: [VariableAssignment] = []
        for entry in setEntries {
            if !Self.isName(entry.key) {
                error("variable name '\(entry.key)' may only use letters, digits, '-' and '_'", at: entry.keyLocation)
            }
            if let value = valueSource(entry.value, what: "variable '\(entry.key)'", scope: scope, expectation: nil) {
                assignments.append(NamedValue(name: entry.key, value: value))
                if !variableNames.contains(entry.key) {
                    variableNames.append(entry.key)
                }
            }
        }
        return assignments
    }

    mutating func readEnd(_ node: Node, context: String, scope: Scope) -> EndStep {
        var end = EndStep(outcome: .completed, reason: nil)
        if let scalar = node.scalar {
            guard let outcome = EndStep.Outcome(rawValue: scalar.string) else {
                error("'end' of \(context) must be 'completed' or 'failed', not '\(scalar.string)'", at: location(node))
                return end
            }
            end.outcome = outcome
            return end
        }
        guard let endEntries = entries(node, what: "'end' of \(context)") else { return end }
        checkFields(endEntries, allowed: ["status", "reason"], in: "'end' of \(context)")
        if let statusEntry = field(endEntries, "status"), let status = string(statusEntry.value, what: "'status'") {
            if let outcome = EndStep.Outcome(rawValue: status) {
                end.outcome = outcome
            } else {
                error(
                    "'status' of \(context) must be 'completed' or 'failed', not '\(status)'",
                    at: location(statusEntry.value))
            }
        }
        if let reasonEntry = field(endEntries, "reason") {
            end.reason = template(reasonEntry.value, what: "'reason' of \(context)", scope: scope)
        }
        return end
    }

    mutating func explicitReference(from step: String, target: String, at location: SourcePosition) {
        pendingReferences.append(
            PendingReference(from: step, target: target, location: location, list: [], listName: ""))
    }

    // MARK: Resolution and checks

    /// Fills each step's `next` (explicit, or the following step of its list) and queues the references to check.
    mutating func resolveNext() {
        var members: [Set<String>] = []
        var listOfStep: [String: Int] = [:]
        for (listIndex, (listName, ids, isTopLevel)) in lists.enumerated() {
            let ids = ids
            members.append(Set(ids))
            for (index, id) in ids.enumerated() {
                listOfStep[id] = listIndex
                guard var step = steps[id] else { continue }
                let following = index + 1 < ids.count ? ids[index + 1] : nil
                if let (target, location) = explicitNext[id] {
                    step.next = target
                    pendingReferences.append(
                        PendingReference(
                            from: id, target: target, location: location, list: members[listIndex],
                            listName: listName))
                } else {
                    step.next = following
                    let needsNext: Bool
                    switch step.kind {
                    case .decision, .end: needsNext = step.condition != nil
                    default: needsNext = true
                    }
                    if isTopLevel, following == nil, needsNext {
                        error(
                            "step '\(id)' is the last step: give it 'next' or make it an 'end' step",
                            at: step.location)
                    }
                }
                steps[id] = step
            }
        }
        // References written inside steps (decision branches, on_timeout) belong to the list of their step.
        for index in pendingReferences.indices where pendingReferences[index].listName.isEmpty {
            if let from = pendingReferences[index].from, let listIndex = listOfStep[from] {
                pendingReferences[index].list = members[listIndex]
                pendingReferences[index].listName = lists[listIndex].name
            }
        }
    }

    mutating func checkReferences() {
        for reference in pendingReferences {
            let subject = reference.from.map { "step '\($0)'" } ?? "'start'"
            if steps[reference.target] == nil {
                let candidates = reference.list.isEmpty ? stepOrder : reference.list.sorted()
                let suggestion = Self.closest(to: reference.target, in: candidates).map { "; did you mean '\($0)'?" }
                error(
                    "\(subject) refers to unknown step '\(reference.target)'" + (suggestion ?? ""),
                    at: reference.location)
                referenceProblems += 1
            } else if !reference.list.contains(reference.target) {
                error(
                    "\(subject) refers to step '\(reference.target)', which is not in \(reference.listName)",
                    at: reference.location)
                referenceProblems += 1
            }
        }
    }

    mutating func checkBlockCalls() {
        for (stepID, call, useLocation, argumentLocations) in blockCalls {
            guard let block = blocks[call.block] else {
                let known =
                    blockOrder.isEmpty ? "no blocks are defined" : "blocks are: " + blockOrder.joined(separator: ", ")
                error("step '\(stepID)' uses unknown block '\(call.block)' (\(known))", at: useLocation)
                referenceProblems += 1
                continue
            }
            if steps[stepID]?.placement.block == block.name {
                error("step '\(stepID)' runs block '\(block.name)' inside itself", at: useLocation)
                referenceProblems += 1
            }
            for argument in call.arguments {
                let argumentLocation = argumentLocations[argument.name] ?? useLocation
                guard let param = block.params.first(where: { $0.name == argument.name }) else {
                    error(
                        "step '\(stepID)' passes unknown parameter '\(argument.name)' to block '\(block.name)'",
                        at: argumentLocation)
                    continue
                }
                if case .literal(let value) = argument.value, case .failure(let problem) = param.check(value) {
                    error("argument '\(argument.name)' of step '\(stepID)' \(problem.reason)", at: argumentLocation)
                }
            }
            for param in block.params where param.required && param.defaultValue == nil {
                if !call.arguments.contains(where: { $0.name == param.name }) {
                    error(
                        "step '\(stepID)' does not give block '\(block.name)' its parameter '\(param.name)'",
                        at: useLocation)
                }
            }
        }
        // A block may run another block, but never itself through others.
        for name in blockOrder {
            var seen: Set<String> = [name]
            var frontier = calledBlocks(of: name)
            while let next = frontier.popLast() {
                if next == name, let block = blocks[name] {
                    error("block '\(name)' runs itself through other blocks; blocks can't recurse", at: block.location)
                    referenceProblems += 1
                    break
                }
                if seen.insert(next).inserted {
                    frontier.append(contentsOf: calledBlocks(of: next))
                }
            }
        }
    }

    func calledBlocks(of block: String) -> [String] {
        blockCalls.compactMap { steps[$0.step]?.placement.block == block ? $0.call.block : nil }
    }

    /// Checks every expression's paths and types.
    mutating func checkExpressions() {
        // Block results first: their types are what `steps.<call>.<result>` has.
        var resultTypes: [String: [String: ExpressionType]] = [:]
        for name in blockOrder {
            guard let block = blocks[name] else { continue }
            var types: [String: ExpressionType] = [:]
            for result in block.results {
                types[result.name] = staticType(of: result.value, scope: Scope(block: name))
            }
            resultTypes[name] = types
        }
        for pending in pendingExpressions {
            var problems: [ExpressionProblem] = []
            var pathErrors: [(String, Int)] = []
            let type = pending.expression.root.typeCheck(
                { path, offset in
                    switch self.resolve(path, scope: pending.scope, resultTypes: resultTypes) {
                    case .success(let type): return type
                    case .failure(let problem):
                        pathErrors.append((problem.message, offset))
                        return .any
                    }
                }, problems: &problems)
            for (message, offset) in pathErrors {
                error(message, at: pending.scalar.location(atOffset: pending.offset + offset))
            }
            for problem in problems {
                error(problem.message, at: pending.scalar.location(atOffset: pending.offset + problem.offset))
            }
            let at = pending.scalar.location(atOffset: pending.offset)
            switch pending.expectation {
            case .condition:
                if type != .boolean && type != .any {
                    error("a condition must be true or false, but this is \(type.article) \(type.name)", at: at)
                }
            case .field(let spec, let what):
                if !type.fits(spec.type) {
                    error(
                        "\(what) is \(type.article) \(type.name), but \(spec.name) is \(spec.type.article) \(spec.type.rawValue)",
                        at: at)
                } else if spec.type == .enum, case .string(let values?) = type,
                    let stray = values.first(where: { !spec.values.contains($0) })
                {
                    error(
                        "\(what) can be \"\(stray)\", which is not one of \(spec.values.joined(separator: ", "))",
                        at: at)
                }
            case .anything:
                break
            }
        }
    }

    func staticType(of value: ValueSource, scope: Scope) -> ExpressionType {
        switch value {
        case .literal(let literal): return ExpressionType.of(literal)
        case .template(let template):
            guard let expression = template.soleExpression else { return .string(values: nil) }
            var problems: [ExpressionProblem] = []
            return expression.root.typeCheck(
                { path, _ in (try? resolve(path, scope: scope, resultTypes: [:]).get()) ?? .any }, problems: &problems)
        }
    }

    /// The type of a path seen from `scope`, or why it names nothing.
    func resolve(
        _ path: ValuePath, scope: Scope, resultTypes: [String: [String: ExpressionType]]
    ) -> Result<ExpressionType, PathError> {
        let name = path.segments[0]
        func leaf(_ type: ExpressionType, consumed: Int) -> Result<ExpressionType, PathError> {
            if path.segments.count > consumed {
                if type == .any || type == .object { return .success(.any) }
                let head = ([path.root.rawValue] + path.segments.prefix(consumed)).joined(separator: ".")
                return .failure(PathError("'\(head)' is a \(type.name); it has no field '\(path.segments[consumed])'"))
            }
            return .success(type)
        }
        switch path.root {
        case .inputs:
            guard let input = inputs.first(where: { $0.name == name }) else {
                return .failure(PathError("'\(path)' refers to unknown input '\(name)'"))
            }
            return leaf(fieldType(input), consumed: 1)
        case .vars:
            guard variableNames.contains(name) else {
                return .failure(PathError("'\(path)' refers to variable '\(name)', which no 'set' step records"))
            }
            return leaf(.any, consumed: 1)
        case .params:
            guard let blockName = scope.block, let block = blocks[blockName] else {
                return .failure(PathError("'\(path)' can only be used inside a block"))
            }
            guard let param = block.params.first(where: { $0.name == name }) else {
                return .failure(PathError("'\(path)' refers to unknown parameter '\(name)' of block '\(blockName)'"))
            }
            return leaf(fieldType(param), consumed: 1)
        case .steps:
            guard let step = steps[name] else {
                return .failure(PathError("'\(path)' refers to unknown step '\(name)'"))
            }
            if let owner = step.placement.block, owner != scope.block {
                return .failure(
                    PathError(
                        "'\(path)' refers to step '\(name)' inside block '\(owner)', which only that block can see"))
            }
            guard path.segments.count >= 2 else {
                return .failure(PathError("'\(path)' must name an output, as in steps.\(name).<output>"))
            }
            let output = path.segments[1]
            switch step.kind {
            case .task(let task):
                guard let spec = task.outputs.first(where: { $0.name == output }) else {
                    let known =
                        task.outputs.isEmpty
                        ? "it has none" : "it has " + task.outputs.map(\.name).joined(separator: ", ")
                    return .failure(PathError("'\(path)': step '\(name)' has no output '\(output)' (\(known))"))
                }
                return leaf(fieldType(spec), consumed: 2)
            case .wait:
                switch output {
                case "received": return leaf(.boolean, consumed: 2)
                case "data": return .success(.any)
                default:
                    return .failure(PathError("'\(path)': wait step '\(name)' has outputs 'received' and 'data' only"))
                }
            case .block(let call):
                guard let block = blocks[call.block] else { return .success(.any) }
                guard block.results.contains(where: { $0.name == output }) else {
                    return .failure(PathError("'\(path)': block '\(call.block)' has no result '\(output)'"))
                }
                return leaf(resultTypes[call.block]?[output] ?? .any, consumed: 2)
            default:
                return .failure(PathError("'\(path)': step '\(name)' is a \(step.kindName) step and has no outputs"))
            }
        }
    }

    func fieldType(_ spec: FieldSpec) -> ExpressionType {
        spec.type == .enum ? .string(values: spec.values) : spec.type.expressionType
    }

    // MARK: Reachability and ends

    /// Reports steps no path reaches and steps from which no path ends.
    mutating func checkReachability(start: String, topLevel: [String]) {
        guard !start.isEmpty else { return }
        var reached = Set<String>()
        var usedBlocks = Set<String>()
        var frontier = [start]
        while let id = frontier.popLast() {
            guard reached.insert(id).inserted, let step = steps[id] else { continue }
            frontier.append(contentsOf: step.successors)
            switch step.kind {
            case .parallel(let parallel):
                frontier.append(contentsOf: parallel.branches.compactMap(\.steps.first))
            case .block(let call):
                if usedBlocks.insert(call.block).inserted, let first = blocks[call.block]?.steps.first {
                    frontier.append(first)
                }
            default:
                break
            }
        }
        for name in blockOrder where !usedBlocks.contains(name) {
            if let block = blocks[name] {
                error("block '\(name)' is never used", at: block.location)
            }
        }
        for id in stepOrder where !reached.contains(id) {
            guard let step = steps[id], step.placement.block == nil || usedBlocks.contains(step.placement.block ?? "")
            else {
                continue
            }
            error("step '\(id)' is unreachable", at: step.location)
        }

        // A step can end if it ends the run, leaves its list (join or return), or leads to one that can. Worked
        // backwards from the steps that end: each step is looked at again only when one it leads to can end.
        var canEnd = Set<String>()
        var dependents: [String: [String]] = [:]
        for id in stepOrder {
            guard let step = steps[id] else { continue }
            var leadsTo = step.successors
            if case .parallel(let parallel) = step.kind {
                leadsTo += parallel.branches.compactMap(\.steps.first)
            }
            for target in leadsTo {
                dependents[target, default: []].append(id)
            }
        }
        func ends(_ step: Step) -> Bool {
            switch step.kind {
            case .end:
                return true
            case .decision(let decision):
                return decision.otherwise == nil || step.successors.contains(where: canEnd.contains)
            case .parallel(let parallel):
                let branchesEnd = parallel.branches.allSatisfy { $0.steps.first.map(canEnd.contains) ?? true }
                return branchesEnd && (step.next == nil || canEnd.contains(step.next ?? ""))
            default:
                return step.next == nil || step.successors.contains(where: canEnd.contains)
            }
        }
        var ready = stepOrder.filter { id in steps[id].map(ends) ?? false }
        while let id = ready.popLast() {
            guard canEnd.insert(id).inserted else { continue }
            for dependent in dependents[id] ?? [] where !canEnd.contains(dependent) {
                if let step = steps[dependent], ends(step) {
                    ready.append(dependent)
                }
            }
        }
        var reported = Set<String>()
        for id in stepOrder where reached.contains(id) && !canEnd.contains(id) && !reported.contains(id) {
            guard let step = steps[id] else { continue }
            // Name the whole loop once: every step stuck with this one.
            let loop = stepOrder.filter { other in
                reached.contains(other) && !canEnd.contains(other) && steps[other]?.placement == step.placement
            }
            reported.formUnion(loop)
            let names = loop.map { "'\($0)'" }.joined(separator: ", ")
            error(
                loop.count == 1
                    ? "step '\(id)' can never reach an end: every path from it loops"
                    : "steps \(names) can never reach an end: every path from them loops",
                at: step.location)
        }
    }

    /// Refuses a flow that could wait in more than `WorkflowLoader.maximumWidth` steps at once (parallel branches
    /// and the blocks they run, multiplied out), so that what one command opens or withdraws fits in one append.
    mutating func checkWidth(topLevel: [String], at location: SourcePosition) {
        var blockWidths: [String: Int] = [:]
        func width(of list: [String]) -> Int {
            list.reduce(1) { widest, id in max(widest, width(ofStep: id)) }
        }
        func width(ofStep id: String) -> Int {
            switch steps[id]?.kind {
            case .parallel(let parallel):
                // Capped as it is summed, so that a huge fan-out can't overflow.
                return parallel.branches.reduce(0) { min($0 + width(of: $1.steps), WorkflowLoader.maximumWidth + 1) }
            case .block(let call):
                if let known = blockWidths[call.block] { return known }
                let known = width(of: blocks[call.block]?.steps ?? [])
                blockWidths[call.block] = known
                return known
            default:
                return 1
            }
        }
        let widest = width(of: topLevel)
        if widest > WorkflowLoader.maximumWidth {
            error(
                "the flow can wait in more than \(WorkflowLoader.maximumWidth) steps at once (its parallel branches "
                    + "and the blocks they run); split it into several workflows",
                at: location)
        }
    }

    // MARK: Node helpers

    func location(_ node: Node) -> SourcePosition {
        node.mark.map { SourcePosition(line: $0.line, column: $0.column) } ?? .start
    }

    func scalarText(_ node: Node) -> ScalarText? {
        guard let scalar = node.scalar else { return nil }
        return ScalarText(text: scalar.string, location: location(node), style: scalar.style)
    }

    mutating func entries(_ node: Node, what: String) -> [Entry]? {
        guard let mapping = node.mapping else {
            error("\(what) must be a mapping of names to values", at: location(node))
            return nil
        }
        var result: [Entry] = []
        for (key, value) in mapping {
            guard let scalar = key.scalar else {
                error("\(what) has a key that is not a name", at: location(key))
                continue
            }
            result.append(Entry(key: scalar.string, keyLocation: location(key), value: value))
        }
        return result
    }

    func field(_ entries: [Entry], _ name: String) -> Entry? {
        entries.first { $0.key == name }
    }

    mutating func checkFields(_ entries: [Entry], allowed: [String], in context: String) {
        for entry in entries where !allowed.contains(entry.key) {
            var message = "unknown field '\(entry.key)' in \(context)"
            if let suggestion = Self.closest(to: entry.key, in: allowed) {
                message += " (did you mean '\(suggestion)'?)"
            }
            error(message, at: entry.keyLocation)
        }
    }

    mutating func list(_ node: Node, what: String) -> [Node]? {
        guard let sequence = node.sequence else {
            error("\(what) must be a list", at: location(node))
            return nil
        }
        return Array(sequence)
    }

    mutating func string(_ node: Node, what: String) -> String? {
        guard let scalar = node.scalar, scalar.tagName != .null else {
            error("\(what) must be text", at: location(node))
            return nil
        }
        return scalar.string
    }

    mutating func requiredString(_ entries: [Entry], _ name: String, in context: String, at fallback: SourcePosition)
        -> String?
    {
        guard let entry = field(entries, name) else {
            error("\(context) is missing '\(name)'", at: fallback)
            return nil
        }
        return string(entry.value, what: "'\(name)'")
    }

    mutating func integer(_ node: Node, what: String) -> Int? {
        guard let scalar = node.scalar, scalar.tagName == .int, let value = Int.construct(from: scalar) else {
            error("\(what) must be a whole number", at: location(node))
            return nil
        }
        return value
    }

    mutating func boolean(_ node: Node, what: String) -> Bool? {
        guard let scalar = node.scalar, scalar.tagName == .bool, let value = Bool.construct(from: scalar) else {
            error("\(what) must be true or false", at: location(node))
            return nil
        }
        return value
    }

    mutating func timeSpan(_ node: Node, what: String) -> TimeSpan? {
        guard let text = string(node, what: what) else { return nil }
        guard let span = TimeSpan(text) else {
            if TimeSpan.isWritten(text) {
                error("\(what) is longer than 36500d (about a hundred years): '\(text)'", at: location(node))
            } else {
                error("\(what) must be a duration such as 30m, 4h, 2d or 1d12h, not '\(text)'", at: location(node))
            }
            return nil
        }
        return span
    }

    /// A condition: a bare expression that must be boolean.
    mutating func condition(_ node: Node, what: String, scope: Scope) -> Expression? {
        guard let scalar = scalarText(node), node.scalar?.tagName != .null else {
            error("\(what) must be an expression", at: location(node))
            return nil
        }
        if node.scalar?.tagName == .bool, let value = node.bool {
            let expression = Expression(source: scalar.text, root: .literal(.boolean(value), at: 0))
            return expression
        }
        do {
            let expression = try Expression.parse(scalar.text)
            pendingExpressions.append(
                PendingExpression(
                    expression: expression, scalar: scalar, offset: 0, scope: scope, expectation: .condition))
            return expression
        } catch {
            self.error("\(what) does not parse: \(error.message)", at: scalar.location(atOffset: error.offset))
            // Keep the step conditional, so the flow checks don't report knock-on problems.
            return Expression(source: scalar.text, root: .literal(.boolean(true), at: 0))
        }
    }

    /// Text that may hold `${…}` parts.
    mutating func template(_ node: Node, what: String, scope: Scope) -> Template? {
        guard let scalar = scalarText(node) else {
            error("\(what) must be text", at: location(node))
            return nil
        }
        do {
            let template = try Template.parse(scalar.text)
            queueTemplate(template, node: node, scope: scope)
            return template
        } catch {
            self.error("\(what) does not parse: \(error.message)", at: scalar.location(atOffset: error.offset))
            return nil
        }
    }

    mutating func queueTemplate(_ template: Template, node: Node, scope: Scope) {
        guard let scalar = scalarText(node) else { return }
        for (expression, offset) in template.expressions {
            pendingExpressions.append(
                PendingExpression(
                    expression: expression, scalar: scalar, offset: offset, scope: scope, expectation: .anything))
        }
    }

    /// A value: a YAML literal, or text that may hold `${…}` parts.
    mutating func valueSource(_ node: Node, what: String, scope: Scope, expectation: FieldSpec?) -> ValueSource? {
        guard let scalar = node.scalar else {
            error("\(what) must be a single value", at: location(node))
            return nil
        }
        switch scalar.tagName {
        case .null: return .literal(.null)
        case .bool: return Bool.construct(from: scalar).map { .literal(.boolean($0)) }
        case .int: return Int.construct(from: scalar).map { .literal(.integer($0)) }
        case .float: return Double.construct(from: scalar).map { .literal(.number($0)) }
        default: break
        }
        do {
            let template = try Template.parse(scalar.string)
            if template.expressions.isEmpty {
                return .literal(.string(scalar.string))
            }
            if template.soleExpression == nil {
                queueTemplate(template, node: node, scope: scope)
            } else if let text = scalarText(node), let expression = template.soleExpression {
                pendingExpressions.append(
                    PendingExpression(
                        expression: expression, scalar: text, offset: template.expressions[0].1, scope: scope,
                        expectation: .anything))
            }
            return .template(template)
        } catch {
            let text = scalarText(node)
            self.error(
                "\(what) does not parse: \(error.message)",
                at: text?.location(atOffset: error.offset) ?? location(node))
            return nil
        }
    }

    static func isName(_ text: String) -> Bool {
        WorkflowLoader.isName(text)
    }

    /// The allowed name closest to a misspelt one (edit distance with transpositions), when it is likely a typo.
    static func closest(to word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(word, $0)) }.filter { $0.1 <= max(1, $0.0.count / 3) }
        return scored.min { $0.1 < $1.1 }?.0
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var beforePrevious = previous
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], beforePrevious[j - 2] + 1)
                }
            }
            beforePrevious = previous
            previous = current
        }
        return previous[b.count]
    }
}

private struct PathError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

extension Node.Scalar {
    /// The resolved tag (`str`, `int`, `bool`, `null`, …).
    fileprivate var tagName: Tag.Name { Resolver.default.resolveTag(of: Node.scalar(self)) }
}
