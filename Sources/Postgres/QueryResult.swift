import Foundation
import Timestamps

/// The rows a statement returned, copied out of libpq's result in text format.
public struct QueryResult: Sendable {
    public let columns: [String]
    public let rows: [Row]
    /// Rows the statement changed, for INSERT, UPDATE and DELETE (libpq's `PQcmdTuples`).
    public let affectedRows: Int

    public init(columns: [String], rows: [Row], affectedRows: Int) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
    }

    /// The first row, or nil when there is none.
    public var first: Row? { rows.first }
}

/// One row of a result; read its columns by index with the typed accessors, which throw `.decoding` on a mismatch.
public struct Row: Sendable {
    public let values: [String?]

    public init(values: [String?]) {
        self.values = values
    }

    public func isNull(_ column: Int) -> Bool { values[column] == nil }

    public func optionalString(_ column: Int) -> String? { values[column] }

    public func string(_ column: Int) throws -> String {
        guard let value = values[column] else { throw nullValue(column) }
        return value
    }

    public func int64(_ column: Int) throws -> Int64 {
        let text = try string(column)
        guard let value = Int64(text) else { throw mismatch(column, text, "an integer") }
        return value
    }

    public func int(_ column: Int) throws -> Int { Int(try int64(column)) }

    /// Reads `xid8` and other unsigned 64-bit values.
    public func uint64(_ column: Int) throws -> UInt64 {
        let text = try string(column)
        guard let value = UInt64(text) else { throw mismatch(column, text, "an unsigned integer") }
        return value
    }

    public func double(_ column: Int) throws -> Double {
        let text = try string(column)
        guard let value = Double(text) else { throw mismatch(column, text, "a number") }
        return value
    }

    public func bool(_ column: Int) throws -> Bool {
        switch try string(column) {
        case "t", "true": return true
        case "f", "false": return false
        case let other: throw mismatch(column, other, "a boolean")
        }
    }

    public func uuid(_ column: Int) throws -> UUID {
        let text = try string(column)
        guard let value = Self.parseUUID(text) ?? UUID(uuidString: text) else {
            throw mismatch(column, text, "a UUID")
        }
        return value
    }

    /// The canonical `8-4-4-4-12` hex form PostgreSQL prints, read by hand (`UUID(uuidString:)` goes through
    /// `sscanf`, a tenth of reading an event). Nil for any other form.
    static func parseUUID(_ text: String) -> UUID? {
        var text = text
        return text.withUTF8 { bytes -> UUID? in
            guard bytes.count == 36 else { return nil }
            var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let parsed = withUnsafeMutableBytes(of: &uuid) { output -> Bool in
                var index = 0
                for byte in 0..<16 {
                    if index == 8 || index == 13 || index == 18 || index == 23 {
                        guard bytes[index] == UInt8(ascii: "-") else { return false }
                        index += 1
                    }
                    guard let high = hexValue(bytes[index]), let low = hexValue(bytes[index + 1]) else { return false }
                    output[byte] = high << 4 | low
                    index += 2
                }
                return true
            }
            return parsed ? UUID(uuid: uuid) : nil
        }
    }

    private static func hexValue(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    public func date(_ column: Int) throws -> Date {
        let text = try string(column)
        guard let value = Timestamp.parse(text) else { throw mismatch(column, text, "a timestamp") }
        return value
    }

    public func optionalDate(_ column: Int) throws -> Date? {
        values[column] == nil ? nil : try date(column)
    }

    /// The column's bytes as UTF-8, for `json` and `jsonb` values.
    public func data(_ column: Int) throws -> Data { Data(try string(column).utf8) }

    private func nullValue(_ column: Int) -> PostgresError {
        PostgresError(.decoding, message: "column \(column) is NULL")
    }

    private func mismatch(_ column: Int, _ text: String, _ expected: String) -> PostgresError {
        PostgresError(.decoding, message: "column \(column) holds '\(text.prefix(40))', not \(expected)")
    }
}
