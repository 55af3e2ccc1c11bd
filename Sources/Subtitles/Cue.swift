import ByteIO

/// One timed text cue, the common form every subtitle reader produces and every writer consumes.
///
/// Times are presentation times in milliseconds (the precision of WebVTT and SRT). `text` is a
/// WebVTT cue payload: lines separated by `\n`, `&`, `<` and `>` escaped, and only the WebVTT
/// markup tags (`<b>`, `<i>`, `<u>`, `<c>`, `<v>`, `<lang>`, `<ruby>`, `<rt>`, timestamps).
public struct Cue: Sendable, Equatable {
    public var start: Int64
    public var end: Int64
    /// The WebVTT payload (see above).
    public var text: String
    /// WebVTT cue settings as written after the timing (`line:90% align:start`), or empty.
    public var settings: String
    /// The WebVTT cue identifier, or empty.
    public var identifier: String

    public init(start: Int64, end: Int64, text: String, settings: String = "", identifier: String = "") {
        self.start = start
        self.end = end
        self.text = text
        self.settings = settings
        self.identifier = identifier
    }

    /// Same content, whatever the times: a cue cut into pieces is joined back on this.
    public func sameContent(as other: Cue) -> Bool {
        text == other.text && settings == other.settings && identifier == other.identifier
    }
}

/// Bounds on what one subtitle source may hold, so hostile files cost little.
public struct SubtitleLimits: Sendable, Equatable {
    /// Largest file (or sample) accepted, in bytes.
    public var maxBytes: Int
    /// Most cues accepted from one source.
    public var maxCues: Int
    /// Longest cue payload kept, in bytes (longer payloads are cut at a character boundary).
    public var maxCueBytes: Int
    /// Most samples accepted in one MP4 text track (a `wvtt` track has about two per cue: the
    /// cue and the gap after it). Its samples may hold at most `maxBytes` each and 8 × `maxBytes`
    /// in all (see ``TextSamples/checkBounds(_:limits:)``).
    public var maxSamples: Int

    public init(maxBytes: Int = 8 << 20, maxCues: Int = 200_000, maxCueBytes: Int = 16 << 10,
                maxSamples: Int = 400_000) {
        self.maxBytes = maxBytes
        self.maxCues = maxCues
        self.maxCueBytes = maxCueBytes
        self.maxSamples = maxSamples
    }

    public static let `default` = SubtitleLimits()
}

/// Why a subtitle source could not be used. Sources are operator files, so a malformed one is a
/// server error (500), like malformed media.
public struct SubtitleError: StatusCodedError, Equatable {
    public enum Code: Sendable, Equatable { case malformed, tooLarge, unsupported }
    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var httpStatus: Int { code == .unsupported ? 501 : 500 }
    public var logReason: String { "subtitles: " + reason }
}

extension Array where Element == Cue {
    /// Sorted by start (then end), cues without positive duration removed, exact duplicates
    /// dropped, and cues with the same content that touch or overlap joined into one.
    public func normalized() -> [Cue] {
        let sorted = filter { $0.end > $0.start }.sorted { ($0.start, $0.end) < ($1.start, $1.end) }
        var out: [Cue] = []
        out.reserveCapacity(sorted.count)
        for cue in sorted {
            // Look back over the few cues still running at this start for one to extend.
            var merged = false
            var i = out.count - 1
            while i >= 0, out.count - i <= 8 {
                if out[i].sameContent(as: cue), out[i].end >= cue.start {
                    out[i].end = Swift.max(out[i].end, cue.end)
                    merged = true
                    break
                }
                i -= 1
            }
            if !merged { out.append(cue) }
        }
        return out
    }
}
