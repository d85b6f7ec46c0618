import Foundation
import Ink

/// Task instructions as HTML, safely: Markdown (tables, lists, emphasis, code, links) rendered by Ink, with every
/// piece of raw HTML shown as text, and links kept only to `http`, `https` and `mailto` addresses.
///
/// Instructions hold the onboarding's inputs (`${inputs.company}`), which anyone who starts one writes, so they are
/// treated as hostile: Ink passes raw HTML through and writes link targets and code-block languages as given, and
/// each of those is rewritten here. The pages' Content-Security-Policy (no inline script) is the second line.
enum SafeMarkdown {
    static func html(_ markdown: String) -> String {
        var parser = MarkdownParser()
        parser.addModifier(Modifier(target: .html) { input in escape(String(input.markdown)) })
        parser.addModifier(Modifier(target: .links) { input in link(input) })
        parser.addModifier(Modifier(target: .images) { input in escape(String(input.markdown)) })
        parser.addModifier(Modifier(target: .codeBlocks) { input in codeBlock(String(input.markdown)) })
        return parser.html(from: markdown)
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "&": escaped += "&amp;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// `[text](url)`: Ink's `<a href="url">text</a>` with the address checked and escaped; the text alone when the
    /// address is not one a page may link to (`javascript:`, `data:`) or is a reference Ink resolved itself.
    private static func link(_ input: Modifier.Input) -> String {
        let markdown = input.markdown
        guard markdown.hasSuffix(")"), let open = markdown.range(of: "](", options: .backwards) else {
            return escape(String(markdown))
        }
        let url = String(markdown[open.upperBound..<markdown.index(before: markdown.endIndex)])
        let prefix = "<a href=\"\(url)\">"
        guard input.html.hasPrefix(prefix), input.html.hasSuffix("</a>") else { return escape(String(markdown)) }
        let text = input.html.dropFirst(prefix.count).dropLast("</a>".count)
        guard isLinkable(url) else { return String(text) }
        return "<a href=\"\(escape(url))\" rel=\"noopener noreferrer\">\(text)</a>"
    }

    private static func isLinkable(_ url: String) -> Bool {
        let lowered = url.lowercased()
        return lowered.hasPrefix("https://") || lowered.hasPrefix("http://") || lowered.hasPrefix("mailto:")
    }

    /// A fenced block as preformatted text, whatever its language line says.
    private static func codeBlock(_ markdown: String) -> String {
        var lines = markdown.split(separator: "\n", omittingEmptySubsequences: false)
        if let first = lines.first, first.hasPrefix("```") || first.hasPrefix("~~~") { lines.removeFirst() }
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        if let last = lines.last, last.hasPrefix("```") || last.hasPrefix("~~~") { lines.removeLast() }
        return "<pre><code>" + escape(lines.joined(separator: "\n")) + "</code></pre>"
    }
}
