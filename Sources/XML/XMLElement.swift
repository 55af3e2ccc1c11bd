/// One element of a parsed document: its name as written (prefix kept, `xml:lang`), its attributes
/// in document order, its child elements and the character data directly inside it. Where each
/// child sits in that character data is kept too, so mixed content (`a<br/>b`) can be read in
/// order through ``content``.
public struct XMLElement: Sendable, Equatable {
    /// The qualified name as written, e.g. `smil` or `smil:video`.
    public var name: String
    /// Attributes in document order, values with references resolved. Namespace declarations
    /// (`xmlns`, `xmlns:p`) are ordinary attributes here.
    public var attributes: [(String, String)]
    /// Child elements in document order.
    public var children: [XMLElement]
    /// All character data and CDATA directly inside this element, concatenated, untrimmed.
    public var text: String
    /// How many UTF-8 bytes of the parent's `text` come before this element in the document;
    /// 0 for the root and for elements built by hand.
    public var offsetInParentText: Int

    public init(name: String, attributes: [(String, String)] = [], children: [XMLElement] = [], text: String = "",
                offsetInParentText: Int = 0) {
        self.name = name
        self.attributes = attributes
        self.children = children
        self.text = text
        self.offsetInParentText = offsetInParentText
    }

    /// One piece of an element's content, in document order.
    public enum Content: Sendable, Equatable {
        /// A run of character data (CDATA and resolved references included), never empty.
        case text(Substring)
        case element(XMLElement)
    }

    /// The content in document order: `text` cut where the children sit, interleaved with them.
    /// Comments and processing instructions leave no trace: the text around one is a single run.
    /// Offsets out of order or out of range (edited by hand) are clamped, never trapped on.
    public var content: [Content] {
        var pieces: [Content] = []
        let utf8 = text.utf8
        var runStart = utf8.startIndex
        for child in children {
            let offset = min(max(child.offsetInParentText, 0), utf8.count)
            let runEnd = max(utf8.index(utf8.startIndex, offsetBy: offset), runStart)
            if runStart < runEnd { pieces.append(.text(text[runStart..<runEnd])) }
            pieces.append(.element(child))
            runStart = runEnd
        }
        if runStart < utf8.endIndex { pieces.append(.text(text[runStart...])) }
        return pieces
    }

    /// The name without its namespace prefix (`video` for `smil:video`).
    public var localName: String { XMLElement.localPart(of: name) }

    /// `text` without leading and trailing XML whitespace.
    public var trimmedText: String { XMLElement.trimmed(text) }

    /// The value of the first attribute with exactly this qualified name.
    public func attribute(_ name: String) -> String? {
        for (key, value) in attributes where key == name { return value }
        return nil
    }

    /// The value of the first attribute whose local name (prefix ignored) matches.
    public func attribute(localName: String) -> String? {
        for (key, value) in attributes where XMLElement.localPart(of: key) == localName { return value }
        return nil
    }

    /// Children with exactly this qualified name, in document order.
    public func children(named name: String) -> [XMLElement] { children.filter { $0.name == name } }

    /// The first child with exactly this qualified name.
    public func firstChild(named name: String) -> XMLElement? { children.first { $0.name == name } }

    /// Children whose local name (prefix ignored) matches, in document order.
    public func children(localName: String) -> [XMLElement] { children.filter { $0.localName == localName } }

    /// The first child whose local name (prefix ignored) matches.
    public func firstChild(localName: String) -> XMLElement? { children.first { $0.localName == localName } }

    /// True when the element's local name matches, whatever its prefix.
    public func hasLocalName(_ localName: String) -> Bool { self.localName == localName }

    public static func == (a: XMLElement, b: XMLElement) -> Bool {
        guard a.name == b.name, a.text == b.text, a.offsetInParentText == b.offsetInParentText,
              a.attributes.count == b.attributes.count, a.children == b.children else { return false }
        for (x, y) in zip(a.attributes, b.attributes) where x.0 != y.0 || x.1 != y.1 { return false }
        return true
    }

    static func localPart(of name: String) -> String {
        guard let colon = name.utf8.lastIndex(of: UInt8(ascii: ":")) else { return name }
        return String(name[name.utf8.index(after: colon)...])
    }

    static func trimmed(_ s: String) -> String {
        let utf8 = s.utf8
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
        guard let first = utf8.firstIndex(where: { !isSpace($0) }),
              let last = utf8.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(s[first...last])
    }
}
