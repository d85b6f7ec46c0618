import Foundation

/// Handoff's one story of time: an instant is a `Date` in whole milliseconds, written as ISO 8601 in UTC with
/// three decimals (`2026-01-31T09:00:00.000Z`).
///
/// The interpreter rounds every time it is given to the millisecond, the database keeps times to the millisecond
/// (`timestamptz(3)`), and events, stored answers, the CLI's `--json`, the HTTP API and the SQL parameters all
/// write this one form, so a time survives every trip exactly and a replayed history gives the very same state.
public enum Timestamp {
    /// `date` rounded to the nearest millisecond.
    public static func normalized(_ date: Date) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds(date)) / 1000)
    }

    /// Whole milliseconds since 1970, rounded to the nearest.
    public static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    /// `2026-01-31T09:00:00.000Z`.
    public static func format(_ date: Date) -> String {
        CivilTime.format(date, separator: "T", fractionDigits: 3, suffix: "Z")
    }

    /// Parses ISO 8601 and PostgreSQL's output form alike: `2026-01-31T09:00:00Z` or `2026-01-31 09:00:00+00`,
    /// with or without fractional seconds, with `Z` or an offset (`+01:00`, `+0100`, `+01`), or a date alone
    /// (midnight UTC), rounded to the millisecond. Nil when it is not one, or names a date or time the calendar
    /// does not have (`2026-02-31`, `24:00:00`).
    public static func parse(_ text: String) -> Date? {
        // Trimming goes through Foundation's NSString: only when there is something to trim (PostgreSQL's own
        // text never has).
        var text = text
        if needsTrimming(text) {
            text = text.trimmingCharacters(in: .whitespaces)
        }
        if text.utf8.count == 10 {
            text += "T00:00:00Z"
        }
        guard let micros = CivilTime.parse(text) else { return nil }
        // Rounded half away from zero in whole numbers, as PostgreSQL rounds to `timestamptz(3)`; one division of
        // whole milliseconds, the very double `normalized` gives for the same instant.
        let milliseconds = micros >= 0 ? (micros + 500) / 1000 : -((-micros + 500) / 1000)
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}

extension Timestamp {
    /// Whether `text` begins or ends with whitespace. Text that begins and ends with a printable ASCII byte (every
    /// time PostgreSQL or Handoff writes) is not looked at through `CharacterSet`, a fifth of reading a time.
    fileprivate static func needsTrimming(_ text: String) -> Bool {
        guard let first = text.utf8.first, let last = text.utf8.last else { return false }
        func isPlain(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }
        if isPlain(first) && isPlain(last) { return false }
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return false }
        return CharacterSet.whitespaces.contains(first) || CharacterSet.whitespaces.contains(last)
    }
}

extension JSONEncoder.DateEncodingStrategy {
    /// Dates as `Timestamp.format` writes them.
    public static var timestamp: Self {
        .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.format(date))
        }
    }
}

extension JSONDecoder.DateDecodingStrategy {
    /// Dates as `Timestamp.parse` reads them.
    public static var timestamp: Self {
        .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a time")
            }
            return date
        }
    }
}
