/// What the loader knows about the type of an expression's value.
enum ExpressionType: Hashable, Sendable {
    /// A string; `values` when it can only be one of these (an enum).
    case string(values: [String]?)
    case integer, number, boolean, null, list, object
    /// Not known until the workflow runs (variables, signal data).
    case any

    var name: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .number: "number"
        case .boolean: "boolean"
        case .null: "null"
        case .list: "list"
        case .object: "object"
        case .any: "any"
        }
    }

    /// "a" or "an", to go before `name`.
    var article: String { ["integer", "any", "object"].contains(name) ? "an" : "a" }

    var isNumeric: Bool { self == .integer || self == .number }

    var isString: Bool {
        if case .string = self { true } else { false }
    }

    static func of(_ value: Value) -> ExpressionType {
        switch value {
        case .null: .null
        case .boolean: .boolean
        case .integer: .integer
        case .number: .number
        case .string: .string(values: nil)
        case .list: .list
        case .object: .object
        }
    }

    /// Whether values of the two types can ever be equal.
    func isComparable(with other: ExpressionType) -> Bool {
        if self == .any || other == .any || self == .null || other == .null { return true }
        if isNumeric && other.isNumeric { return true }
        if isString && other.isString { return true }
        return name == other.name
    }

    /// Whether a value of this type can be stored in a field of `type`.
    func fits(_ type: FieldType) -> Bool {
        switch self {
        case .any, .null: true
        case .string: type.holdsString
        case .boolean: type == .boolean
        case .integer: type == .integer
        case .number, .list, .object: false
        }
    }
}

/// A type error inside an expression, at an offset from the expression's start.
struct ExpressionProblem: Hashable, Sendable {
    var message: String
    var offset: Int
}

extension ExpressionNode {
    /// Infers the type, appending every problem found; `resolve` types a path (and reports its own problems).
    func typeCheck(
        _ resolve: (ValuePath, Int) -> ExpressionType,
        problems: inout [ExpressionProblem]
    ) -> ExpressionType {
        switch self {
        case .literal(let value, _):
            return ExpressionType.of(value)
        case .path(let path, let at):
            return resolve(path, at)
        case .not(let operand, let at):
            let type = operand.typeCheck(resolve, problems: &problems)
            if type != .boolean && type != .any {
                problems.append(
                    ExpressionProblem(message: "'not' needs a boolean, not \(type.article) \(type.name)", offset: at))
            }
            return .boolean
        case .and(let left, let right, let at), .or(let left, let right, let at):
            let word = if case .and = self { "and" } else { "or" }
            for operand in [left, right] {
                let type = operand.typeCheck(resolve, problems: &problems)
                if type != .boolean && type != .any {
                    problems.append(
                        ExpressionProblem(
                            message: "'\(word)' needs booleans on both sides, not \(type.article) \(type.name)",
                            offset: at))
                }
            }
            return .boolean
        case .coalesce(let left, let right, let at):
            let leftType = left.typeCheck(resolve, problems: &problems)
            let rightType = right.typeCheck(resolve, problems: &problems)
            if leftType == .null { return rightType }
            if rightType == .null || leftType == rightType { return leftType }
            if leftType.isString && rightType.isString { return .string(values: nil) }
            if leftType == .any || rightType == .any { return .any }
            problems.append(
                ExpressionProblem(
                    message: "'??' needs the same type on both sides, not \(leftType.name) and \(rightType.name)",
                    offset: at))
            return .any
        case .compare(let op, let left, let right, let at):
            let leftType = left.typeCheck(resolve, problems: &problems)
            let rightType = right.typeCheck(resolve, problems: &problems)
            switch op {
            case .equal, .notEqual:
                if !leftType.isComparable(with: rightType) {
                    problems.append(
                        ExpressionProblem(message: "cannot compare \(leftType.name) with \(rightType.name)", offset: at)
                    )
                } else {
                    checkEnumLiteral(left, leftType, right, problems: &problems)
                    checkEnumLiteral(right, rightType, left, problems: &problems)
                }
            case .less, .lessOrEqual, .greater, .greaterOrEqual:
                let known = [leftType, rightType].filter { $0 != .any }
                let ordered =
                    known.allSatisfy(\.isNumeric) || known.allSatisfy(\.isString)
                if !ordered {
                    problems.append(
                        ExpressionProblem(
                            message:
                                "'\(op.rawValue)' needs two numbers or two strings, not \(leftType.name) and \(rightType.name)",
                            offset: at))
                }
            }
            return .boolean
        }
    }

    private func checkEnumLiteral(
        _ side: ExpressionNode,
        _ sideType: ExpressionType,
        _ other: ExpressionNode,
        problems: inout [ExpressionProblem]
    ) {
        guard case .string(let values?) = sideType, case .literal(.string(let literal), let at) = other,
            !values.contains(literal)
        else {
            return
        }
        let subject = if case .path(let path, _) = side { "\(path)" } else { "the other side" }
        problems.append(
            ExpressionProblem(
                message: "\"\(literal)\" is not one of the values of \(subject) (\(values.joined(separator: ", ")))",
                offset: at))
    }
}
