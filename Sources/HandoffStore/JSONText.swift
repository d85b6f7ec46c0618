import HandoffJSON

/// JSON text the store's statements take as parameters.
enum JSONText {
    /// A JSON array of strings, for `jsonb_array_elements_text($n::jsonb)`.
    static func array(_ strings: [String]) -> String {
        var writer = JSONWriter()
        writer.strings(strings)
        return writer.text
    }
}
