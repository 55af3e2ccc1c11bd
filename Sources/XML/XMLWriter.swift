/// Builds an XML document into one byte buffer, two spaces of indentation per level.
///
/// ```swift
/// var w = XMLWriter()
/// w.declaration()
/// w.open("MPD", attributes: [("type", "static")])
/// w.empty("S", attributes: [("d", "2")])
/// w.close()
/// let bytes = w.finish()
/// ```
/// Attribute values and text are escaped; names are written as given and must be valid XML names.
/// An element closed right after it was opened is written as an empty element (`<a/>`); text is
/// written inline (`<BaseURL>dash/</BaseURL>`).
public struct XMLWriter: Sendable {
    private enum Last { case nothing, markup, startTag, text }

    private var out: [UInt8] = []
    private var openNames: [String] = []
    private var last = Last.nothing

    public init(capacity: Int = 4096) {
        out.reserveCapacity(capacity)
    }

    /// Number of elements currently open.
    public var depth: Int { openNames.count }

    /// `<?xml version="1.0" encoding="utf-8"?>`
    public mutating func declaration() {
        startLine()
        out.append(contentsOf: #"<?xml version="1.0" encoding="utf-8"?>"#.utf8)
        last = .markup
    }

    /// `<!--text-->`; a `--` inside the text is split so the comment stays well-formed.
    public mutating func comment(_ text: String) {
        startLine()
        out.append(contentsOf: "<!--".utf8)
        var previous: UInt8 = 0
        for c in text.utf8 {
            if c == UInt8(ascii: "-") && previous == UInt8(ascii: "-") { out.append(0x20) }
            out.append(c)
            previous = c
        }
        if previous == UInt8(ascii: "-") { out.append(0x20) }
        out.append(contentsOf: "-->".utf8)
        last = .markup
    }

    /// Opens an element; its content follows until the matching ``close()``.
    public mutating func open(_ name: String, attributes: [(String, String)] = []) {
        startLine()
        startTag(name, attributes)
        out.append(UInt8(ascii: ">"))
        openNames.append(name)
        last = .startTag
    }

    /// Writes an element without content: `<name a="b"/>`.
    public mutating func empty(_ name: String, attributes: [(String, String)] = []) {
        startLine()
        startTag(name, attributes)
        out.append(contentsOf: "/>".utf8)
        last = .markup
    }

    /// Writes `<name a="b">text</name>` on one line.
    public mutating func element(_ name: String, attributes: [(String, String)] = [], text: String) {
        open(name, attributes: attributes)
        self.text(text)
        close()
    }

    /// Writes escaped character data inside the innermost open element.
    public mutating func text(_ text: String) {
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
            case 0x0D: out.append(contentsOf: "&#13;".utf8)
            case 0x09, 0x0A: out.append(c)
            case ..<0x20: continue  // not representable in XML 1.0
            default: out.append(c)
            }
        }
        last = .text
    }

    /// Closes the innermost open element; does nothing when none is open.
    public mutating func close() {
        guard let name = openNames.popLast() else { return }
        switch last {
        case .startTag:
            // Nothing was written inside: turn `<name ...>` into `<name .../>`.
            out.removeLast()
            out.append(contentsOf: "/>".utf8)
        case .text:
            endTag(name)
        case .markup, .nothing:
            out.append(0x0A)
            indent()
            endTag(name)
        }
        last = .markup
    }

    /// Closes every open element and returns the document, ending with a newline.
    public mutating func finish() -> [UInt8] {
        while !openNames.isEmpty { close() }
        if last != .nothing { out.append(0x0A) }
        return out
    }

    private mutating func startLine() {
        switch last {
        case .nothing, .text:
            break
        case .markup, .startTag:
            out.append(0x0A)
            indent()
        }
    }

    private mutating func indent() {
        out.append(contentsOf: repeatElement(0x20, count: openNames.count * 2))
    }

    private mutating func startTag(_ name: String, _ attributes: [(String, String)]) {
        out.append(UInt8(ascii: "<"))
        out.append(contentsOf: name.utf8)
        for (key, value) in attributes {
            out.append(0x20)
            out.append(contentsOf: key.utf8)
            out.append(contentsOf: "=\"".utf8)
            Self.appendAttributeValue(value, to: &out)
            out.append(UInt8(ascii: "\""))
        }
    }

    /// Appends `value` escaped for a double-quoted attribute (what every attribute written here gets).
    public static func appendAttributeValue(_ value: String, to out: inout [UInt8]) {
        for c in value.utf8 {
            switch c {
            case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: "&quot;".utf8)
            // Escaped so a reader's whitespace normalization gives them back unchanged.
            case 0x09: out.append(contentsOf: "&#9;".utf8)
            case 0x0A: out.append(contentsOf: "&#10;".utf8)
            case 0x0D: out.append(contentsOf: "&#13;".utf8)
            case ..<0x20: continue  // not representable in XML 1.0
            default: out.append(c)
            }
        }
    }

    private mutating func endTag(_ name: String) {
        out.append(contentsOf: "</".utf8)
        out.append(contentsOf: name.utf8)
        out.append(UInt8(ascii: ">"))
    }
}
