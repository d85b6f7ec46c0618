import Foundation

/// JSON text that is not a JSON value; `offset` is the byte where reading stopped.
public struct JSONSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    public var offset: Int
    public var reason: String

    public var description: String { "\(reason) at byte \(offset)" }
}

extension Value {
    /// Parses JSON text (RFC 8259; whitespace around values allowed).
    ///
    /// Use it where events and rows are read in bulk: it reads the same values `JSONDecoder` gives for `Value`,
    /// a number without fraction or exponent (or with one, when it is whole and fits) as `.integer`, any other as
    /// `.number`, at a fraction of the cost.
    public init(parsing json: Data) throws(JSONSyntaxError) {
        let result: Result<Value, JSONSyntaxError> = json.withUnsafeBytes { raw in
            Result { () throws(JSONSyntaxError) in
                var parser = JSONParser(raw.bindMemory(to: UInt8.self))
                return try parser.document()
            }
        }
        self = try result.get()
    }

    public init(parsing json: String) throws(JSONSyntaxError) {
        self = try Self.parse(json, strict: false)
    }

    /// The deepest a value from a caller may nest. The readers take `JSONParser.maximumDepth` (512); stored
    /// events wrap a caller's value in a few levels of their own, and the margin keeps every such value readable.
    public static let maximumInputDepth = 64

    /// Parses JSON from a caller (a request body, `--data`, an `apply` line), more strictly than stored JSON is
    /// read: numbers must keep their exact value (`12345678901234567890` does not fit an integer and would
    /// change as a fraction, so it is refused), strings must be valid UTF-8, and nesting is at most
    /// `maximumInputDepth` levels.
    public init(parsingInput json: some Collection<UInt8>) throws(JSONSyntaxError) {
        let result: Result<Value, JSONSyntaxError> = Array(json).withUnsafeBufferPointer { bytes in
            Result { () throws(JSONSyntaxError) in
                var parser = JSONParser(bytes, strict: true)
                return try parser.document()
            }
        }
        self = try result.get()
    }

    private static func parse(_ json: String, strict: Bool) throws(JSONSyntaxError) -> Value {
        var json = json
        let result: Result<Value, JSONSyntaxError> = json.withUTF8 { bytes in
            Result { () throws(JSONSyntaxError) in
                var parser = JSONParser(bytes, strict: strict)
                return try parser.document()
            }
        }
        return try result.get()
    }
}

/// A recursive-descent reader over UTF-8 bytes.
private struct JSONParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0
    private let strict: Bool
    private let maximumDepth: Int
    private static let maximumDepth = 512

    init(_ bytes: UnsafeBufferPointer<UInt8>, strict: Bool = false) {
        self.bytes = bytes
        self.strict = strict
        maximumDepth = strict ? Value.maximumInputDepth : Self.maximumDepth
    }

    mutating func document() throws(JSONSyntaxError) -> Value {
        let value = try self.value()
        skipWhitespace()
        guard index == bytes.count else { throw error("unexpected text after the value") }
        return value
    }

    private func error(_ reason: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: index, reason: reason)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func value() throws(JSONSyntaxError) -> Value {
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end of text") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try list()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .boolean(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .boolean(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end of text") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw error("unexpected character")
        }
        index += count
    }

    private mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        guard depth <= maximumDepth else { throw error("nested deeper than \(maximumDepth) levels") }
        index += 1
    }

    private mutating func object() throws(JSONSyntaxError) -> Value {
        try enter()
        var members: [String: Value] = [:]
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(members)
        }
        // Stored payloads' objects have a handful of members: room for them at once, not three regrowths.
        members.reserveCapacity(8)
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
            let key = try string()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            members[key] = try value()
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of text") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                depth -= 1
                return .object(members)
            } else {
                throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func list() throws(JSONSyntaxError) -> Value {
        try enter()
        var items: [Value] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .list(items)
        }
        while true {
            items.append(try value())
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of text") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                depth -= 1
                return .list(items)
            } else {
                throw error("expected ',' or ']'")
            }
        }
    }

    /// A string literal starting at the opening quote. Text without escapes is decoded straight from the input.
    private mutating func string() throws(JSONSyntaxError) -> String {
        index += 1
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = try text(UnsafeBufferPointer(rebasing: bytes[start..<index]), at: start)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw error("control character in a string") }
            index += 1
        }
        var unescaped = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return try unescaped.withUnsafeBufferPointer { bytes throws(JSONSyntaxError) in
                    try text(bytes, at: start)
                }
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw error("unexpected end of text") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped.append(escape)
                case UInt8(ascii: "b"): unescaped.append(0x08)
                case UInt8(ascii: "f"): unescaped.append(0x0C)
                case UInt8(ascii: "n"): unescaped.append(0x0A)
                case UInt8(ascii: "r"): unescaped.append(0x0D)
                case UInt8(ascii: "t"): unescaped.append(0x09)
                case UInt8(ascii: "u"): unescaped.append(contentsOf: try unicodeEscape())
                default: throw error("unknown escape")
                }
            case 0..<0x20:
                throw error("control character in a string")
            default:
                unescaped.append(byte)
                index += 1
            }
        }
        throw error("unterminated string")
    }

    /// The bytes as text: in strict mode refused when they are not valid UTF-8, else with bad bytes replaced.
    private func text(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) throws(JSONSyntaxError) -> String {
        guard strict else { return String(decoding: bytes, as: UTF8.self) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw JSONSyntaxError(offset: start, reason: "a string that is not valid UTF-8")
        }
        return text
    }

    /// The scalar of a `\uXXXX` escape (a surrogate pair takes two), as UTF-8; `index` is just past the `u`.
    private mutating func unicodeEscape() throws(JSONSyntaxError) -> [UInt8] {
        var code = try hex4()
        if (0xD800..<0xDC00).contains(code) {
            guard index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw error("a high surrogate without its low surrogate") }
            index += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw error("a high surrogate without its low surrogate") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(code) {
            throw error("a low surrogate without its high surrogate")
        }
        guard let scalar = Unicode.Scalar(code) else { throw error("not a Unicode scalar") }
        return Array(String(Character(scalar)).utf8)
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("unexpected end of text") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("not a hexadecimal digit")
            }
            code = code << 4 | UInt32(digit)
            index += 1
        }
        return code
    }

    private mutating func number() throws(JSONSyntaxError) -> Value {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw error("expected a digit") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        var whole = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            whole = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("expected a digit") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            whole = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("expected a digit") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if whole, let integer = Int(text) { return .integer(integer) }
        if strict, whole {
            throw JSONSyntaxError(offset: start, reason: "the integer \(text) does not fit in 64 bits")
        }
        guard let number = Double(text), number.isFinite else { throw error("a number out of range") }
        let value: Value = Int(exactly: number).map { .integer($0) } ?? .number(number)
        if strict, DecimalText.canonical(text) != DecimalText.canonical(value.jsonText) {
            throw JSONSyntaxError(
                offset: start, reason: "the number \(text) can't be kept exactly (it would be \(value.jsonText))")
        }
        return value
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}

/// A number's text reduced to its sign, significant digits and exponent, so that `1.50`, `15e-1` and `1.5` compare
/// equal and `12345678901234567890` and `1.2345678901234567e+19` do not.
private enum DecimalText {
    struct Canonical: Equatable {
        var negative: Bool
        var digits: [UInt8]
        var exponent: Int
    }

    static func canonical(_ text: String) -> Canonical {
        var bytes = Array(text.utf8)[...]
        var negative = false
        if bytes.first == UInt8(ascii: "-") {
            negative = true
            bytes = bytes.dropFirst()
        }
        var digits: [UInt8] = []
        var exponent = 0
        var afterPoint = false
        while let byte = bytes.first, byte != UInt8(ascii: "e"), byte != UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if byte == UInt8(ascii: ".") {
                afterPoint = true
            } else {
                digits.append(byte)
                if afterPoint { exponent -= 1 }
            }
        }
        if !bytes.isEmpty {
            exponent += Int(String(decoding: bytes.dropFirst(), as: UTF8.self).replacingOccurrences(of: "+", with: "")) ?? 0
        }
        while digits.first == UInt8(ascii: "0") { digits.removeFirst() }
        while digits.last == UInt8(ascii: "0") {
            digits.removeLast()
            exponent += 1
        }
        if digits.isEmpty { return Canonical(negative: false, digits: [], exponent: 0) }
        return Canonical(negative: negative, digits: digits, exponent: exponent)
    }
}
