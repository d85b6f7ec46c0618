import Foundation
import HandoffJSON

/// JSON text the store's statements take as parameters.
enum JSONText {
    /// A JSON array of strings, for `jsonb_array_elements_text($n::jsonb)`.
    static func array(_ strings: [String]) -> String {
        var writer = JSONWriter()
        writer.strings(strings)
        return writer.text
    }

    /// A JSON string, or null.
    static func string(_ value: String?) -> String {
        var writer = JSONWriter()
        writer.string(value)
        return writer.text
    }

    /// A JSON array of strings read back from a `jsonb` column.
    static func strings(_ text: String) throws -> [String] {
        do {
            return try JSONDecoder().decode([String].self, from: Data(text.utf8))
        } catch {
            throw StoreError(.databaseError, "a column holds \(text.prefix(80)), not a JSON array of strings")
        }
    }
}
