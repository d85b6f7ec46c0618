import Foundation
import HandoffJSON

/// A JSON value: what inputs, task outputs, variables, block parameters and signal data hold.
///
/// Encodes to and decodes from plain JSON (`"text"`, `3`, `true`, `null`, `[…]`, `{…}`), so it can sit inside
/// event payloads and API bodies unchanged. Integers and fractional numbers are kept apart so that `3` stays `3`.
public enum Value: Hashable, Sendable {
    case null
    case boolean(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case list([Value])
    case object([String: Value])

    /// The value's kind as expressions and messages name it: `string`, `integer`, `boolean`, …
    public var kindName: String {
        switch self {
        case .null: "null"
        case .boolean: "boolean"
        case .integer: "integer"
        case .number: "number"
        case .string: "string"
        case .list: "list"
        case .object: "object"
        }
    }

    /// The string, if this value is one.
    public var stringValue: String? {
        if case .string(let string) = self { string } else { nil }
    }

    public var isNull: Bool {
        if case .null = self { true } else { false }
    }

    /// The value as people read it in interpolated text: strings bare, everything else as compact JSON.
    public var displayText: String {
        switch self {
        case .null: ""
        case .boolean(let boolean): boolean ? "true" : "false"
        case .integer(let integer): String(integer)
        case .number(let number): JSONWriter.format(number)
        case .string(let string): string
        case .list, .object: jsonText
        }
    }

    /// The value as compact JSON text with sorted keys.
    public var jsonText: String {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.text
    }

    /// Writes the value as JSON, object keys sorted.
    public func write(to writer: inout JSONWriter) {
        switch self {
        case .null: writer.null()
        case .boolean(let boolean): writer.boolean(boolean)
        case .integer(let integer): writer.integer(integer)
        case .number(let number): writer.number(number)
        case .string(let string): writer.string(string)
        case .list(let items):
            writer.beginArray()
            for item in items { item.write(to: &writer) }
            writer.endArray()
        case .object(let members):
            Self.write(members, to: &writer)
        }
    }

    /// Writes an object of values as JSON, keys sorted.
    public static func write(_ members: [String: Value], to writer: inout JSONWriter) {
        writer.beginObject()
        for key in members.keys.sorted() {
            writer.key(key)
            members[key, default: .null].write(to: &writer)
        }
        writer.endObject()
    }
}

extension Value: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let boolean = try? container.decode(Bool.self) {
            self = .boolean(boolean)
        } else if let integer = try? container.decode(Int.self) {
            self = .integer(integer)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let list = try? container.decode([Value].self) {
            self = .list(list)
        } else if let object = try? container.decode([String: Value].self) {
            self = .object(object)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .boolean(let boolean): try container.encode(boolean)
        case .integer(let integer): try container.encode(integer)
        case .number(let number): try container.encode(number)
        case .string(let string): try container.encode(string)
        case .list(let list): try container.encode(list)
        case .object(let object): try container.encode(object)
        }
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral,
    ExpressibleByNilLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .boolean(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: Value...) { self = .list(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
