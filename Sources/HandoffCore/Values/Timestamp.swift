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
        let total = milliseconds(date)
        let seconds = Int64((Double(total) / 1000).rounded(.down))
        let millis = Int(total - seconds * 1000)
        let whole = Date(timeIntervalSince1970: Double(seconds))
            .formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(secondsFromGMT: 0) ?? .gmt))
        let digits = String(millis)
        let padded = String(repeating: "0", count: 3 - digits.count) + digits
        return String(whole.dropLast()) + "." + padded + "Z"
    }

    /// Parses ISO 8601 with or without fractional seconds and with `Z` or an offset; nil when it is not one.
    public static func parse(_ text: String) -> Date? {
        var text = text.trimmingCharacters(in: .whitespaces)
        var fraction = 0.0
        if let dot = text.firstIndex(of: "."), let timeStart = text.firstIndex(of: "T"), dot > timeStart {
            var end = text.index(after: dot)
            while end < text.endIndex, text[end].isASCII, text[end].isNumber { end = text.index(after: end) }
            let digits = text[text.index(after: dot)..<end]
            guard !digits.isEmpty, let value = Double("0." + digits) else { return nil }
            fraction = value
            text.removeSubrange(dot..<end)
        }
        let styles: [Date.ISO8601FormatStyle] = [
            Date.ISO8601FormatStyle(timeZone: TimeZone(secondsFromGMT: 0) ?? .gmt),
            Date.ISO8601FormatStyle(timeZone: TimeZone(secondsFromGMT: 0) ?? .gmt).year().month().day()
                .dateSeparator(.dash),
        ]
        for style in styles {
            if let date = try? style.parse(text) {
                return normalized(date.addingTimeInterval(fraction))
            }
        }
        return nil
    }
}
