import Foundation
import Yams

// The paths and types of every expression and template.
extension DefinitionBuilder {
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
            case .call(let call):
                guard let spec = call.outputs.first(where: { $0.name == output }) else {
                    let known =
                        call.outputs.isEmpty
                        ? "it has none" : "it has " + call.outputs.map(\.name).joined(separator: ", ")
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
}

struct PathError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
