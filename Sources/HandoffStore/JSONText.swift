import Foundation
import Postgres

/// JSON text written by hand where an encoder would cost more than the work around it (every append, every
/// projection row), and so JSON the service already encoded can be spliced in unchanged.
public enum JSONText {
    struct Object {
        private var members: [String] = []

        mutating func string(_ key: String, _ value: String?) {
            members.append(JSONText.quote(key) + ":" + (value.map(JSONText.quote) ?? "null"))
        }

        mutating func number(_ key: String, _ value: Int64) {
            members.append(JSONText.quote(key) + ":" + String(value))
        }

        /// `value` must be JSON text already (the service's own encoding); nil is written as null.
        mutating func raw(_ key: String, _ value: String?) {
            members.append(JSONText.quote(key) + ":" + (value ?? "null"))
        }

        mutating func date(_ key: String, _ value: Date?) {
            string(key, value.map(PostgresTimestamp.format))
        }

        var text: String { "{" + members.joined(separator: ",") + "}" }
    }

    static func array(_ strings: [String]) -> String {
        "[" + strings.map(quote).joined(separator: ",") + "]"
    }

    /// A JSON string literal for `text`, quotes included.
    public static func quote(_ text: String) -> String {
        var quoted = "\""
        quoted.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\r": quoted += "\\r"
            case "\t": quoted += "\\t"
            case let control where control.value < 0x20:
                quoted += String(format: "\\u%04x", control.value)
            default:
                quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }
}
