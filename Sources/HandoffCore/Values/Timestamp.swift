import CivilTime
import Foundation

/// Times as events store them: whole milliseconds, written as ISO 8601 in UTC (`2026-01-31T09:00:00.000Z`).
///
/// The interpreter rounds every time it is given to the millisecond, so a time survives a trip through JSON
/// exactly and a replayed history gives the very same state.
public enum Timestamp {
    /// `date` rounded to the nearest millisecond.
    public static func normalized(_ date: Date) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds(date)) / 1000)
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    /// `2026-01-31T09:00:00.000Z`.
    public static func format(_ date: Date) -> String {
        CivilTime.format(date, separator: "T", fractionDigits: 3, suffix: "Z")
    }

    /// Parses ISO 8601: `2026-01-31T09:00:00Z`, with or without fractional seconds, with `Z` or an offset
    /// (`+01:00`, `+0100`, `+01`), or a date alone (midnight UTC). Nil when it is not one.
    public static func parse(_ text: String) -> Date? {
        var text = text.trimmingCharacters(in: .whitespaces)
        if text.utf8.count == 10 {
            text += "T00:00:00Z"
        }
        return CivilTime.parse(text).map(normalized)
    }
}
