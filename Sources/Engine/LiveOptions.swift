import ByteIO
import Live
import PlayerURL

/// What one live manifest request asks for on top of its publishing point (reference §3):
/// `dvr_window_length=` (capped by the `.isml`'s), `time_shift=` (seconds behind the live point,
/// unknown to the player) and `mpd.segment_template` (query or `.isml`). Segment requests are
/// judged against the publishing point's own window, which holds every window these allow.
struct LiveOptions {
    var dvrWindowSeconds: Int
    /// The publishing point's own window: what segment requests are judged by.
    var servedWindowSeconds: Int
    var timeShiftSeconds: Int
    /// `$Number$` with `@duration` instead of a `$Time$` SegmentTimeline.
    var dashNumbered: Bool

    init(query: QueryOptions, live: LivePresentation) throws(EngineError) {
        func seconds(_ key: String) throws(EngineError) -> Int? {
            guard let text = query.value(key), text != "default" else { return nil }
            guard text.utf8.count <= 9, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text) else {
                throw .badRequest("\(key) must be whole seconds, got \(Sanitized.text(text))")
            }
            return value
        }
        dvrWindowSeconds = live.dvrWindowSeconds
        servedWindowSeconds = live.dvrWindowSeconds
        if let asked = try seconds("dvr_window_length"), asked > 0 {
            // The publishing point's window is the most a request may see (0 there: the whole store).
            dvrWindowSeconds = live.dvrWindowSeconds > 0 ? min(asked, live.dvrWindowSeconds) : min(asked, LivePresentation.longestWindow)
        }
        timeShiftSeconds = min(try seconds("time_shift") ?? 0, LivePresentation.longestWindow)
        let template = query.value("mpd.segment_template") ?? live.options["mpd.segment_template"] ?? live.options["mpd_segment_template"]
        switch template?.lowercased() {
        case nil, "time": dashNumbered = false
        case "number": dashNumbered = true
        case let other?: throw .badRequest("mpd.segment_template must be time or number, got \(Sanitized.text(other))")
        }
    }

    /// The window these options show of `track`.
    func window(_ index: borrowing FragmentIndexReader, _ track: LivePresentation.Track) throws(LiveIngestError) -> LiveWindow {
        let scale = Int64(track.timescale)
        return try LiveWindow(index: index, dvrWindow: Int64(dvrWindowSeconds) &* scale, timeShift: Int64(timeShiftSeconds) &* scale,
                              served: Int64(servedWindowSeconds) &* scale)
    }
}
