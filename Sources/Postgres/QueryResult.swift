import Foundation

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

    public func optionalInt64(_ column: Int) throws -> Int64? {
        values[column] == nil ? nil : try int64(column)
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
        let utf8 = text.utf8
        guard utf8.count == 36 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        var byteIndex = 0
        var high: UInt8?
        for (offset, character) in utf8.enumerated() {
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard character == UInt8(ascii: "-") else { return nil }
                continue
            }
            let nibble: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = character - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let first = high {
                bytes[byteIndex] = first << 4 | nibble
                byteIndex += 1
                high = nil
            } else {
                high = nibble
            }
        }
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
        ))
    }

    public func date(_ column: Int) throws -> Date {
        let text = try string(column)
        guard let value = PostgresTimestamp.parse(text) else { throw mismatch(column, text, "a timestamp") }
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
