import Foundation
import Yams

// Reading YAML nodes: positions, mappings, scalars of each type, expressions and templates, names.
extension DefinitionBuilder {
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
        requiredEntry(entries, name, in: context, at: fallback).flatMap { string($0.value, what: "'\(name)'") }
    }

    /// The entry `name`, or an error naming what is missing.
    mutating func requiredEntry(_ entries: [Entry], _ name: String, in context: String, at fallback: SourcePosition)
        -> Entry?
    {
        guard let entry = field(entries, name) else {
            error("\(context) is missing '\(name)'", at: fallback)
            return nil
        }
        return entry
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

extension Node.Scalar {
    /// The resolved tag (`str`, `int`, `bool`, `null`, …).
    var tagName: Tag.Name { Resolver.default.resolveTag(of: Node.scalar(self)) }
}

