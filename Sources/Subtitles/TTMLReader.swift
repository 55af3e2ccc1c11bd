import XML

/// Reads TTML (W3C TTML1/IMSC1, `.ttml`/`.dfxp`, and the documents inside `stpp` samples) into
/// cues: every `<p>` with a time becomes a cue; `<br/>` is a line break, `<span>` text is kept
/// without styling. Times on `body`, `div`, `p` and `span` nest (`begin` is relative to the
/// parent's begin); `end`, `dur`, clock times (`00:00:01.5`, `00:00:01:12` with frames) and
/// offset times (`1.5s`, `1500ms`, `20f`, `900000t` with `ttp:tickRate`) are understood.
/// The document is read by the shared XML parser, so it must be well-formed XML in UTF-8.
public enum TTMLReader {
    /// Nesting and element bounds of a TTML document. The parsed tree takes 60 to 140 bytes an
    /// element, so at most about 140 MB while a document is read.
    static let xmlLimits = XMLLimits(maxDepth: 64, maxAttributesPerElement: 128, maxElements: 1_000_000)

    public static func parse(_ bytes: [UInt8], limits: SubtitleLimits = .default) throws(SubtitleError) -> [Cue] {
        guard bytes.count <= limits.maxBytes else {
            throw SubtitleError(.tooLarge, "TTML document larger than \(limits.maxBytes) bytes")
        }
        let root: XMLElement
        do {
            root = try XMLParser.parse(bytes, limits: xmlLimits)
        } catch {
            throw SubtitleError(error.exceeded == .elements ? .tooLarge : .malformed, "TTML: \(error.logReason)")
        }
        guard root.hasLocalName("tt") else { throw SubtitleError(.malformed, "TTML root element is not <tt>") }
        var collector = Collector(rates: Rates(root.attributes), limits: limits)
        try collector.visit(root, in: Interval(begin: 0, end: nil))
        return collector.cues
    }

    /// An element's absolute begin and end in milliseconds; the end is nil when unknown.
    struct Interval {
        var begin: Int64
        var end: Int64?
    }

    /// Walks the tree in document order and makes a cue of each `<p>` (a `<p>` inside another is
    /// only more text of the outer one). It recurses no deeper than the 64 levels of `xmlLimits`.
    struct Collector {
        let rates: Rates
        let limits: SubtitleLimits
        /// The cues so far, in document order.
        var cues: [Cue] = []

        /// `element` and everything under it, outside any paragraph.
        mutating func visit(_ element: XMLElement, in parent: Interval) throws(SubtitleError) {
            let interval = try times(of: element, in: parent)
            guard element.hasLocalName("p") else {
                for child in element.children { try visit(child, in: interval) }
                return
            }
            var text = ""
            try appendText(of: element, in: interval, to: &text)
            try finish(interval, text: text)
        }

        /// Appends the text inside `element` in document order, `\n` for each `<br>`. The times of
        /// the elements inside are checked like any other, though they do not cut the paragraph.
        func appendText(of element: XMLElement, in interval: Interval, to text: inout String) throws(SubtitleError) {
            for piece in element.content {
                switch piece {
                case .text(let run):
                    text += run
                case .element(let child):
                    let childInterval = try times(of: child, in: interval)
                    if child.hasLocalName("br") { text += "\n" }
                    try appendText(of: child, in: childInterval, to: &text)
                }
            }
        }

        /// `element`'s interval: `begin` and `end` count from the parent's begin, `dur` from the
        /// element's own; what is not given is the parent's.
        func times(of element: XMLElement, in parent: Interval) throws(SubtitleError) -> Interval {
            var interval = parent
            if let b = element.attribute(localName: "begin") { interval.begin = parent.begin &+ (try time(b)) }
            if let e = element.attribute(localName: "end") {
                interval.end = parent.begin &+ (try time(e))
            } else if let d = element.attribute(localName: "dur") {
                interval.end = interval.begin &+ (try time(d))
            }
            return interval
        }

        func time(_ expression: String) throws(SubtitleError) -> Int64 {
            guard let t = TTMLReader.time(expression, rates) else {
                throw SubtitleError(.malformed, "bad TTML time \(expression.prefix(40))")
            }
            return t
        }

        /// Adds the paragraph's cue when it has an end and some text. Default whitespace handling:
        /// runs collapse to one space, lines are trimmed, empty lines dropped.
        mutating func finish(_ interval: Interval, text: String) throws(SubtitleError) {
            guard let end = interval.end else { return }
            var lines: [String] = []
            for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
                if !words.isEmpty { lines.append(words.joined(separator: " ")) }
            }
            guard !lines.isEmpty else { return }
            guard cues.count < limits.maxCues else {
                throw SubtitleError(.tooLarge, "TTML document has more than \(limits.maxCues) cues")
            }
            let payload = lines.map(TextLines.escaped).joined(separator: "\n")
            let text = TextLines.truncated(payload, limit: limits.maxCueBytes)
            cues.append(Cue(start: interval.begin, end: end, text: text))
        }
    }

    /// Frame and tick rates from the root's `ttp:` parameters (TTML defaults: 30 fps, and ticks
    /// at the frame rate when no tick rate is given).
    struct Rates {
        var frameRate: Double = 30
        var tickRate: Double = 30
        init(_ attributes: [(String, String)]) {
            let root = XMLElement(name: "tt", attributes: attributes)
            if let f = root.attribute(localName: "frameRate").flatMap(Double.init), f > 0, f < 1000 { frameRate = f }
            if let t = root.attribute(localName: "tickRate").flatMap(Double.init), t > 0, t < 1e12 {
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
