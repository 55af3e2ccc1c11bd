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
    /// `filter=` and `max_bitrate=` as in VOD (`SelectionStep`); `vbegin`/`vend` are catch-up's.
    var selection: Selection

    init(query: QueryOptions, live: LivePresentation) throws(EngineError) {
        func seconds(_ key: String) throws(EngineError) -> Int? {
            guard let text = query.value(key), text != "default" else { return nil }
            guard text.utf8.count <= 9, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text) else {
                throw .badRequest("\(key) must be whole seconds, got \(Sanitized.text(text))")
            }
            return value
        }
        do { selection = try Selection(tracksOf: query) } catch { throw .badRequest(error.logReason) }
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

    /// The tracks manifests list: those `filter=` matches (none is a 404), and of video those
    /// within `max_bitrate=` (the lowest when none is).
    func selecting(_ tracks: [LivePresentation.Track]) throws(EngineError) -> [LivePresentation.Track] {
        var result = tracks
        if let filter = selection.filter {
            result = result.filter { filter.matches(Self.attributes(of: $0)) }
            guard !result.isEmpty else { throw .notFound("filter \(Sanitized.text(filter.description)) selects no live track") }
        }
        if let limit = selection.maxBitrate {
            let videos = result.filter { $0.kind == .video }
            let lowest = videos.min { $0.bitrate < $1.bitrate }?.token
            let fits = videos.contains { Int64($0.bitrate) <= limit }
            result = result.filter { t in t.kind != .video || (fits ? Int64(t.bitrate) <= limit : t.token == lowest) }
        }
        return result
    }

    /// A live track as `filter=` sees it; the FourCC from its codecs string (`avc1.64001f`: `avc1`, `H264`).
    static func attributes(of t: LivePresentation.Track) -> TrackAttributes {
        let entry = String(t.codecs.prefix { $0 != "." })
        let smooth = ["avc1": "H264", "avc3": "H264", "hvc1": "HVC1", "hev1": "HEV1", "mp4a": "AACL",
                      "ac-3": "AC-3", "ec-3": "EC-3"][entry]
        return TrackAttributes(type: t.kind.rawValue, systemBitrate: Int64(t.bitrate), systemLanguage: "und",
                               trackName: t.trackName, fourCC: [entry] + (smooth.map { [$0] } ?? []),
                               maxWidth: Int64(t.width), maxHeight: Int64(t.height))
    }

    /// The window these options show of `track`.
    func window(_ index: borrowing FragmentIndexReader, _ track: LivePresentation.Track) throws(LiveIngestError) -> LiveWindow {
        let scale = Int64(track.timescale)
        return try LiveWindow(index: index, dvrWindow: Int64(dvrWindowSeconds) &* scale, timeShift: Int64(timeShiftSeconds) &* scale,
                              served: Int64(servedWindowSeconds) &* scale)
    }
}
