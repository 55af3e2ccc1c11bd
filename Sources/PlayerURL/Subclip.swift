import ByteIO

/// A virtual subclip asked for in the query: `vbegin`/`vend`, or `t=` in the W3C Media Fragments
/// forms. Times are exact nanoseconds from the start of the presentation (no binary floating point),
/// so `vbegin=0.1` is exactly 100 000 000 ns.
///
/// Accepted times: seconds with an optional fraction (`60`, `12.5`), or `[h:]mm:ss[.fff]` clock
/// forms (`00:01:00`, `1:30.5`). `t=` takes `60,90`, `npt:60,90`, `npt:00:01:00,00:01:30`, `,90`,
/// `60` and `60-90`. Anything else, a fraction longer than 9 digits, a time beyond
/// ``maxSeconds``, or an end not after the begin is a `400`.
public struct Subclip: Sendable, Hashable {
    /// Largest time accepted, in seconds (about 31 years: anything larger is not a VOD position).
    public static let maxSeconds: Int64 = 1_000_000_000
    static let nanosecondsPerSecond: Int64 = 1_000_000_000

    /// Start in nanoseconds, nil for "from the start".
    public var begin: Int64?
    /// End in nanoseconds, nil for "to the end".
    public var end: Int64?

    public init(begin: Int64?, end: Int64?) {
        self.begin = begin
        self.end = end
    }

    /// True when the range covers the whole presentation (no begin after 0, no end).
    public var isWholePresentation: Bool { (begin ?? 0) == 0 && end == nil }

    /// The subclip a query asks for, nil when it asks for none. `vbegin`/`vend` and `t` together
    /// are refused rather than guessed at.
    public init?(query: QueryOptions) throws(PlayerURLError) {
        let vbegin = query.value("vbegin")
        let vend = query.value("vend")
        let t = query.value("t")
        if t != nil && (vbegin != nil || vend != nil) {
            throw .malformed("subclip: give either vbegin/vend or t, not both")
        }
        var clip: Subclip
        if let t {
            clip = try Subclip.parseMediaFragment(t)
        } else if vbegin != nil || vend != nil {
            clip = Subclip(begin: try vbegin.map { v throws(PlayerURLError) in try Subclip.parseTime(v, what: "vbegin") },
                           end: try vend.map { v throws(PlayerURLError) in try Subclip.parseTime(v, what: "vend") })
        } else {
            return nil
        }
        if let b = clip.begin, let e = clip.end, e <= b {
            throw .malformed("subclip: end \(Subclip.format(e)) is not after begin \(Subclip.format(b))")
        }
        if clip.begin == 0 { clip.begin = nil }
        self = clip
    }

    /// `t=` values: `[npt:]<begin>[,<end>]`, `[npt:],<end>`, `<begin>-<end>`.
    public static func parseMediaFragment(_ text: String) throws(PlayerURLError) -> Subclip {
        guard text.utf8.count <= 64 else { throw .malformed("subclip: t= longer than 64 bytes") }
        var body = Substring(text)
        if body.hasPrefix("npt:") { body = body.dropFirst(4) }
        else if let colon = body.firstIndex(of: ":"), body[..<colon].allSatisfy({ $0.isLetter }), !body[..<colon].isEmpty {
            throw .malformed("subclip: t= time format \(Sanitized.text(String(body[..<colon]))) not supported (use seconds or npt:)")
        }
        let separator: Character = body.contains(",") ? "," : "-"
        let parts = body.split(separator: separator, maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first else { throw .malformed("subclip: empty t=") }
        let begin = first.isEmpty ? nil : try parseTime(String(first), what: "t begin")
        let end = parts.count > 1 ? try parseTime(String(parts[1]), what: "t end") : nil
        guard begin != nil || end != nil else { throw .malformed("subclip: t= names no time") }
        return Subclip(begin: begin, end: end)
    }

    /// Seconds (`90`, `90.25`) or `[h:]mm:ss[.fff]` into nanoseconds.
    public static func parseTime(_ text: String, what: String) throws(PlayerURLError) -> Int64 {
        let bad = PlayerURLError.malformed("subclip: \(what) must be seconds or [hh:]mm:ss[.fff], got \(Sanitized.text(text, limit: 40))")
        guard !text.isEmpty, text.utf8.count <= 40 else { throw bad }
        let bytes = Array(text.utf8)
        // Split off the fraction.
        let dot = bytes.firstIndex(of: UInt8(ascii: "."))
        let wholePart = bytes[..<(dot ?? bytes.endIndex)]
        var fraction: Int64 = 0
        if let dot {
            let digits = bytes[(dot + 1)...]
            guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy(isDigit) else { throw bad }
            var scale: Int64 = nanosecondsPerSecond
            for d in digits {
                scale /= 10
                fraction &+= Int64(d &- 0x30) &* scale
            }
        }
        let fields = wholePart.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard (1...3).contains(fields.count), fields.allSatisfy({ !$0.isEmpty && $0.count <= 12 && $0.allSatisfy(isDigit) }) else { throw bad }
        var seconds: Int64 = 0
        for (k, field) in fields.enumerated() {
            var value: Int64 = 0
            for d in field { value = value &* 10 &+ Int64(d &- 0x30) }  // at most 12 digits: no overflow
            // Minutes and seconds after a colon are below 60 (the first field may be anything).
            if k > 0 {
                guard field.count == 2, value < 60 else { throw bad }
            }
            let (shifted, o1) = seconds.multipliedReportingOverflow(by: 60)
            let (sum, o2) = (k == 0 ? 0 : shifted).addingReportingOverflow(value)
            guard !o1, !o2 else { throw bad }
            seconds = k == 0 ? value : sum
        }
        guard seconds <= maxSeconds else {
            throw .malformed("subclip: \(what) beyond \(maxSeconds) seconds: \(Sanitized.text(text, limit: 40))")
        }
        return seconds &* nanosecondsPerSecond &+ fraction
    }

    /// A canonical text for cache keys and messages (`b=<ns>,e=<ns>`).
    public var key: String { "b=\(begin.map(String.init) ?? "")e=\(end.map(String.init) ?? "")" }

    /// Nanoseconds as seconds with up to 9 fraction digits (`90.5`).
    public static func format(_ ns: Int64) -> String {
        let whole = ns / nanosecondsPerSecond
        var frac = String(ns % nanosecondsPerSecond)
        guard frac != "0" else { return String(whole) }
        while frac.count < 9 { frac = "0" + frac }
        while frac.hasSuffix("0") { frac.removeLast() }
        return "\(whole).\(frac)"
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
}
