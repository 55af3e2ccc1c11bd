import MediaModel
import PlayerURL
import XML

/// Writes a static (VOD) MPD with `SegmentTemplate` + `SegmentTimeline`, isoff-live profile,
/// one Period, one AdaptationSet per content type, codec and language.
public struct MPDWriter: Sendable {
    public enum Addressing: Sendable { case time, number }

    public let presentation: Presentation
    public let segmentation: Segmentation
    public let urls: ChildURL
    public let addressing: Addressing
    /// Per-track segment statistics computed ahead (by token); missing ones are computed here.
    public let stats: [String: SegmentStats]
    /// How each encrypted track is encrypted, by token (clear tracks have none).
    public let protection: [String: DASHProtection]

    public init(presentation: Presentation, segmentation: Segmentation, urls: ChildURL, addressing: Addressing,
                stats: [String: SegmentStats] = [:], protection: [String: DASHProtection] = [:]) {
        self.presentation = presentation
        self.segmentation = segmentation
        self.urls = urls
        self.addressing = addressing
        self.stats = stats
        self.protection = protection
    }

    /// Tracks grouped into adaptation sets: same kind, codec family (sample entry type) and language.
    public var adaptationSets: [[PresentationTrack]] {
        var sets: [[PresentationTrack]] = []
        for t in presentation.tracks {
            if let i = sets.firstIndex(where: { s in
                s[0].kind == t.kind && s[0].track.sampleEntryType == t.track.sampleEntryType && s[0].language == t.language
            }) {
                sets[i].append(t)
            } else {
                sets.append([t])
            }
        }
        // Video first, then audio, then text: the order players list them in.
        let rank: [TrackKind: Int] = [.video: 0, .audio: 1, .text: 2]
        return sets.enumerated().sorted { a, b in
            (rank[a.element[0].kind] ?? 3, a.offset) < (rank[b.element[0].kind] ?? 3, b.offset)
        }.map(\.element)
    }

    public func mpd() -> [UInt8] {
        let sets = adaptationSets
        var timelines: [String: Timeline] = [:]
        var bandwidths: [String: Int] = [:]
        var longest: (Int64, UInt32) = (0, 1)
        var maxSegment: (Int64, UInt32) = (0, 1)
        for t in presentation.tracks {
            let stats = self.stats[t.token] ?? SegmentStats(track: t.track, segmentation: segmentation)
            let timeline = Timeline(stats, presentationTimeOffset: FragmentTiming(track: t.track).mediaTimeOffset)
            timelines[t.token] = timeline
            // Peak segment bitrate plus ~1% for moof/mdat headers: enough to play without stalls.
            bandwidths[t.token] = Bitrate.clamped(Double(stats.peakBitrate) * 1.01, rule: .up)
            if timeline.endSeconds > Double(longest.0) / Double(longest.1) { longest = (timeline.end, timeline.timescale) }
            if timeline.maxDurationSeconds > Double(maxSegment.0) / Double(maxSegment.1) {
                maxSegment = (timeline.maxDuration, timeline.timescale)
            }
        }

        var w = XMLWriter()
        w.declaration()
        w.comment("Created with Origo")
        w.open("MPD", attributes: [("xmlns", "urn:mpeg:dash:schema:mpd:2011")]
            + DASHProtection.namespaces(of: Array(protection.values)) + [
            ("profiles", "urn:mpeg:dash:profile:isoff-live:2011"),
            ("type", "static"),
            ("mediaPresentationDuration", isoDuration(longest.0, longest.1)),
            ("maxSegmentDuration", isoDuration(maxSegment.0, maxSegment.1)),
            ("minBufferTime", "PT4S"),
        ])
        w.open("Period", attributes: [("id", "1"), ("start", "PT0S")])
        for (index, set) in sets.enumerated() {
            writeAdaptationSet(&w, id: index + 1, tracks: set, timelines: timelines, bandwidths: bandwidths)
        }
        w.close()
        w.close()
        return w.finish()
    }

    private func writeAdaptationSet(_ w: inout XMLWriter, id: Int, tracks: [PresentationTrack],
                                    timelines: [String: Timeline], bandwidths: [String: Int]) {
        let first = tracks[0]
        var attributes: [(String, String)] = [("id", String(id))]
        switch first.kind {
        case .video:
            attributes += [("contentType", "video"), ("mimeType", "video/mp4")]
            attributes.append(("maxWidth", String(tracks.map(\.track.width).max() ?? 0)))
            attributes.append(("maxHeight", String(tracks.map(\.track.height).max() ?? 0)))
            if let rate = first.track.frameRate { attributes.append(("maxFrameRate", rateString(rate))) }
            attributes.append(("par", aspectRatio(first.track.width, first.track.height)))
        case .audio:
            attributes += [("contentType", "audio"), ("mimeType", "audio/mp4")]
        case .text:
            attributes += [("contentType", "text"), ("mimeType", "application/mp4")]
        }
        if !Language.isUndetermined(first.language) { attributes.append(("lang", Language.tag(first.language))) }
        attributes += [("segmentAlignment", "true"), ("startWithSAP", "1")]
        w.open("AdaptationSet", attributes: attributes)
        // Protection for the whole set when its representations share it, else for each.
        let protections = tracks.map { protection[$0.token] }
        let setProtection = protections.allSatisfy({ $0 == protections[0] }) ? protections[0] : nil
        setProtection?.write(&w)
        if first.kind == .audio {
            w.empty("Role", attributes: [("schemeIdUri", "urn:mpeg:dash:role:2011"), ("value", "main")])
        } else if first.kind == .text {
            w.empty("Role", attributes: [("schemeIdUri", "urn:mpeg:dash:role:2011"), ("value", "subtitle")])
        }
        // One template for the whole set when every representation has the same timeline.
        let shared = tracks.dropFirst().allSatisfy { timelines[$0.token] == timelines[first.token] }
        if shared, let timeline = timelines[first.token] { writeTemplate(&w, timeline) }
        for t in tracks {
            var rep: [(String, String)] = [("id", t.token), ("bandwidth", String(max(bandwidths[t.token] ?? t.bitrate, 1))),
                                           ("codecs", t.track.codecsString)]
            switch t.kind {
            case .video:
                rep += [("width", String(t.track.width)), ("height", String(t.track.height))]
                if let rate = t.track.frameRate { rep.append(("frameRate", rateString(rate))) }
                rep.append(("sar", "1:1"))
            case .audio:
                if t.track.sampleRate > 0 { rep.append(("audioSamplingRate", String(t.track.sampleRate))) }
            case .text:
                break
            }
            let channels = t.kind == .audio && t.track.channels > 0
            let ownProtection = setProtection == nil ? protection[t.token] : nil
            if shared && !channels && ownProtection == nil {
                w.empty("Representation", attributes: rep)
                continue
            }
            w.open("Representation", attributes: rep)
            if channels {
                w.empty("AudioChannelConfiguration", attributes: [
                    ("schemeIdUri", "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"),
                    ("value", String(t.track.channels)),
                ])
            }
            ownProtection?.write(&w)
            if !shared, let timeline = timelines[t.token] { writeTemplate(&w, timeline) }
            w.close()
        }
        w.close()
    }

    private func writeTemplate(_ w: inout XMLWriter, _ timeline: Timeline) {
        var attributes: [(String, String)] = [("timescale", String(timeline.timescale))]
        if timeline.presentationTimeOffset != 0 {
            attributes.append(("presentationTimeOffset", String(timeline.presentationTimeOffset)))
        }
        switch addressing {
        case .time:
            attributes += [("initialization", urls.dashInitTemplate), ("media", urls.dashTimeTemplate)]
        case .number:
            attributes += [("initialization", urls.dashInitTemplate), ("media", urls.dashNumberTemplate), ("startNumber", "1")]
        }
        w.open("SegmentTemplate", attributes: attributes)
        w.open("SegmentTimeline", attributes: [])
        for run in timeline.runs {
            var s: [(String, String)] = []
            if run.explicitStart { s.append(("t", String(run.start))) }
            s.append(("d", String(run.duration)))
            if run.repeats > 0 { s.append(("r", String(run.repeats))) }
            w.empty("S", attributes: s)
        }
        w.close()
        w.close()
    }

    private func rateString(_ rate: (numerator: Int64, denominator: Int64)) -> String {
        rate.denominator == 1 ? String(rate.numerator) : "\(rate.numerator)/\(rate.denominator)"
    }

    private func aspectRatio(_ w: Int, _ h: Int) -> String {
        var (a, b) = (w, h)
        while b != 0 { (a, b) = (b, a % b) }
        return a > 0 ? "\(w / a):\(h / a)" : "16:9"
    }
}

/// ISO 8601 duration with millisecond precision rounded up, so the declared duration never
/// falls short of the timeline (`PT1M4.021S`).
func isoDuration(_ value: Int64, _ timescale: UInt32) -> String {
    let ms = (MediaTime.rescale(value, from: timescale, to: 1_000_000) + 999) / 1000
    let hours = ms / 3_600_000
    let minutes = ms / 60_000 % 60
    let seconds = ms % 60_000
    var out = "PT"
    if hours > 0 { out += "\(hours)H" }
    if minutes > 0 || hours > 0 { out += "\(minutes)M" }
    out += MediaTime.trimmedDecimal(seconds, timescale: 1000, digits: 3) + "S"
    return out
}
