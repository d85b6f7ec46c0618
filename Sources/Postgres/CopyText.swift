/// Rows in the text format of `COPY … FROM STDIN`, for `Connection.copy(into:columns:rows:)`.
///
/// Each row is its fields in column order, separated by tabs; NULL is `\N`; backslash, tab, newline and carriage
/// return inside a value are escaped.
public struct CopyText: Sendable {
    public private(set) var text = ""
    private var rowStarted = false

    public init(capacity: Int = 4096) {
        text.reserveCapacity(capacity)
    }

    /// The next field of the current row; nil is NULL.
    public mutating func field(_ value: String?) {
        if rowStarted { text.append("\t") }
        rowStarted = true
        guard let value else {
            text.append("\\N")
            return
        }
        if value.utf8.contains(where: { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\\": text.append("\\\\")
                case "\t": text.append("\\t")
                case "\n": text.append("\\n")
                case "\r": text.append("\\r")
                default: text.unicodeScalars.append(scalar)
                }
            }
        } else {
            text.append(value)
        }
    }

    public mutating func field(_ value: (some PostgresEncodable)?) {
        field(value?.postgresText)
    }

    /// Ends the current row.
    public mutating func endRow() {
        text.append("\n")
        rowStarted = false
    }

    public var isEmpty: Bool { text.isEmpty }
}
