import MediaModel

/// Cues from a text track's samples, whatever their format: `wvtt` (WebVTT in ISO-BMFF),
/// `stpp` (a TTML document per sample) and `tx3g` (3GPP timed text). Every output format that
/// needs cue text (HLS WebVTT, Smooth TTML) reads text tracks through this.
public enum TextSamples {
    /// Whether the track's samples can be read as cues.
    public static func isReadable(_ track: Track) -> Bool {
        track.kind == .text && ["wvtt", "stpp", "tx3g"].contains(track.sampleEntryType)
    }

    /// Refuses, before any sample is read, a text track whose sample table asks for more than
    /// `limits` allow: more than ``SubtitleLimits/maxSamples`` samples, a sample larger than
    /// ``SubtitleLimits/maxBytes``, or more than 8 × that in all.
    public static func checkBounds(_ track: Track, limits: SubtitleLimits = .default) throws(SubtitleError) {
        let s = track.samples
        guard s.count <= limits.maxSamples else {
            throw SubtitleError(.tooLarge, "text track has \(s.count) samples, more than \(limits.maxSamples)")
        }
        let cap = UInt64(max(limits.maxBytes, 0))
        var total: UInt64 = 0
        for size in s.sizes {
            guard UInt64(size) <= cap else {
                throw SubtitleError(.tooLarge, "text sample of \(size) bytes, more than \(limits.maxBytes)")
            }
            total &+= UInt64(size)
        }
        guard total <= cap &* 8 else {
            throw SubtitleError(.tooLarge, "text track of \(total) bytes, more than \(cap &* 8)")
        }
    }

    /// All cues of `track` in presentation time (milliseconds), normalized. `sample(i)` returns
    /// the bytes of sample `i` (from memory or storage). The table is checked first
    /// (``checkBounds(_:limits:)``).
    public static func cues(of track: Track, limits: SubtitleLimits = .default,
                            sample: (Int) throws -> [UInt8]) throws -> [Cue] {
        guard isReadable(track) else {
            throw SubtitleError(.unsupported, "text track with sample entry \(track.sampleEntryType.prefix(8))")
        }
        try checkBounds(track, limits: limits)
        let s = track.samples
        var cues: [Cue] = []
        var total = 0
        for i in 0..<s.count {
            let start = MediaTime.rescale(track.presentationTime(of: i), from: track.timescale, to: 1000)
            let end = MediaTime.rescale(track.presentationTime(of: i) &+ Int64(s.durations[i]), from: track.timescale, to: 1000)
            guard s.sizes[i] > 0 else { continue }
            let bytes = try sample(i)
            total &+= bytes.count
            guard total <= limits.maxBytes &* 8 else {
                throw SubtitleError(.tooLarge, "text track larger than \(limits.maxBytes &* 8) bytes")
            }
            switch track.sampleEntryType {
            case "wvtt":
                cues += try WebVTTTrack.cues(in: bytes, start: start, duration: end &- start)
            case "stpp":
                // TTML times count from the start of the track's media timeline.
                let shift = MediaTime.rescale(track.presentationOffset, from: track.timescale, to: 1000)
                cues += try TTMLReader.parse(bytes, limits: limits).map {
                    Cue(start: $0.start &- shift, end: $0.end &- shift, text: $0.text)
                }
            default:
                if let text = tx3gText(bytes), !text.isEmpty {
                    cues.append(Cue(start: start, end: end, text: text))
                }
            }
            guard cues.count <= limits.maxCues else {
                throw SubtitleError(.tooLarge, "text track has more than \(limits.maxCues) cues")
            }
        }
        return cues.normalized()
    }

    /// A `tx3g` sample's text (16-bit length, UTF-8 text, style boxes ignored) as a WebVTT payload.
    static func tx3gText(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 2 else { return nil }
        let length = Int(bytes[0]) << 8 | Int(bytes[1])
        guard length <= bytes.count - 2 else { return nil }
        let text = TextLines.lines(bytes[2..<(2 + length)])
        return text.map(TextLines.escaped).joined(separator: "\n")
    }
}
