/// What names, ids and typed text may hold, so that nothing a caller writes can forge a line of a listing,
/// hide itself or turn the text around it.
public enum PlainText {
    /// The first scalar of `text` that no name or id may hold: controls, invisible format characters (zero
    /// widths, direction overrides), separators, unassigned and private-use code points, and U+FFFD (what text
    /// that was not valid UTF-8 turns into when it is decoded anyway).
    public static func firstForbiddenInName(_ text: String) -> Unicode.Scalar? {
        text.unicodeScalars.first { scalar in
            scalar == "\u{FFFD}" || forbiddenCategories.contains(scalar.properties.generalCategory)
        }
    }

    /// The first scalar of a typed text value (an input, output or parameter) that it may not hold: control
    /// characters other than tab (and line breaks, when `lines` allows several lines), and the direction
    /// overrides and isolates that make text display in another order than it is stored.
    public static func firstForbiddenInText(_ text: String, lines: Bool) -> Unicode.Scalar? {
        text.unicodeScalars.first { scalar in
            if scalar == "\t" { return false }
            if lines, scalar == "\n" || scalar == "\r" { return false }
            return scalar.properties.generalCategory == .control || directionControls.contains(scalar.value)
        }
    }

    /// `U+XXXX`, for messages.
    public static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    private static let forbiddenCategories: Set<Unicode.GeneralCategory> = [
        .control, .format, .lineSeparator, .paragraphSeparator, .unassigned, .privateUse, .surrogate,
    ]

    /// LRE, RLE, PDF, LRO, RLO and LRI, RLI, FSI, PDI.
    private static let directionControls: Set<UInt32> = [
        0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069,
    ]
}
