/// Bounds on what one document may contain, so hostile input costs little.
public struct XMLLimits: Sendable, Equatable {
    /// Maximum element nesting; the root is depth 1.
    public var maxDepth: Int
    /// Maximum attributes on one element (namespace declarations included).
    public var maxAttributesPerElement: Int
    /// Maximum elements in the whole document.
    public var maxElements: Int

    public init(maxDepth: Int = 64, maxAttributesPerElement: Int = 128, maxElements: Int = 100_000) {
        self.maxDepth = maxDepth
        self.maxAttributesPerElement = maxAttributesPerElement
        self.maxElements = maxElements
    }

    public static let `default` = XMLLimits()
}

/// A small non-validating XML 1.0 reader over UTF-8 bytes (UTF-16, ISO-8859-1 and windows-1252
/// documents are converted first, see ``XMLEncoding``).
///
/// It keeps elements, attributes, character data and CDATA, and where each child element sits in
/// its parent's character data (mixed content, see ``XMLElement/content``); it skips comments,
/// processing instructions, the XML declaration and any DOCTYPE. Only the five predefined entities
/// and numeric character references are expanded: entities declared in a DTD are never expanded,
/// so entity-expansion attacks cannot happen. Namespaces are not resolved; names keep their prefixes.
/// Every malformed or over-limit input ends in an ``XMLError``, never a trap.
public enum XMLParser {
    /// Parses a whole document and returns its root element.
    public static func parse(_ bytes: [UInt8], limits: XMLLimits = .default) throws(XMLError) -> XMLElement {
        var parser = Parser(bytes: try XMLEncoding.utf8(bytes), limits: limits)
        return try parser.document()
    }

    /// `text` with each well-formed reference (the five predefined entities, `&#N;` and `&#xH;`
    /// to an XML character) replaced by its character, and anything else (a bare `&`, an unknown
    /// entity such as `&nbsp;`) kept as written. For escaped text outside a document, such as a
    /// WebVTT cue payload.
    public static func resolvingReferences(in text: String) -> String {
        guard text.utf8.contains(amp) else { return text }
        var parser = Parser(bytes: Array(text.utf8), limits: .default)
        return parser.resolvingReferences()
    }
}

private let lt = UInt8(ascii: "<"), gt = UInt8(ascii: ">"), amp = UInt8(ascii: "&")
private let slash = UInt8(ascii: "/"), equals = UInt8(ascii: "="), semicolon = UInt8(ascii: ";")
private let quote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'"), hash = UInt8(ascii: "#")
private let cr: UInt8 = 0x0D, lf: UInt8 = 0x0A, tab: UInt8 = 0x09, space: UInt8 = 0x20

private let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
private let commentOpen = Array("<!--".utf8), commentClose = Array("-->".utf8)
private let cdataOpen = Array("<![CDATA[".utf8), cdataClose = Array("]]>".utf8)
private let piOpen = Array("<?".utf8), piClose = Array("?>".utf8)
private let doctypeOpen = Array("<!DOCTYPE".utf8), endTagOpen = Array("</".utf8)
private let markupDeclarationOpen = Array("<!".utf8)

/// Why a reference (`&...;`) could not be expanded.
private struct MalformedReference: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

private struct Parser {
    let bytes: [UInt8]
    let limits: XMLLimits
    var position = 0
    var elementCount = 0

    init(bytes: [UInt8], limits: XMLLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    // MARK: Document structure

    mutating func document() throws(XMLError) -> XMLElement {
        if hasPrefix(bom) { position = 3 }
        try skipMisc(allowDoctype: true)
        guard peek() == lt else {
            throw error(position >= bytes.count ? "no root element" : "expected the root element")
        }
        let root = try element()
        try skipMisc(allowDoctype: false)
        guard position >= bytes.count else { throw error("content after the root element") }
        return root
    }

    /// Whitespace, comments, processing instructions and (before the root) one DOCTYPE.
    mutating func skipMisc(allowDoctype: Bool) throws(XMLError) {
        var doctypeSeen = false
        while true {
            skipWhitespace()
            if hasPrefix(commentOpen) {
                try skipComment()
            } else if hasPrefix(piOpen) {
                try skipProcessingInstruction()
            } else if hasPrefix(doctypeOpen) {
                guard allowDoctype, !doctypeSeen else { throw error("unexpected DOCTYPE") }
                doctypeSeen = true
                try skipDoctype()
            } else {
                return
            }
        }
    }

    /// Parses the element starting at `<` and everything inside it, without recursion.
    mutating func element() throws(XMLError) -> XMLElement {
        let (root, rootIsEmpty) = try startTag()
        if rootIsEmpty { return root }
        var stack: [XMLElement] = [root]
        var texts: [[UInt8]] = [[]]
        var starts: [Int] = [position]
        while true {
            guard let c = peek() else {
                let name = stack.last?.name ?? ""
                throw error("unterminated element <\(name)>", at: starts.last ?? position)
            }
            if c == lt {
                if hasPrefix(endTagOpen) {
                    let tagStart = position
                    position += 2
                    let name = try readName()
                    skipWhitespace()
                    guard peek() == gt else { throw error("expected '>' to end </\(name)>") }
                    position += 1
                    guard var done = stack.popLast(), let text = texts.popLast() else {
                        throw error("unexpected end tag", at: tagStart)
                    }
                    _ = starts.popLast()
                    guard done.name == name else {
                        throw error("end tag </\(name)> does not match <\(done.name)>", at: tagStart)
                    }
                    guard let string = String(validating: text, as: UTF8.self) else {
                        throw error("invalid UTF-8 in the text of <\(name)>", at: tagStart)
                    }
                    done.text = string
                    if stack.isEmpty { return done }
                    stack[stack.count - 1].children.append(done)
                } else if hasPrefix(commentOpen) {
                    try skipComment()
                } else if hasPrefix(cdataOpen) {
                    let start = position + cdataOpen.count
                    guard let end = find(cdataClose, from: start) else { throw error("unterminated CDATA section") }
                    position = start
                    try appendCharacters(upTo: end, into: &texts[texts.count - 1])
                    position = end + cdataClose.count
                } else if hasPrefix(piOpen) {
                    try skipProcessingInstruction()
                } else if hasPrefix(markupDeclarationOpen) {
                    throw error("unexpected markup declaration")
                } else {
                    guard stack.count < limits.maxDepth else {
                        throw error("elements nested deeper than \(limits.maxDepth)", exceeding: .depth)
                    }
                    var (child, isEmpty) = try startTag()
                    child.offsetInParentText = texts[texts.count - 1].count
                    if isEmpty {
                        stack[stack.count - 1].children.append(child)
                    } else {
                        stack.append(child)
                        texts.append([])
                        starts.append(position)
                    }
                }
            } else if c == amp {
                try appendReference(into: &texts[texts.count - 1])
            } else {
                var end = position
                while end < bytes.count, bytes[end] != lt, bytes[end] != amp { end += 1 }
                try appendCharacters(upTo: end, into: &texts[texts.count - 1])
                position = end
            }
        }
    }

    /// Parses `<name attr="value" ...>` or `<name .../>`; returns the element and whether it was empty.
    mutating func startTag() throws(XMLError) -> (XMLElement, Bool) {
        elementCount += 1
        guard elementCount <= limits.maxElements else {
            throw error("more than \(limits.maxElements) elements", exceeding: .elements)
        }
        position += 1  // '<'
        var element = XMLElement(name: try readName())
        var seen: Set<String> = []
        while true {
            let hadSpace = skipWhitespace()
            guard let c = peek() else { throw error("unterminated start tag <\(element.name)>") }
            if c == gt {
                position += 1
                return (element, false)
            }
            if c == slash {
                guard peek(1) == gt else { throw error("expected '/>' in <\(element.name)>") }
                position += 2
                return (element, true)
            }
            guard hadSpace else { throw error("expected whitespace before an attribute in <\(element.name)>") }
            let nameStart = position
            let name = try readName()
            skipWhitespace()
            guard peek() == equals else { throw error("expected '=' after attribute \(name)") }
            position += 1
            skipWhitespace()
            let value = try attributeValue()
            guard element.attributes.count < limits.maxAttributesPerElement else {
                throw error("more than \(limits.maxAttributesPerElement) attributes in <\(element.name)>",
                            at: nameStart, exceeding: .attributesPerElement)
            }
            // Linear search is cheapest for the usual handful; a set keeps large counts linear.
            let duplicate: Bool
            if element.attributes.count < 8 {
                duplicate = element.attributes.contains { $0.0 == name }
            } else {
                if seen.isEmpty { seen = Set(element.attributes.map(\.0)) }
                duplicate = !seen.insert(name).inserted
            }
            guard !duplicate else { throw error("duplicate attribute \(name) in <\(element.name)>", at: nameStart) }
            element.attributes.append((name, value))
        }
    }

    /// A quoted attribute value with references expanded and whitespace normalized to spaces.
    mutating func attributeValue() throws(XMLError) -> String {
        guard let delimiter = peek(), delimiter == quote || delimiter == apostrophe else {
            throw error("expected a quoted attribute value")
        }
        let start = position
        position += 1
        var value: [UInt8] = []
        while true {
            guard let c = peek() else { throw error("unterminated attribute value", at: start) }
            switch c {
            case delimiter:
                position += 1
                guard let string = String(validating: value, as: UTF8.self) else {
                    throw error("invalid UTF-8 in an attribute value", at: start)
                }
                return string
            case lt:
                throw error("'<' in an attribute value")
            case amp:
                try appendReference(into: &value)
            case cr:
                value.append(space)
                position += 1
                if peek() == lf { position += 1 }
            case lf, tab:
                value.append(space)
                position += 1
            default:
                guard c >= space else { throw error("control character in an attribute value") }
                value.append(c)
                position += 1
            }
        }
    }

    // MARK: Characters and references

    /// Appends bytes from `position` up to `end`, normalizing line ends and rejecting control characters.
    mutating func appendCharacters(upTo end: Int, into text: inout [UInt8]) throws(XMLError) {
        while position < end, position < bytes.count {
            let c = bytes[position]
            if c == cr {
                text.append(lf)
                position += 1
                if position < end, peek() == lf { position += 1 }
                continue
            }
            guard c >= space || c == lf || c == tab else { throw error("control character in text") }
            text.append(c)
            position += 1
        }
    }

    /// Expands `&name;` (the five predefined entities) or `&#N;`/`&#xH;` at `position`.
    mutating func appendReference(into text: inout [UInt8]) throws(XMLError) {
        let start = position
        do {
            try expandReference(into: &text)
        } catch {
            throw self.error(error.reason, at: start)
        }
    }

    /// Appends what the reference at `position` stands for and moves past it. When it is
    /// malformed, nothing is appended and `position` is left somewhere inside it.
    mutating func expandReference(into text: inout [UInt8]) throws(MalformedReference) {
        position += 1  // '&'
        if peek() == hash {
            position += 1
            let hex = peek() == UInt8(ascii: "x")
            if hex { position += 1 }
            var value: UInt32 = 0
            var digits = 0
            while let c = peek(), let digit = digitValue(c, hex: hex) {
                value = value * (hex ? 16 : 10) + digit
                digits += 1
                position += 1
                // Stops long before UInt32 could overflow.
                guard value <= 0x10FFFF else { throw MalformedReference("character reference out of range") }
            }
            guard digits > 0, peek() == semicolon else { throw MalformedReference("malformed character reference") }
            position += 1
            guard isXMLChar(value), let scalar = Unicode.Scalar(value) else {
                throw MalformedReference("character reference to an invalid code point")
            }
            UTF8.encode(scalar) { text.append($0) }
            return
        }
        var end = position
        while end < bytes.count, end - position < 8, bytes[end] != semicolon { end += 1 }
        guard end < bytes.count, bytes[end] == semicolon else { throw MalformedReference("malformed entity reference") }
        let replacement: UInt8
        switch bytes[position..<end] {
        case [0x6C, 0x74]: replacement = lt  // lt
        case [0x67, 0x74]: replacement = gt  // gt
        case [0x61, 0x6D, 0x70]: replacement = amp  // amp
        case [0x61, 0x70, 0x6F, 0x73]: replacement = apostrophe  // apos
        case [0x71, 0x75, 0x6F, 0x74]: replacement = quote  // quot
        default:
            // Only a name goes into the message, so it never carries a line break or control byte.
            guard isName(position..<end) else { throw MalformedReference("malformed entity reference") }
            let name = String(decoding: bytes[position..<end], as: UTF8.self)
            throw MalformedReference("undefined entity &\(name);")
        }
        text.append(replacement)
        position = end + 1
    }

    /// All of `bytes` with the well-formed references expanded and the others kept as written.
    mutating func resolvingReferences() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        while let c = peek() {
            if c == amp {
                let start = position
                do {
                    try expandReference(into: &out)
                    continue
                } catch {
                    position = start
                }
            }
            out.append(c)
            position += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    func digitValue(_ c: UInt8, hex: Bool) -> UInt32? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f") where hex: UInt32(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F") where hex: UInt32(c - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// XML 1.0 `Char`: tab, LF, CR and the ranges without surrogates, U+FFFE and U+FFFF.
    func isXMLChar(_ v: UInt32) -> Bool {
        v == 0x9 || v == 0xA || v == 0xD || (0x20...0xD7FF).contains(v) || (0xE000...0xFFFD).contains(v)
            || (0x10000...0x10FFFF).contains(v)
    }

    // MARK: Names and skipped constructs

    /// A name: ASCII letters, `_`, `:` or any non-ASCII byte first; then also digits, `-` and `.`.
    mutating func readName() throws(XMLError) -> String {
        let start = position
        guard let first = peek(), isNameStart(first) else { throw error("expected a name") }
        position += 1
        while let c = peek(), isNameStart(c) || isNameCharacter(c) { position += 1 }
        guard let name = String(validating: bytes[start..<position], as: UTF8.self) else {
            throw error("invalid UTF-8 in a name", at: start)
        }
        return name
    }

    func isNameStart(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || c == UInt8(ascii: "_") || c == UInt8(ascii: ":") || c >= 0x80
    }

    func isNameCharacter(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
    }

    /// True when `bytes[range]` is a name as ``readName()`` reads one.
    func isName(_ range: Range<Int>) -> Bool {
        guard let first = range.first, isNameStart(bytes[first]) else { return false }
        return bytes[range].dropFirst().allSatisfy { isNameStart($0) || isNameCharacter($0) }
    }

    mutating func skipComment() throws(XMLError) {
        guard let end = find(commentClose, from: position + commentOpen.count) else {
            throw error("unterminated comment")
        }
        position = end + commentClose.count
    }

    mutating func skipProcessingInstruction() throws(XMLError) {
        guard let end = find(piClose, from: position + piOpen.count) else {
            throw error("unterminated processing instruction")
        }
        position = end + piClose.count
    }

    /// Skips `<!DOCTYPE ...>` including an internal subset; its declarations are ignored.
    mutating func skipDoctype() throws(XMLError) {
        let start = position
        position += doctypeOpen.count
        var inSubset = false
        while let c = peek() {
            if c == quote || c == apostrophe {
                guard let end = find([c], from: position + 1) else { break }
                position = end + 1
            } else if hasPrefix(commentOpen) {
                try skipComment()
            } else {
                position += 1
                if c == UInt8(ascii: "[") {
                    inSubset = true
                } else if c == UInt8(ascii: "]") {
                    inSubset = false
                } else if c == gt && !inSubset {
                    return
                }
            }
        }
        throw error("unterminated DOCTYPE", at: start)
    }

    // MARK: Cursor helpers

    func peek(_ ahead: Int = 0) -> UInt8? {
        let index = position + ahead
        return index < bytes.count ? bytes[index] : nil
    }

    func hasPrefix(_ prefix: [UInt8]) -> Bool {
        guard bytes.count - position >= prefix.count else { return false }
        var index = position
        for b in prefix {
            if bytes[index] != b { return false }
            index += 1
        }
        return true
    }

    /// The index of the first occurrence of `pattern` at or after `start`.
    func find(_ pattern: [UInt8], from start: Int) -> Int? {
        guard start >= 0, start <= bytes.count else { return nil }
        return XMLBytes.find(pattern, in: bytes[start...])
    }

    @discardableResult
    mutating func skipWhitespace() -> Bool {
        let start = position
        while let c = peek(), c == space || c == lf || c == cr || c == tab { position += 1 }
        return position > start
    }

    /// An error at `offset` (default: the current position) with its line and column.
    func error(_ reason: String, at offset: Int? = nil, exceeding limit: XMLError.Limit? = nil) -> XMLError {
        let at = min(max(offset ?? position, 0), bytes.count)
        var line = 1
        var lineStart = 0
        var index = 0
        while index < at {
            if bytes[index] == lf {
                line += 1
                lineStart = index + 1
            }
            index += 1
        }
        return XMLError(reason: reason, line: line, column: at - lineStart + 1, offset: at, exceeded: limit)
    }
}

/// Byte searches the parser and the encoding sniffer share.
enum XMLBytes {
    /// Where `pattern` first starts in `bytes` (an index of `bytes`), or nil.
    static func find(_ pattern: [UInt8], in bytes: ArraySlice<UInt8>) -> Int? {
        guard let first = pattern.first else { return nil }
        var index = bytes.startIndex
        while index <= bytes.endIndex - pattern.count {
            if bytes[index] == first {
                var k = 1
                while k < pattern.count, bytes[index + k] == pattern[k] { k += 1 }
                if k == pattern.count { return index }
            }
            index += 1
        }
        return nil
    }
}
