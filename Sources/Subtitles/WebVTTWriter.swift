/// Writes WebVTT files: the HLS subtitle segments.
public enum WebVTTWriter {
    /// A WebVTT segment holding every cue of `cues` (sorted by start) that overlaps
    /// `start ..< end` (milliseconds), with its full times: a cue spanning a segment boundary
    /// appears in both segments, as HLS asks. The `X-TIMESTAMP-MAP` maps cue time zero to the
    /// 90 kHz timestamp `mpegts`, the timestamp the media segments carry for presentation time zero.
    public static func segment(cues: [Cue], start: Int64, end: Int64, mpegts: Int64) -> String {
        // Every block, the header included, ends with a blank line: clients that read the
        // segments as one byte stream (ffmpeg) then see the next segment's header as a separate
        // block instead of as more text of the last cue.
        var out = "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:\(max(mpegts, 0)),LOCAL:00:00:00.000\n\n"
        for cue in overlapping(cues, start: start, end: end) { out += block(cue) + "\n" }
        return out
    }

    /// The cues of `cues` (sorted by start) overlapping `start ..< end`.
    public static func overlapping(_ cues: [Cue], start: Int64, end: Int64) -> [Cue] {
        // A linear scan that stops at the first cue starting after the window: an earlier cue
        // may run long, so there is no start index to binary-search for.
        var out: [Cue] = []
        for cue in cues {
            if cue.start >= end { break }
            if cue.end > start { out.append(cue) }
        }
        return out
    }

    /// One cue block, ending in a blank line's newline.
    public static func block(_ cue: Cue) -> String {
        var out = ""
        // An identifier may not contain `-->` or a line break.
        let id = cue.identifier.filter { $0 != "\n" && $0 != "\r" }
        if !id.isEmpty, !id.contains("-->") { out += id + "\n" }
        out += Timestamp.format(cue.start) + " --> " + Timestamp.format(cue.end)
        if !cue.settings.isEmpty { out += " " + cue.settings.filter { $0 != "\n" && $0 != "\r" } }
        out += "\n"
        // A blank line would end the cue early: drop empty payload lines.
        let lines = cue.text.split(separator: "\n", omittingEmptySubsequences: true)
            .map { String($0.filter { $0 != "\r" }) }.filter { !$0.isEmpty && !$0.contains("-->") }
        out += lines.joined(separator: "\n")
        return out + "\n"
    }
}
