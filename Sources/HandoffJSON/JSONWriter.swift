/// Writes compact JSON text into a string, value by value.
///
/// Use it on paths that run for every event or projection row, where `JSONEncoder`'s generic machinery costs more
/// than the work around it. It writes what it is told in the order it is told: callers that need sorted keys
/// write them sorted. Strings are escaped as RFC 8259 requires (quote, backslash, control characters); everything
/// else, `/` and non-ASCII included, is written as is.
///
/// ```swift
/// var writer = JSONWriter()
/// writer.beginObject()
/// writer.key("path"); writer.string("sign-in")
/// writer.key("attempts"); writer.integer(2)
/// writer.endObject()
/// writer.text  // {"path":"sign-in","attempts":2}
/// ```
public struct JSONWriter: Sendable {
    public private(set) var text: String
    /// True after a value inside an open container: the next key or element needs a comma first.
    private var needsComma = false

    public init(capacity: Int = 256) {
        text = ""
        text.reserveCapacity(capacity)
    }

    // MARK: Containers

    public mutating func beginObject() {
        separate()
        text.append("{")
        needsComma = false
    }

    public mutating func endObject() {
        text.append("}")
        needsComma = true
    }

    public mutating func beginArray() {
        separate()
        text.append("[")
        needsComma = false
    }

    public mutating func endArray() {
        text.append("]")
        needsComma = true
    }

    /// An object member's key; write its value next.
    public mutating func key(_ key: String) {
        separate()
        Self.appendQuoted(key, to: &text)
        text.append(":")
        needsComma = false
    }

    // MARK: Values

    public mutating func string(_ value: String) {
        separate()
        Self.appendQuoted(value, to: &text)
        needsComma = true
    }

    public mutating func integer(_ value: some BinaryInteger) {
        separate()
        text.append(String(value))
        needsComma = true
    }

    /// A number; whole numbers below 10^15 are written without a fraction (`3`, not `3.0`). JSON has no NaN or
    /// infinity: those are written as `null`.
    public mutating func number(_ value: Double) {
        separate()
        text.append(Self.format(value))
        needsComma = true
    }

    public mutating func boolean(_ value: Bool) {
        separate()
        text.append(value ? "true" : "false")
        needsComma = true
    }

    public mutating func null() {
        separate()
        text.append("null")
        needsComma = true
    }

    /// JSON text written by someone else, spliced in unchanged. It must be one complete JSON value.
    public mutating func raw(_ json: String) {
        separate()
        text.append(json)
        needsComma = true
    }

    /// `value`, or `null` when it is nil.
    public mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    /// Each string as an element of one array.
    public mutating func strings(_ values: some Sequence<String>) {
        beginArray()
        for value in values { string(value) }
        endArray()
    }

    private mutating func separate() {
        if needsComma { text.append(",") }
    }

    // MARK: Escaping

    /// `value` as a JSON string literal, quotes included.
    public static func quoted(_ value: String) -> String {
        var text = ""
        text.reserveCapacity(value.utf8.count + 2)
        appendQuoted(value, to: &text)
        return text
    }

    /// Appends `value` as a JSON string literal. Text that needs no escaping (the usual case) is copied whole.
    public static func appendQuoted(_ value: String, to text: inout String) {
        text.append("\"")
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) {
            text.append(value)
        } else {
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\"": text.append("\\\"")
                case "\\": text.append("\\\\")
                case "\n": text.append("\\n")
                case "\r": text.append("\\r")
                case "\t": text.append("\\t")
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    text.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
                default: text.unicodeScalars.append(scalar)
                }
            }
        }
        text.append("\"")
    }

    /// A number as JSON writes it: whole numbers below 10^15 without a fraction, non-finite ones as `null`.
    public static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 {
            return String(Int(value))
        }
        return String(value)
    }
}
