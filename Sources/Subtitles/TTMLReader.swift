/// Reads TTML (W3C TTML1/IMSC1, `.ttml`/`.dfxp`, and the documents inside `stpp` samples) into
/// cues: every `<p>` with a time becomes a cue; `<br/>` is a line break, `<span>` text is kept
/// without styling. Times on `body`, `div`, `p` and `span` nest (`begin` is relative to the
/// parent's begin); `end`, `dur`, clock times (`00:00:01.5`, `00:00:01:12` with frames) and
/// offset times (`1.5s`, `1500ms`, `20f`, `900000t` with `ttp:tickRate`) are understood.
///
/// A small scanner over bytes rather than the shared XML reader, because cue text is mixed
/// content (text and `<br/>` interleaved), which a tree without text positions cannot keep.
public enum TTMLReader {
    static let maxDepth = 64

    public static func parse(_ bytes: [UInt8], limits: SubtitleLimits = .default) throws(SubtitleError) -> [Cue] {
        guard bytes.count <= limits.maxBytes else {
            throw SubtitleError(.tooLarge, "TTML document larger than \(limits.maxBytes) bytes")
        }
        var scanner = MarkupScanner(bytes: Array(TextLines.withoutBOM(bytes)))
        var rates = Rates()
        var sawRoot = false
        // Per open element: its absolute begin and end (ms) when known.
        var stack: [(name: String, begin: Int64, end: Int64?)] = []
        var cues: [Cue] = []
        // The `<p>` being collected: its depth in the stack, times and text so far.
        var paragraph: (depth: Int, begin: Int64, end: Int64?, text: String)? = nil

        while let token = try scanner.next() {
            switch token {
            case .start(let name, let attributes, let selfClosing):
                let local = localName(name)
                if !sawRoot {
                    guard local == "tt" else { throw SubtitleError(.malformed, "TTML root element is not <tt>") }
                    sawRoot = true
                    rates = Rates(attributes)
                }
                let parentBegin = stack.last?.begin ?? 0
                let parentEnd = stack.last?.end ?? nil
                var begin = parentBegin
                var end = parentEnd
                if let b = value(attributes, "begin") {
                    guard let t = time(b, rates) else { throw SubtitleError(.malformed, "bad TTML time \(b.prefix(40))") }
                    begin = parentBegin &+ t
                }
                if let e = value(attributes, "end") {
                    guard let t = time(e, rates) else { throw SubtitleError(.malformed, "bad TTML time \(e.prefix(40))") }
                    end = parentBegin &+ t
                } else if let d = value(attributes, "dur") {
                    guard let t = time(d, rates) else { throw SubtitleError(.malformed, "bad TTML time \(d.prefix(40))") }
                    end = begin &+ t
                }
                if paragraph != nil {
                    if local == "br" { paragraph?.text += "\n" }
                } else if local == "p" {
                    paragraph = (stack.count, begin, end, "")
                }
                if !selfClosing {
                    guard stack.count < maxDepth else { throw SubtitleError(.malformed, "TTML nested too deeply") }
                    stack.append((local, begin, end))
                } else if local == "p", let p = paragraph {
                    paragraph = nil
                    try finish(p, into: &cues, limits: limits)
                }
            case .end(let name):
                let local = localName(name)
                guard let open = stack.last, open.name == local else {
                    throw SubtitleError(.malformed, "TTML end tag </\(local.prefix(40))> does not match")
                }
                stack.removeLast()
                if let p = paragraph, p.depth == stack.count {
                    paragraph = nil
                    try finish(p, into: &cues, limits: limits)
                }
            case .text(let text):
                if paragraph != nil { paragraph?.text += text }
            }
        }
        guard sawRoot else { throw SubtitleError(.malformed, "no TTML document") }
        return cues
    }

    private static func finish(_ p: (depth: Int, begin: Int64, end: Int64?, text: String),
                               into cues: inout [Cue], limits: SubtitleLimits) throws(SubtitleError) {
        guard let end = p.end else { return }
        // Default whitespace handling: runs collapse to one space, lines are trimmed.
        var lines: [String] = []
        for raw in p.text.split(separator: "\n", omittingEmptySubsequences: false) {
            let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if !words.isEmpty { lines.append(words.joined(separator: " ")) }
        }
        guard !lines.isEmpty else { return }
        guard cues.count < limits.maxCues else {
            throw SubtitleError(.tooLarge, "TTML document has more than \(limits.maxCues) cues")
        }
        let payload = lines.map(TextLines.escaped).joined(separator: "\n")
        cues.append(Cue(start: p.begin, end: end, text: TextLines.truncated(payload, limit: limits.maxCueBytes)))
    }

    static func localName(_ name: String) -> String {
        guard let colon = name.lastIndex(of: ":") else { return name }
        return String(name[name.index(after: colon)...])
    }

    static func value(_ attributes: [(String, String)], _ local: String) -> String? {
        for (k, v) in attributes where localName(k) == local { return v }
        return nil
    }

    /// Frame and tick rates from the root's `ttp:` parameters (TTML defaults: 30 fps, and ticks
    /// at the frame rate when no tick rate is given).
    struct Rates {
        var frameRate: Double = 30
        var tickRate: Double = 30
        init() {}
        init(_ attributes: [(String, String)]) {
            if let f = value(attributes, "frameRate").flatMap(Double.init), f > 0, f < 1000 { frameRate = f }
            if let t = value(attributes, "tickRate").flatMap(Double.init), t > 0, t < 1e12 {
                tickRate = t
            } else {
                tickRate = frameRate
            }
        }
    }

    /// Milliseconds of a TTML time expression, or nil when malformed.
    static func time(_ expression: String, _ rates: Rates) -> Int64? {
        let s = TextLines.trimmed(Substring(expression))
        guard !s.isEmpty, s.utf8.count <= 40 else { return nil }
        var seconds: Double
        if s.contains(":") {
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3 || parts.count == 4,
                  let h = Double(parts[0]), let m = Double(parts[1]), let sec = Double(parts[2]),
                  h >= 0, m >= 0, sec >= 0 else { return nil }
            seconds = h * 3600 + m * 60 + sec
            if parts.count == 4 {
                guard let f = Double(parts[3]), f >= 0 else { return nil }
                seconds += f / rates.frameRate
            }
        } else {
            let metrics: [(String, Double)] = [("ms", 0.001), ("h", 3600), ("m", 60), ("s", 1),
                                               ("f", 1 / rates.frameRate), ("t", 1 / rates.tickRate)]
            guard let (suffix, scale) = metrics.first(where: { s.hasSuffix($0.0) }),
                  let v = Double(s.dropLast(suffix.count)), v >= 0 else { return nil }
            seconds = v * scale
        }
        let ms = (seconds * 1000).rounded()
        guard ms.isFinite, ms <= Double(Timestamp.maxMilliseconds) else { return nil }
        return Int64(ms)
    }
}

/// Tokens of an XML document, enough for TTML: start and end tags with attributes, and
/// character data (CDATA included) with the predefined and numeric references resolved.
/// Comments, processing instructions and DOCTYPE are skipped; entity declarations never expanded.
struct MarkupScanner {
    enum Token {
        case start(String, [(String, String)], selfClosing: Bool)
        case end(String)
        case text(String)
    }

    let bytes: [UInt8]
    var position = 0
    var elements = 0
    static let maxElements = 1_000_000
    static let maxAttributes = 128

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// The next token, nil at the end. Skipped markup is passed over in a loop, never by
    /// recursion: a document of a million comments must not grow the (worker thread's) stack.
    mutating func next() throws(SubtitleError) -> Token? {
        while position < bytes.count {
            if bytes[position] != UInt8(ascii: "<") {
                let start = position
                while position < bytes.count, bytes[position] != UInt8(ascii: "<") { position += 1 }
                return .text(Self.unescaped(bytes[start..<position]))
            }
            if starts("<!--") { try skip(past: "-->"); continue }
            if starts("<?") { try skip(past: "?>"); continue }
            if starts("<![CDATA[") {
                position += 9
                let start = position
                try skip(past: "]]>")
                return .text(TextLines.decode(bytes[start..<(position - 3)]))
            }
            if starts("<!") { try skip(past: ">"); continue }
            return try tag()
        }
        return nil
    }

    /// A start or end tag at `position` (which holds `<`).
    private mutating func tag() throws(SubtitleError) -> Token {
        if starts("</") {
            position += 2
            let name = readName()
            skipSpace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ">"), !name.isEmpty else {
                throw SubtitleError(.malformed, "bad TTML end tag")
            }
            position += 1
            return .end(name)
        }
        position += 1
        let name = readName()
        guard !name.isEmpty else { throw SubtitleError(.malformed, "bad TTML tag at byte \(position)") }
        elements += 1
        guard elements <= Self.maxElements else { throw SubtitleError(.tooLarge, "TTML has too many elements") }
        var attributes: [(String, String)] = []
        while true {
            skipSpace()
            guard position < bytes.count else { throw SubtitleError(.malformed, "TTML ends inside a tag") }
            if bytes[position] == UInt8(ascii: ">") {
                position += 1
                return .start(name, attributes, selfClosing: false)
            }
            if starts("/>") {
                position += 2
                return .start(name, attributes, selfClosing: true)
            }
            let key = readName()
            skipSpace()
            guard !key.isEmpty, position < bytes.count, bytes[position] == UInt8(ascii: "=") else {
                throw SubtitleError(.malformed, "bad TTML attribute in <\(name.prefix(40))>")
            }
            position += 1
            skipSpace()
            guard position < bytes.count, bytes[position] == 0x22 || bytes[position] == 0x27 else {
                throw SubtitleError(.malformed, "unquoted TTML attribute value")
            }
            let quote = bytes[position]
            position += 1
            let start = position
            while position < bytes.count, bytes[position] != quote { position += 1 }
            guard position < bytes.count else { throw SubtitleError(.malformed, "TTML ends inside an attribute") }
            let value = Self.unescaped(bytes[start..<position])
            position += 1
            guard attributes.count < Self.maxAttributes else { throw SubtitleError(.malformed, "too many TTML attributes") }
            attributes.append((key, value))
        }
    }

    private func starts(_ s: String) -> Bool {
        var i = position
        for b in s.utf8 {
            guard i < bytes.count, bytes[i] == b else { return false }
            i += 1
        }
        return true
    }

    private mutating func skip(past s: String) throws(SubtitleError) {
        let pattern = Array(s.utf8)
        while position < bytes.count {
            if starts(s) { position += pattern.count; return }
            position += 1
        }
        throw SubtitleError(.malformed, "TTML ends before \(s)")
    }

    private mutating func skipSpace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private mutating func readName() -> String {
        let start = position
        while position < bytes.count {
            let b = bytes[position]
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == UInt8(ascii: ">")
                || b == UInt8(ascii: "/") || b == UInt8(ascii: "=") || b == UInt8(ascii: "<") { break }
            position += 1
            if position - start > 256 { break }
        }
        return TextLines.decode(bytes[start..<position])
    }

    /// Character data with `&amp;`-style and numeric references resolved (unknown ones kept).
    static func unescaped(_ raw: ArraySlice<UInt8>) -> String {
        let s = TextLines.decode(raw)
        guard s.contains("&") else { return s }
        var out = ""
        var rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            guard let semi = after.prefix(12).firstIndex(of: ";") else {
                out += "&"
                rest = after
                continue
            }
            let name = after[..<semi]
            var replacement: String? = nil
            switch name {
            case "amp": replacement = "&"
            case "lt": replacement = "<"
            case "gt": replacement = ">"
            case "quot": replacement = "\""
            case "apos": replacement = "'"
            default:
                if name.hasPrefix("#x") || name.hasPrefix("#X") {
                    replacement = UInt32(name.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
                } else if name.hasPrefix("#") {
                    replacement = UInt32(name.dropFirst()).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
                }
            }
            if let replacement {
                out += replacement
                rest = after[after.index(after: semi)...]
            } else {
                out += "&"
                rest = after
            }
        }
        out += rest
        return out
    }
}
