import Live
import XML

/// Dynamic DASH from a publishing point's store (issue #17): one Period, a SegmentTimeline per
/// Representation from its DVR window, `$Time$` segments (the stored fragments, as live HLS
/// serves them), timed against the encoder's timeline as the store received it. With
/// `mpd.segment_template=number`: `$Number$` and `@duration`, no timeline, segment N = store
/// fragment N-1, for players that derive the live edge from the clock alone (Video.js 7 / VHS 1.x
/// never follows a refreshed timeline: docs/LIVE.md).
enum LiveDASH {
    static let mpdType = "application/dash+xml"

    struct Timeline {
        var track: LivePresentation.Track
        var window: LiveWindow
        /// Added to stored times (`LiveAnswer.decodeOffset`); the presentationTimeOffset.
        var offset: Int64 = 0
        /// The store's first fragment (segment 1 of a `$Number$` template).
        var first: FragmentRecord?
        var periods = LivePeriods(before: 0, inside: [])
        /// Stored times of the fragments that start periods 1, 2, … (`periodStarts`).
        var periodStarts: [Int64] = []
    }

    /// The stored time of each fragment that starts a period, oldest first: Period starts stay put
    /// while the window slides.
    static func periodStarts(track: LivePresentation.Track, index: borrowing FragmentIndexReader) throws -> [Int64] {
        var starts: [Int64] = []
        for mark in try PeriodMarks.read(periodsPath: track.periodsPath, index: index) {
            starts.append(try index.record(at: mark).time)
        }
        return starts
    }

    /// The MPD at `nowMillis` (wall clock, ms since the epoch). `anchor` is the store's first
    /// fragment of the lead track: its ingest time minus its end gives availabilityStartTime, the
    /// wall time of media time zero, which stays put while the channel runs.
    static func mpd(_ live: LivePresentation, _ timelines: [Timeline], anchor: (record: FragmentRecord, timescale: UInt32)?,
                    base: String, nowMillis: UInt64, windowSeconds: Int? = nil, numbered: Bool = false,
                    timeShiftSeconds: Int = 0) -> [UInt8] {
        var w = XMLWriter()
        w.declaration()
        // $Number$: one segment duration for every Representation (numbers meet at the same wall
        // times), the lead track's typical fragment, in the coarsest timescale that holds it in ms.
        let slot = numberSlot(timelines)
        let start: Int64
        if let anchor {
            let scale = Int64(max(anchor.timescale, 1))
            if numbered {
                // The wall time segment 1 began: it ends when its fragment was stored. A quarter of
                // a fragment later still, so that the clock never lists a fragment not yet stored
                // when the encoder is a little late; plus the time shift the player is not told about.
                let duration = slot.duration &* 1000 / slot.timescale
                start = Int64(clamping: anchor.record.ingestMillis) &- duration &+ duration / 4 &+ Int64(timeShiftSeconds) &* 1000
            } else {
                start = Int64(clamping: anchor.record.ingestMillis) &- anchor.record.end &* 1000 / scale
            }
        } else {
            start = Int64(clamping: nowMillis)
        }
        let longest = timelines.compactMap { t in
            t.window.fragments.map { Int64(clamping: $0.duration) &* 1000 / Int64(max(t.track.timescale, 1)) }.max()
        }.max() ?? 2000
        w.open("MPD", attributes: [
            ("xmlns", "urn:mpeg:dash:schema:mpd:2011"),
            ("profiles", "urn:mpeg:dash:profile:isoff-live:2011"),
            ("type", "dynamic"),
            ("availabilityStartTime", LiveAnswer.iso8601(millis: start)),
            ("publishTime", LiveAnswer.iso8601(millis: Int64(clamping: nowMillis))),
            // A $Number$ MPD only changes when the tracks do: refreshing it often only races the
            // clock-derived segment lists in VHS 1.x (a refresh replaces the playlists a loader holds).
            ("minimumUpdatePeriod", duration(numbered ? max(longest, 30_000) : longest)),
            ("timeShiftBufferDepth", duration(timeShiftBufferDepth(windowSeconds ?? live.dvrWindowSeconds, numbered: numbered,
                                                                   slotMillis: slot.duration &* 1000 / slot.timescale))),
            ("maxSegmentDuration", duration(longest)),
            ("minBufferTime", duration(2 * longest)),
            ("suggestedPresentationDelay", duration(3 * longest)),
        ])
        // Periods (one unless an encoder reconnected with restart_on_encoder_reconnect), numbered
        // from the store's start, each starting where the lead timeline's period starts.
        let split = timelines.map { $0.periods.split($0.window) }
        let numbers = Set(split.flatMap { $0.map(\.number) }).sorted()
        let lead = timelines.first { $0.track.kind == .video } ?? timelines.first
        for number in numbers {
            var startMillis: Int64 = 0
            if number > 0, let lead, number - 1 < lead.periodStarts.count {
                startMillis = lead.periodStarts[number - 1] &* 1000 / Int64(max(lead.track.timescale, 1))
            }
            w.open("Period", attributes: [("id", String(number + 1)), ("start", duration(startMillis))])
            for (id, kind) in [(1, "video"), (2, "audio")] {
                let members = timelines.indices.compactMap { i -> (Timeline, ArraySlice<FragmentRecord>)? in
                    guard timelines[i].track.kind.rawValue == kind,
                          let part = split[i].first(where: { $0.number == number }) else { return nil }
                    return (timelines[i], part.fragments)
                }
                guard !members.isEmpty else { continue }
                w.open("AdaptationSet", attributes: [("id", String(id)), ("contentType", kind), ("mimeType", "\(kind)/mp4"),
                                                     ("segmentAlignment", "true"), ("startWithSAP", "1")])
                for (t, fragments) in members {
                    var attributes = [("id", t.track.token), ("bandwidth", String(t.track.bitrate))]
                    if !t.track.codecs.isEmpty { attributes.append(("codecs", t.track.codecs)) }
                    if t.track.width > 0, t.track.height > 0 {
                        attributes += [("width", String(t.track.width)), ("height", String(t.track.height))]
                    }
                    w.open("Representation", attributes: attributes)
                    var template = [
                        ("timescale", String(numbered ? slot.timescale : Int64(t.track.timescale))),
                        ("initialization", "\(base)-$RepresentationID$.dash"),
                        ("media", numbered ? "\(base)-$RepresentationID$-n$Number$.dash" : "\(base)-$RepresentationID$-$Time$.dash"),
                    ]
                    if numbered {
                        // Segment 1 is the store's first fragment: media time (N-1) * duration from its start.
                        template += [("duration", String(slot.duration)), ("startNumber", "1")]
                        let pto = ((t.first?.time ?? 0) &+ t.offset) &* slot.timescale / Int64(max(t.track.timescale, 1))
                        if pto > 0 { template.append(("presentationTimeOffset", String(pto))) }
                        w.empty("SegmentTemplate", attributes: template)
                    } else {
                        // Media time at the Period's start: its start in this track's timescale, plus the offset.
                        let pto = startMillis &* Int64(t.track.timescale) / 1000 &+ t.offset
                        if pto > 0 { template.append(("presentationTimeOffset", String(pto))) }
                        w.open("SegmentTemplate", attributes: template)
                        w.open("SegmentTimeline")
                        writeTimeline(&w, Array(fragments), offset: t.offset)
                        w.close()
                        w.close()
                    }
                    w.close()
                }
                w.close()
            }
            w.close()
        }
        // The clock players align to, inline: no separate time endpoint to ask.
        w.empty("UTCTiming", attributes: [("schemeIdUri", "urn:mpeg:dash:utc:direct:2014"),
                                          ("value", LiveAnswer.iso8601(millis: Int64(clamping: nowMillis)))])
        w.close()
        return w.finish()
    }

    /// The DVR window in ms; for `$Number$` half a segment less. Players that list segments from
    /// the clock then see the oldest one leave half a segment apart from the newest one arriving,
    /// and VHS 1.x needs that: its audio and video loaders re-read the one MPD, and only the loader
    /// that notices a change first gets the new list, so with both changes at the same instant the
    /// audio loader (the second) never did and stalled at its first list.
    static func timeShiftBufferDepth(_ windowSeconds: Int, numbered: Bool, slotMillis: Int64) -> Int64 {
        let window = Int64(windowSeconds) &* 1000
        return numbered && window > slotMillis ? window &- slotMillis / 2 : window
    }

    /// The `$Number$` segment duration as (timescale, duration): 2 s is (1, 2), 1.92 s (25, 48).
    /// Small numbers matter: VHS 1.x re-reads an unchanged live playlist after `@duration` / 2 seconds,
    /// reading `@duration` without its timescale.
    static func numberSlot(_ timelines: [Timeline]) -> (timescale: Int64, duration: Int64) {
        let lead = timelines.first { $0.track.kind == .video } ?? timelines.first
        let scale = Int64(max(lead?.track.timescale ?? 1, 1))
        let millis = max(1, Int64(clamping: lead?.window.nominalDuration ?? 0) &* 1000 / scale)
        var a = millis, b: Int64 = 1000
        while b != 0 { (a, b) = (b, a % b) }
        return (1000 / a, millis / a)
    }

    /// `<S t= d= r=>` runs of the fragments' times moved by `offset`; a fragment that does not follow
    /// the one before (a gap) gets its own `t`.
    static func writeTimeline(_ w: inout XMLWriter, _ fragments: [FragmentRecord], offset: Int64 = 0) {
        var runs: [(t: Int64, d: UInt64, r: Int, explicit: Bool)] = []
        var expected: Int64?
        for f in fragments {
            let t = f.time &+ offset
            let d = f.duration
            if let last = runs.last, t == expected, last.d == d {
                runs[runs.count - 1].r += 1
            } else {
                runs.append((t, d, 0, t != expected))
            }
            expected = f.end &+ offset
        }
        for run in runs {
            var attributes: [(String, String)] = []
            if run.explicit { attributes.append(("t", String(run.t))) }
            attributes.append(("d", String(run.d)))
            if run.r > 0 { attributes.append(("r", String(run.r))) }
            w.empty("S", attributes: attributes)
        }
    }

    /// `PT2.5S` for 2500 ms.
    static func duration(_ millis: Int64) -> String {
        let ms = max(millis, 0)
        return ms % 1000 == 0 ? "PT\(ms / 1000)S" : "PT\(ms / 1000).\(String(ms % 1000 + 1000).dropFirst())S"
    }
}
