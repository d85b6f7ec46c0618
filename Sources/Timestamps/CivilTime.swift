import Foundation

/// The calendar arithmetic behind `Timestamp`, by hand: times are read and written for every event and
/// projection row, where `DateFormatter`, ISO 8601 format styles and `String(format:)` cost more than the rest of
/// the work.
enum CivilTime {
    /// Parses `YYYY-MM-DD`, `T` or a space, `HH:MM:SS`, an optional fraction of any length (digits past the sixth
    /// are dropped), then an optional `Z` or `±HH[[:]MM]` offset. Nil when the text is anything else.
    /// The instant in whole microseconds since 1970.
    static func parse(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { bytes in parse(bytes) }
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard bytes.count >= 19 else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }
        guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: " "),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...daysInMonth(month, year: year)).contains(day), hour < 24, minute < 60,
              second < 61
        else { return nil }
        var index = 19
        var micros: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                if digits < 6 {
                    micros = micros * 10 + Int64(bytes[index] - 48)
                }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in min(digits, 6)..<6 { micros *= 10 }
        }
        var offsetSeconds: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "Z") {
            index += 1
        } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign: Int64 = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            guard index + 3 <= bytes.count, let hours = number(index + 1..<index + 3) else { return nil }
            index += 3
            var minutes: Int64 = 0
            if index < bytes.count, bytes[index] == UInt8(ascii: ":") {
                guard index + 3 <= bytes.count, let parsed = number(index + 1..<index + 3) else { return nil }
                minutes = parsed
                index += 3
            } else if index + 2 == bytes.count {
                guard let parsed = number(index..<index + 2) else { return nil }
                minutes = parsed
                index += 2
            }
            offsetSeconds = sign * (hours * 3600 + minutes * 60)
        }
        guard index == bytes.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return seconds * 1_000_000 + micros
    }

    /// `date` in UTC, rounded to `fractionDigits` (0 to 6) decimals: the date, `separator`, the time, the fraction
    /// (when there are digits), then `suffix`.
    static func format(_ date: Date, separator: Character, fractionDigits: Int, suffix: String) -> String {
        let scale = Int64(pow(10, Double(fractionDigits)))
        let total = Int64((date.timeIntervalSince1970 * Double(scale)).rounded())
        var seconds = total / scale
        var fraction = total % scale
        if fraction < 0 {
            fraction += scale
            seconds -= 1
        }
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civilDate(fromDays: days)
        // Written byte by byte into the string's own storage: the parts as decimal strings, joined, were most of
        // the time of writing a row's times.
        let separator = separator.utf8
        let yearDigits = max(4, decimalDigits(year))
        let capacity = yearDigits + 15 + separator.count + (fractionDigits > 0 ? fractionDigits + 1 : 0)
            + suffix.utf8.count + (year < 0 ? 1 : 0)
        return String(unsafeUninitializedCapacity: capacity) { buffer in
            var index = 0
            func put(_ byte: UInt8) {
                buffer[index] = byte
                index += 1
            }
            func put(_ value: Int64, digits: Int) {
                var value = value
                if value < 0 {
                    put(UInt8(ascii: "-"))
                    value = -value
                }
                let count = max(digits, decimalDigits(value))
                for offset in stride(from: count - 1, through: 0, by: -1) {
                    buffer[index + offset] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                index += count
            }
            put(year, digits: 4)
            put(UInt8(ascii: "-"))
            put(month, digits: 2)
            put(UInt8(ascii: "-"))
            put(day, digits: 2)
            for byte in separator { put(byte) }
            put(secondOfDay / 3600, digits: 2)
            put(UInt8(ascii: ":"))
            put(secondOfDay % 3600 / 60, digits: 2)
            put(UInt8(ascii: ":"))
            put(secondOfDay % 60, digits: 2)
            if fractionDigits > 0 {
                put(UInt8(ascii: "."))
                put(fraction, digits: fractionDigits)
            }
            for byte in suffix.utf8 { put(byte) }
            return index
        }
    }

    /// How many decimal digits `value` has (its magnitude's; 1 for zero).
    private static func decimalDigits(_ value: Int64) -> Int {
        var magnitude = value.magnitude
        var count = 1
        while magnitude >= 10 {
            magnitude /= 10
            count += 1
        }
        return count
    }

    /// 28 to 31: the proleptic Gregorian calendar's length of `month` (1 to 12) in `year`.
    static func daysInMonth(_ month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // Howard Hinnant's days-from-civil algorithms: exact for the proleptic Gregorian calendar.
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilDate(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
