/// An expression of the workflow language: a small, safe language over inputs, step outputs, variables and
/// block parameters. It has literals, paths, comparisons, `and`/`or`/`not`, `??` and parentheses; nothing else.
///
/// Grammar, loosest binding first:
/// ```
/// expression := or
/// or         := and ("or" and)*
/// and        := not ("and" not)*
/// not        := "not" not | comparison
/// comparison := coalesce (("==" | "!=" | "<" | "<=" | ">" | ">=") coalesce)?
/// coalesce   := primary ("??" primary)*
/// primary    := string | integer | "true" | "false" | "null" | path | "(" expression ")"
/// path       := ("inputs" | "steps" | "vars" | "params") ("." name)+
/// ```
public struct Expression: Hashable, Sendable, CustomStringConvertible {
    /// The text the expression was parsed from.
    public let source: String
    let root: ExpressionNode

    public var description: String { source }

    /// Parses an expression; the error's offset counts Unicode scalars from the start of `source`.
    public static func parse(_ source: String) throws(ExpressionSyntaxError) -> Expression {
        var parser = ExpressionParser(source: source)
        return Expression(source: source, root: try parser.parseWhole())
    }

    /// Every path the expression reads, with its offset.
    var paths: [(ValuePath, Int)] {
        var found: [(ValuePath, Int)] = []
        root.collectPaths(into: &found)
        return found
    }

    /// Evaluates against values found by `lookup` (which answers `.null` for anything missing).
    func evaluate(_ lookup: (ValuePath) -> Value) -> Value {
        root.evaluate(lookup)
    }
}

/// Where a path starts.
public enum PathRoot: String, Hashable, Sendable, CaseIterable {
    case inputs, steps, vars, params
}

/// A dotted path such as `inputs.company` or `steps.sign-in.upn`.
public struct ValuePath: Hashable, Sendable, CustomStringConvertible {
    public var root: PathRoot
    public var segments: [String]

    public var description: String { ([root.rawValue] + segments).joined(separator: ".") }
}

public enum ComparisonOperator: String, Hashable, Sendable {
    case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
}

indirect enum ExpressionNode: Hashable, Sendable {
    case literal(Value, at: Int)
    case path(ValuePath, at: Int)
    case not(ExpressionNode, at: Int)
    case and(ExpressionNode, ExpressionNode, at: Int)
    case or(ExpressionNode, ExpressionNode, at: Int)
    case coalesce(ExpressionNode, ExpressionNode, at: Int)
    case compare(ComparisonOperator, ExpressionNode, ExpressionNode, at: Int)

    var offset: Int {
        switch self {
        case .literal(_, let at), .path(_, let at), .not(_, let at), .and(_, _, let at), .or(_, _, let at),
            .coalesce(_, _, let at), .compare(_, _, _, let at):
            at
        }
    }

    func collectPaths(into found: inout [(ValuePath, Int)]) {
        switch self {
        case .literal: break
        case .path(let path, let at): found.append((path, at))
        case .not(let operand, _): operand.collectPaths(into: &found)
        case .and(let left, let right, _), .or(let left, let right, _), .coalesce(let left, let right, _),
            .compare(_, let left, let right, _):
            left.collectPaths(into: &found)
            right.collectPaths(into: &found)
        }
    }

    func evaluate(_ lookup: (ValuePath) -> Value) -> Value {
        switch self {
        case .literal(let value, _):
            return value
        case .path(let path, _):
            return lookup(path)
        case .not(let operand, _):
            return .boolean(!operand.evaluate(lookup).isTrue)
        case .and(let left, let right, _):
            return .boolean(left.evaluate(lookup).isTrue && right.evaluate(lookup).isTrue)
        case .or(let left, let right, _):
            return .boolean(left.evaluate(lookup).isTrue || right.evaluate(lookup).isTrue)
        case .coalesce(let left, let right, _):
            let value = left.evaluate(lookup)
            return value.isNull ? right.evaluate(lookup) : value
        case .compare(let op, let left, let right, _):
            return .boolean(Self.compare(op, left.evaluate(lookup), right.evaluate(lookup)))
        }
    }

    private static func compare(_ op: ComparisonOperator, _ left: Value, _ right: Value) -> Bool {
        switch op {
        case .equal: return equal(left, right)
        case .notEqual: return !equal(left, right)
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            guard let order = order(left, right) else { return false }
            switch op {
            case .less: return order < 0
            case .lessOrEqual: return order <= 0
            case .greater: return order > 0
            default: return order >= 0
            }
        }
    }

    private static func equal(_ left: Value, _ right: Value) -> Bool {
        switch (left, right) {
        case (.integer(let a), .number(let b)): Double(a) == b
        case (.number(let a), .integer(let b)): a == Double(b)
        default: left == right
        }
    }

    private static func order(_ left: Value, _ right: Value) -> Int? {
        func sign<T: Comparable>(_ a: T, _ b: T) -> Int { a < b ? -1 : (a == b ? 0 : 1) }
        switch (left, right) {
        case (.integer(let a), .integer(let b)): return sign(a, b)
        case (.integer(let a), .number(let b)): return sign(Double(a), b)
        case (.number(let a), .integer(let b)): return sign(a, Double(b))
        case (.number(let a), .number(let b)): return sign(a, b)
        case (.string(let a), .string(let b)): return sign(a, b)
        default: return nil
        }
    }
}

extension Value {
    /// Conditions hold only for `true`; `false`, `null` and everything else do not.
    var isTrue: Bool { self == .boolean(true) }
}

/// An expression that does not parse: what was expected, and where (in Unicode scalars from its start).
public struct ExpressionSyntaxError: Error, Hashable, Sendable {
    public var message: String
    public var offset: Int
}

// MARK: - Tokens and parser

private enum Token: Hashable {
    case name(String)
    case string(String)
    case integer(Int)
    case symbol(String)
    case end

    var display: String {
        switch self {
        case .name(let name): "'\(name)'"
        case .string(let string): "the string \"\(string)\""
        case .integer(let integer): "the number \(integer)"
        case .symbol(let symbol): "'\(symbol)'"
        case .end: "the end of the expression"
        }
    }
}

private struct ExpressionParser {
    let scalars: [Unicode.Scalar]
    var tokens: [(Token, Int)] = []
    var position = 0

    init(source: String) {
        scalars = Array(source.unicodeScalars)
    }

    /// The deepest an expression's tree may be (each operator, `not` and pair of parentheses adds a level), so
    /// that checking and evaluating it stay well inside any thread's stack.
    static let maximumDepth = 64

    /// A node and the depth of the tree under it.
    private typealias Parsed = (node: ExpressionNode, depth: Int)

    mutating func parseWhole() throws(ExpressionSyntaxError) -> ExpressionNode {
        tokens = try tokenize()
        if tokens.count == 1 {
            throw ExpressionSyntaxError(message: "the expression is empty", offset: 0)
        }
        let node = try parseOr().node
        let (token, offset) = tokens[position]
        if token != .end {
            throw ExpressionSyntaxError(message: "unexpected \(token.display)", offset: offset)
        }
        return node
    }

    private var current: Token { tokens[position].0 }
    private var currentOffset: Int { tokens[position].1 }

    /// `depth` for a node over children of the given depths; throws when that is too deep.
    private func level(over depths: Int..., at offset: Int) throws(ExpressionSyntaxError) -> Int {
        let depth = (depths.max() ?? 0) + 1
        guard depth <= Self.maximumDepth else {
            throw ExpressionSyntaxError(
                message: "the expression nests deeper than \(Self.maximumDepth) levels; split it with 'set' steps",
                offset: offset)
        }
        return depth
    }

    private mutating func parseOr() throws(ExpressionSyntaxError) -> Parsed {
        var left = try parseAnd()
        while current == .name("or") {
            let at = currentOffset
            position += 1
            let right = try parseAnd()
            left = (.or(left.node, right.node, at: at), try level(over: left.depth, right.depth, at: at))
        }
        return left
    }

    private mutating func parseAnd() throws(ExpressionSyntaxError) -> Parsed {
        var left = try parseNot()
        while current == .name("and") {
            let at = currentOffset
            position += 1
            let right = try parseNot()
            left = (.and(left.node, right.node, at: at), try level(over: left.depth, right.depth, at: at))
        }
        return left
    }

    /// How many `not`s and parentheses the parser is inside: checked before going deeper, so that a deep text
    /// is refused before it can exhaust the parser's own stack.
    private var nesting = 0

    private mutating func deeper(at offset: Int) throws(ExpressionSyntaxError) {
        nesting += 1
        _ = try level(over: nesting - 1, at: offset)
    }

    private mutating func parseNot() throws(ExpressionSyntaxError) -> Parsed {
        if current == .name("not") {
            let at = currentOffset
            position += 1
            try deeper(at: at)
            let operand = try parseNot()
            nesting -= 1
            return (.not(operand.node, at: at), try level(over: operand.depth, at: at))
        }
        return try parseComparison()
    }

    private mutating func parseComparison() throws(ExpressionSyntaxError) -> Parsed {
        let left = try parseCoalesce()
        if case .symbol(let symbol) = current, let op = ComparisonOperator(rawValue: symbol) {
            let at = currentOffset
            position += 1
            let right = try parseCoalesce()
            if case .symbol(let next) = current, ComparisonOperator(rawValue: next) != nil {
                throw ExpressionSyntaxError(
                    message: "comparisons can't be chained; use 'and' between them", offset: currentOffset)
            }
            return (.compare(op, left.node, right.node, at: at), try level(over: left.depth, right.depth, at: at))
        }
        return left
    }

    private mutating func parseCoalesce() throws(ExpressionSyntaxError) -> Parsed {
        var left = try parsePrimary()
        while current == .symbol("??") {
            let at = currentOffset
            position += 1
            let right = try parsePrimary()
            left = (.coalesce(left.node, right.node, at: at), try level(over: left.depth, right.depth, at: at))
        }
        return left
    }

    private mutating func parsePrimary() throws(ExpressionSyntaxError) -> Parsed {
        let (token, at) = tokens[position]
        switch token {
        case .string(let string):
            position += 1
            return (.literal(.string(string), at: at), 1)
        case .integer(let integer):
            position += 1
            return (.literal(.integer(integer), at: at), 1)
        case .symbol("("):
            position += 1
            try deeper(at: at)
            let inner = try parseOr()
            nesting -= 1
            guard current == .symbol(")") else {
                throw ExpressionSyntaxError(message: "expected ')' but found \(current.display)", offset: currentOffset)
            }
            position += 1
            return (inner.node, try level(over: inner.depth, at: at))
        case .name("true"):
            position += 1
            return (.literal(.boolean(true), at: at), 1)
        case .name("false"):
            position += 1
            return (.literal(.boolean(false), at: at), 1)
        case .name("null"):
            position += 1
            return (.literal(.null, at: at), 1)
        case .name(let name) where !["and", "or", "not"].contains(name):
            guard let root = PathRoot(rawValue: name) else {
                throw ExpressionSyntaxError(
                    message: "unknown name '\(name)': paths start with inputs, steps, vars or params", offset: at)
            }
            position += 1
            var segments: [String] = []
            while current == .symbol(".") {
                position += 1
                guard case .name(let segment) = current else {
                    throw ExpressionSyntaxError(
                        message: "expected a name after '.' but found \(current.display)", offset: currentOffset)
                }
                segments.append(segment)
                position += 1
            }
            if segments.isEmpty {
                throw ExpressionSyntaxError(message: "'\(name)' must be followed by '.' and a name", offset: at)
            }
            return (.path(ValuePath(root: root, segments: segments), at: at), 1)
        default:
            throw ExpressionSyntaxError(message: "expected a value but found \(token.display)", offset: at)
        }
    }

    private func tokenize() throws(ExpressionSyntaxError) -> [(Token, Int)] {
        var result: [(Token, Int)] = []
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            let start = index
            if scalar.properties.isWhitespace {
                index += 1
            } else if scalar == "\"" || scalar == "'" {
                var text = String.UnicodeScalarView()
                index += 1
                var closed = false
                while index < scalars.count {
                    let inner = scalars[index]
                    if inner == scalar {
                        closed = true
                        index += 1
                        break
                    }
                    if inner == "\\", index + 1 < scalars.count {
                        let escaped = scalars[index + 1]
                        switch escaped {
                        case "n": text.append("\n")
                        case "t": text.append("\t")
                        default: text.append(escaped)
                        }
                        index += 2
                        continue
                    }
                    text.append(inner)
                    index += 1
                }
                if !closed {
                    throw ExpressionSyntaxError(message: "the string is not closed", offset: start)
                }
                result.append((.string(String(text)), start))
            } else if ("0"..."9").contains(scalar)
                || (scalar == "-" && index + 1 < scalars.count && ("0"..."9").contains(scalars[index + 1]))
            {
                index += 1
                while index < scalars.count, ("0"..."9").contains(scalars[index]) { index += 1 }
                let digits = String(String.UnicodeScalarView(scalars[start..<index]))
                guard let integer = Int(digits) else {
                    throw ExpressionSyntaxError(message: "the number \(digits) is too large", offset: start)
                }
                result.append((.integer(integer), start))
            } else if Self.isNameStart(scalar) {
                index += 1
                while index < scalars.count, Self.isNamePart(scalars[index]) { index += 1 }
                result.append((.name(String(String.UnicodeScalarView(scalars[start..<index]))), start))
            } else {
                let two = index + 1 < scalars.count ? String(scalar) + String(scalars[index + 1]) : ""
                if ["==", "!=", "<=", ">=", "??"].contains(two) {
                    result.append((.symbol(two), start))
                    index += 2
                } else if ["<", ">", "(", ")", "."].contains(String(scalar)) {
                    result.append((.symbol(String(scalar)), start))
                    index += 1
                } else if scalar == "=" {
                    throw ExpressionSyntaxError(message: "use '==' to compare", offset: start)
                } else {
                    throw ExpressionSyntaxError(message: "unexpected character '\(scalar)'", offset: start)
                }
            }
        }
        result.append((.end, scalars.count))
        return result
    }

    private static func isNameStart(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || scalar.properties.isAlphabetic
    }

    private static func isNamePart(_ scalar: Unicode.Scalar) -> Bool {
        isNameStart(scalar) || ("0"..."9").contains(scalar) || scalar == "-"
    }
}
