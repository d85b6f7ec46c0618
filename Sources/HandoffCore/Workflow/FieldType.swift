import Foundation
import Timestamps

/// The type of an input, an output or a block parameter.
public enum FieldType: String, Hashable, Sendable, Codable, CaseIterable {
    case string, text, boolean, integer
    case `enum`
    case email, upn, uuid, url
    /// An ISO 8601 time such as `2026-01-31T09:00:00Z`, stored in UTC to the millisecond.
    case time

    /// "a" or "an", to go before the type's name.
    var article: String { [.integer, .enum, .email].contains(self) ? "an" : "a" }

    /// True for the types whose values are strings.
    var holdsString: Bool {
        switch self {
        case .boolean, .integer: false
        default: true
        }
    }

    var expressionType: ExpressionType {
        switch self {
        case .boolean: .boolean
        case .integer: .integer
        default: .string(values: nil)
        }
    }
}

/// A typed field: an input of the workflow, an output of a task or a parameter of a block.
public struct FieldSpec: Hashable, Sendable {
    public var name: String
    public var type: FieldType
    public var required: Bool
    /// A label for people; the name when not given.
    public var title: String?
    public var description: String?
    /// The allowed values of an `enum` field.
    public var values: [String]
    /// A regular expression the whole value must match (string-valued types only).
    public var pattern: String?
    /// The default: a literal, or a template evaluated when the task opens (outputs) or the block starts (params).
    public var defaultValue: ValueSource?
    var location: SourcePosition

    /// Checks (and, for text the CLI passes, converts) one value; returns the value to store or why it is wrong.
    ///
    /// Strings are accepted for booleans (`true`/`false`) and integers (decimal digits), since people type them.
    public func check(_ value: Value) -> Result<Value, FieldProblem> {
        switch type {
        case .boolean:
            switch value {
            case .boolean: return .success(value)
            case .string("true"): return .success(.boolean(true))
            case .string("false"): return .success(.boolean(false))
            default: return .failure(FieldProblem(field: name, reason: "must be true or false, not \(describe(value))"))
            }
        case .integer:
            switch value {
            case .integer: return .success(value)
            case .number(let number) where number == number.rounded() && abs(number) < 1e15:
                return .success(.integer(Int(number)))
            case .string(let string) where Int(string.trimmingCharacters(in: .whitespaces)) != nil:
                return .success(.integer(Int(string.trimmingCharacters(in: .whitespaces)) ?? 0))
            default: return .failure(FieldProblem(field: name, reason: "must be an integer, not \(describe(value))"))
            }
        default:
            guard case .string(let string) = value else {
                return .failure(FieldProblem(field: name, reason: "must be a string, not \(describe(value))"))
            }
            if let scalar = PlainText.firstForbiddenInText(string, lines: type == .text || type == .string) {
                let what = scalar == "\n" || scalar == "\r" ? "a line break" : "the control character"
                return .failure(FieldProblem(field: name, reason: "may not hold \(what) \(PlainText.codePoint(scalar))"))
            }
            if required, string.allSatisfy(\.isWhitespace) {
                return .failure(FieldProblem(field: name, reason: "is required and may not be empty"))
            }
            if let reason = formatProblem(string) {
                return .failure(FieldProblem(field: name, reason: reason))
            }
            if pattern != nil, string.unicodeScalars.count > Self.maximumPatternedLength {
                return .failure(
                    FieldProblem(
                        field: name, reason: "is longer than \(Self.maximumPatternedLength) characters, the most a pattern checks"))
            }
            if let pattern, !Self.matches(string, pattern: pattern) {
                return .failure(FieldProblem(field: name, reason: "must match the pattern \(pattern)"))
            }
            if type == .time, let time = Timestamp.parse(string.trimmingCharacters(in: .whitespaces)) {
                return .success(.string(Timestamp.format(time)))
            }
            return .success(value)
        }
    }

    private func describe(_ value: Value) -> String {
        switch value {
        case .string(let string): "\"\(string)\""
        case .null: "null"
        default: "\(value.kindName) \(value.jsonText)"
        }
    }

    private func formatProblem(_ string: String) -> String? {
        switch type {
        case .string:
            return string.contains(where: \.isNewline) ? "must be a single line" : nil
        case .text, .boolean, .integer:
            return nil
        case .enum:
            return values.contains(string)
                ? nil : "must be one of \(values.joined(separator: ", ")), not \"\(string)\""
        case .email:
            return Self.looksLikeAddress(string, needsDot: true)
                ? nil : "must be an email address like name@example.com"
        case .upn:
            return Self.looksLikeAddress(string, needsDot: false) ? nil : "must look like name@domain"
        case .uuid:
            return UUID(uuidString: string) == nil ? "must be a UUID" : nil
        case .time:
            return Timestamp.parse(string.trimmingCharacters(in: .whitespaces)) == nil
                ? "must be an ISO 8601 time such as 2026-01-31T09:00:00Z" : nil
        case .url:
            guard let components = URLComponents(string: string), let scheme = components.scheme?.lowercased(),
                ["http", "https"].contains(scheme), let host = components.host, !host.isEmpty
            else {
                return "must be an http or https URL"
            }
            return nil
        }
    }

    private static func looksLikeAddress(_ string: String, needsDot: Bool) -> Bool {
        let parts = string.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
            !string.contains(where: { $0.isWhitespace })
        else {
            return false
        }
        if needsDot {
            let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
            return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
        }
        return true
    }

    /// The longest value checked against a pattern: matching costs its length times the pattern's size.
    public static let maximumPatternedLength = 10_000

    /// Whether the whole of `string` matches `pattern`; a pattern that does not compile matches nothing
    /// (the loader rejects such patterns, so this only happens for hand-built specs).
    static func matches(_ string: String, pattern: String) -> Bool {
        guard let pattern = try? Pattern(pattern) else { return false }
        return pattern.matches(string)
    }

    /// Why `pattern` is not a pattern Handoff runs (see `Pattern`), or nil.
    static func patternProblem(_ pattern: String) -> String? {
        do {
            _ = try Pattern(pattern)
            return nil
        } catch {
            return error.description
        }
    }
}

/// One field that failed validation, and why.
public struct FieldProblem: Error, Hashable, Sendable, Codable, CustomStringConvertible {
    public var field: String
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// A length of time written as `2d`, `4h`, `30m`, `45s`, `1w` or combinations such as `1d12h`.
public struct TimeSpan: Hashable, Sendable, CustomStringConvertible {
    public var seconds: Int
    public var description: String

    /// A span of whole seconds, written in seconds.
    public init(seconds: Int) {
        self.seconds = seconds
        description = "\(seconds)s"
    }

    /// The longest span a workflow may give: about a hundred years, so that any time it leads to stays a
    /// four-digit year that every reader (and PostgreSQL) takes.
    public static let maximumSeconds = 36_500 * 86_400

    /// Whether `text` is written as a span (`2d`, `1d12h`), however long.
    public static func isWritten(_ text: String) -> Bool {
        guard let last = text.last, "wdhms".contains(last) else { return false }
        var previousWasDigit = false
        for character in text {
            if character.isASCII, character.isNumber {
                previousWasDigit = true
            } else if "wdhms".contains(character), previousWasDigit {
                previousWasDigit = false
            } else {
                return false
            }
        }
        return true
    }

    /// Parses the written form; nil when it is not one or is longer than `maximumSeconds`.
    public init?(_ text: String) {
        let units: [Character: Int] = ["w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1]
        var total = 0
        var digits = ""
        for character in text {
            if character.isASCII, character.isNumber {
                digits.append(character)
            } else if let unit = units[character], let amount = Int(digits) {
                let (product, overflow) = amount.multipliedReportingOverflow(by: unit)
                guard !overflow, product <= Self.maximumSeconds else { return nil }
                total += product
                guard total <= Self.maximumSeconds else { return nil }
                digits = ""
            } else {
                return nil
            }
        }
        guard digits.isEmpty, !text.isEmpty else { return nil }
        seconds = total
        description = text
    }
}
