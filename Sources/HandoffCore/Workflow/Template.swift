/// Text with `${expression}` parts, as titles, instructions, checklist items and values are written.
///
/// As a *value* (an output default, a `set` value, a block argument) a template that is exactly one `${…}` gives
/// that expression's value with its type; any other template gives a string. Write `$${` for a literal `${`.
public struct Template: Hashable, Sendable, CustomStringConvertible {
    enum Part: Hashable, Sendable {
        case text(String)
        /// An expression and its offset (in Unicode scalars) from the start of the template's text.
        case expression(Expression, offset: Int)
    }

    let parts: [Part]
    /// The text as written.
    public let source: String

    public var description: String { source }

    /// A template that is plain text, with no expressions.
    public init(literal text: String) {
        parts = text.isEmpty ? [] : [.text(text)]
        source = text
    }

    init(parts: [Part], source: String) {
        self.parts = parts
        self.source = source
    }

    /// Parses `${…}` parts; errors carry offsets from the start of `source`.
    public static func parse(_ source: String) throws(ExpressionSyntaxError) -> Template {
        let scalars = Array(source.unicodeScalars)
        var parts: [Part] = []
        var text = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            if scalars[index] == "$", index + 2 < scalars.count, scalars[index + 1] == "$", scalars[index + 2] == "{" {
                text.append(contentsOf: ["$", "{"])
                index += 3
                continue
            }
            guard scalars[index] == "$", index + 1 < scalars.count, scalars[index + 1] == "{" else {
                text.append(scalars[index])
                index += 1
                continue
            }
            let start = index + 2
            var end = start
            var quote: Unicode.Scalar?
            while end < scalars.count {
                let scalar = scalars[end]
                if let open = quote {
                    if scalar == "\\" {
                        end += 1
                    } else if scalar == open {
                        quote = nil
                    }
                } else if scalar == "\"" || scalar == "'" {
                    quote = scalar
                } else if scalar == "}" {
                    break
                }
                end += 1
            }
            guard end < scalars.count else {
                throw ExpressionSyntaxError(message: "'${' is not closed by '}'", offset: index)
            }
            let inner = String(String.UnicodeScalarView(scalars[start..<end]))
            let expression: Expression
            do {
                expression = try Expression.parse(inner)
            } catch {
                throw ExpressionSyntaxError(message: error.message, offset: start + error.offset)
            }
            if !text.isEmpty {
                parts.append(.text(String(text)))
                text = String.UnicodeScalarView()
            }
            parts.append(.expression(expression, offset: start))
            index = end + 1
        }
        if !text.isEmpty {
            parts.append(.text(String(text)))
        }
        return Template(parts: parts, source: source)
    }

    /// The expression, when the whole template is one `${…}`.
    var soleExpression: Expression? {
        if parts.count == 1, case .expression(let expression, _) = parts[0] { expression } else { nil }
    }

    var expressions: [(Expression, Int)] {
        parts.compactMap { part in
            if case .expression(let expression, let offset) = part { (expression, offset) } else { nil }
        }
    }

    /// The template as text: each expression's value shown as people read it (`null` as nothing).
    public func render(_ lookup: (ValuePath) -> Value) -> String {
        parts.map { part in
            switch part {
            case .text(let text): text
            case .expression(let expression, _): expression.evaluate(lookup).displayText
            }
        }.joined()
    }

    /// The template as a value: a sole expression keeps its type, anything else is a string.
    func value(_ lookup: (ValuePath) -> Value) -> Value {
        if let expression = soleExpression {
            return expression.evaluate(lookup)
        }
        return .string(render(lookup))
    }
}

/// A value written in a workflow file: a YAML literal (`true`, `3`, `Client`) or a template such as
/// `${steps.sign-in.upn}`.
public enum ValueSource: Hashable, Sendable, CustomStringConvertible {
    case literal(Value)
    case template(Template)

    public var description: String {
        switch self {
        case .literal(let value): value.jsonText
        case .template(let template): template.source
        }
    }

    func value(_ lookup: (ValuePath) -> Value) -> Value {
        switch self {
        case .literal(let value): value
        case .template(let template): template.value(lookup)
        }
    }
}
