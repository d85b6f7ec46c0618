import CivilTime
import Foundation

/// A value that can be sent as a query parameter, in PostgreSQL's text format.
///
/// Parameters always travel separately from the SQL text (`$1`, `$2`, …): SQL is never built from values.
public protocol PostgresEncodable: Sendable {
    var postgresText: String { get }
}

extension String: PostgresEncodable {
    public var postgresText: String { self }
}

extension Substring: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Int: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Int64: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Int32: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension UInt64: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Double: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Bool: PostgresEncodable {
    public var postgresText: String { self ? "t" : "f" }
}

extension UUID: PostgresEncodable {
    public var postgresText: String { uuidString.lowercased() }
}

extension Date: PostgresEncodable {
    /// Microsecond precision, UTC, in the ISO form every `timestamptz` accepts.
    public var postgresText: String { PostgresTimestamp.format(self) }
}

/// Text in PostgreSQL's `timestamptz` output form (`2026-11-27 11:07:10.123456+00`), read and written in UTC.
///
/// Sessions opened by `Connection` set `TimeZone=UTC` and `DateStyle=ISO`, so this is the only form results use.
public enum PostgresTimestamp {
    public static func format(_ date: Date) -> String {
        CivilTime.format(date, separator: " ", fractionDigits: 6, suffix: "+00")
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]+00` (or with `T`, `Z`, or a `+HH[:MM]` offset).
    public static func parse(_ text: String) -> Date? {
        CivilTime.parse(text)
    }
}
