/// Writes compact JSON text into a byte buffer, value by value.
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
    /// The UTF-8 written so far. Bytes, not a `String`: appending to an array is a copy, appending to a string
    /// re-checks its encoding and storage on every call (most of the cost of writing a long listing).
    public private(set) var utf8: [UInt8]
    /// True after a value inside an open container: the next key or element needs a comma first.
    private var needsComma = false

    public init(capacity: Int = 256) {
        utf8 = []
        utf8.reserveCapacity(capacity)
    }

    /// The JSON written so far, as text.
    public var text: String { String(decoding: utf8, as: UTF8.self) }

    // MARK: Containers

    public mutating func beginObject() {
        separate()
        utf8.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        utf8.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        separate()
        utf8.append(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        utf8.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// An object member's key; write its value next.
    public mutating func key(_ key: String) {
        separate()
        Self.appendQuoted(key, to: &utf8)
        utf8.append(UInt8(ascii: ":"))
        needsComma = false
    }

    // MARK: Values

    public mutating func string(_ value: String) {
        separate()
        Self.appendQuoted(value, to: &utf8)
        needsComma = true
    }

    public mutating func integer(_ value: some BinaryInteger) {
        separate()
        utf8.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    /// A number; whole numbers below 10^15 are written without a fraction (`3`, not `3.0`). JSON has no NaN or
    /// infinity: those are written as `null`.
    public mutating func number(_ value: Double) {
        separate()
        utf8.append(contentsOf: Self.format(value).utf8)
        needsComma = true
    }

    public mutating func boolean(_ value: Bool) {
        separate()
        utf8.append(contentsOf: (value ? "true" : "false").utf8)
        needsComma = true
    }

    public mutating func null() {
        separate()
        utf8.append(contentsOf: "null".utf8)
        needsComma = true
    }

    /// JSON text written by someone else, spliced in unchanged. It must be one complete JSON value.
    public mutating func raw(_ json: String) {
        separate()
        utf8.append(contentsOf: json.utf8)
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
        if needsComma { utf8.append(UInt8(ascii: ",")) }
    }

    // MARK: Escaping

    /// `value` as a JSON string literal, quotes included.
    public static func quoted(_ value: String) -> String {
        var text = ""
        text.reserveCapacity(value.utf8.count + 2)
        appendQuoted(value, to: &text)
        return text
    }

    /// Appends `value` as a JSON string literal. Runs of text that need no escaping (usually all of it) are copied
    /// whole; only `"`, `\` and control characters are written escaped.
    public static func appendQuoted(_ value: String, to text: inout String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(value.utf8.count + 2)
        appendQuoted(value, to: &bytes)
        text.append(String(decoding: bytes, as: UTF8.self))
    }

    /// Appends `value` as a JSON string literal to UTF-8 bytes. Every byte that needs escaping is ASCII, so the runs
    /// copied whole between them are whole characters.
    public static func appendQuoted(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { source in
            var runStart = 0
            for (index, byte) in source.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                if runStart != index { bytes.append(contentsOf: source[runStart..<index]) }
                switch byte {
                case 0x22: bytes.append(contentsOf: #"\""#.utf8)
                case 0x5C: bytes.append(contentsOf: #"\\"#.utf8)
                case 0x0A: bytes.append(contentsOf: #"\n"#.utf8)
                case 0x0D: bytes.append(contentsOf: #"\r"#.utf8)
                case 0x09: bytes.append(contentsOf: #"\t"#.utf8)
                default:
                    let hex = String(byte, radix: 16)
                    bytes.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
                }
                runStart = index + 1
            }
            if runStart != source.count { bytes.append(contentsOf: source[runStart...]) }
        }
        bytes.append(UInt8(ascii: "\""))
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
