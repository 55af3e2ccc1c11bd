import ByteIO
import HLS
import ISOBMFF
import MPEGTS
import MediaModel
import Smooth
import Subtitles

extension MediaBytes {
    /// All cues of a text track (`wvtt`, `stpp`, `tx3g`), its samples read from memory or, after
    /// the table is checked against the limits, through storage in one prefetch.
    func cues(of t: Track) throws -> [Cue] {
        try TextSamples.checkBounds(t)
        var reads = t.inlineData == nil ? try prefetch([(t, 0..<t.samples.count)]) : Reads()
        return try TextSamples.cues(of: t) { i in
            if let bytes = t.inlineSample(i) { return Array(bytes) }
            return try read(t.dataSource, at: t.samples.offsets[i], count: Int(t.samples.sizes[i]), reads: &reads)
        }
    }
}

/// Responses built from cue text: HLS WebVTT segments and Smooth TTML fragments. Both read a text
/// track's cues through ``Subtitles/TextSamples`` (any of `wvtt`, `stpp`, `tx3g`, from memory or
/// storage), cached with the presentation.
extension AnswerContext {
    /// All cues of a text track, read once per presentation version.
    func cues(of track: PresentationTrack) throws -> [Cue] {
        if let cached = view.textCues.value(for: track.token) { return cached }
        let cues = try media.cues(of: track.track)
        view.textCues.insert(cues, for: track.token, cost: PresentationLoader.cost(cues))
        return cues
    }

    /// WebVTT segment `index` of a text track: the cues overlapping the segment's window, with an
    /// `X-TIMESTAMP-MAP` onto the timeline of the container the media segments use.
    func webVTTSegment(_ track: PresentationTrack, index: Int, writer: HLSPlaylistWriter) throws -> EngineResponse {
        let windows = writer.segmentWindows
        guard index >= 0, index < windows.count else {
            throw EngineError.notFound("WebVTT segment \(index + 1) does not exist")
        }
        let ts = writer.segmentation.timescale
        let start = MediaTime.rescale(windows[index].start, from: ts, to: 1000)
        // The last segment takes every remaining cue.
        let end = index + 1 == windows.count ? Int64.max : MediaTime.rescale(windows[index].end, from: ts, to: 1000)
        let text = WebVTTWriter.segment(cues: try cues(of: track), start: start, end: end,
                                        mpegts: Self.timestampMapOrigin(presentation, container: options.hlsContainer))
        return EngineResponse(status: 200, contentType: "text/vtt", etag: nil, lastModified: 0, logReason: nil,
                              body: [.bytes(Array(text.utf8))])
    }

    /// The 90 kHz timestamp that presentation time zero has in the media segments: TS segments
    /// add ``TransportStreamWriter/timestampOffset``; fMP4 segments run on media time, which is
    /// presentation time plus the reference track's ``FragmentTiming/mediaTimeOffset``.
    static func timestampMapOrigin(_ presentation: Presentation, container: HLSLayout.Container) -> Int64 {
        switch container {
        case .transportStream:
            return TransportStreamWriter.timestampOffset
        case .fragmentedMP4:
            let media = presentation.tracks.map(\.track).filter { $0.kind != .text && !$0.samples.isEmpty }
            guard let reference = media.first(where: { $0.kind == .video }) ?? media.first else { return 0 }
            return MediaTime.rescale(FragmentTiming(track: reference).mediaTimeOffset, from: reference.timescale, to: 90_000)
        }
    }

    /// A Smooth text fragment: one sample holding a TTML document with the cues overlapping the
    /// fragment, timed on the Smooth timeline (presentation time plus the presentation's offset).
    func smoothTextFragment(_ track: PresentationTrack, ranges: [Range<Int>], index: Int, offset: Int64) throws -> EngineResponse {
        let t = track.track
        let range = ranges[index]
        let timeline = RescaledTimeline(timescale: SmoothTimeline.timescale, offset: offset)
        let start = timeline.start(of: range.lowerBound, in: t)
        let end = timeline.start(of: range.upperBound, in: t)
        let perMillisecond = Int64(SmoothTimeline.timescale / 1000)
        let offsetMs = offset / perMillisecond
        let cues = WebVTTWriter.overlapping(try cues(of: track),
                                            start: (start &- offset) / perMillisecond, end: (end &- offset) / perMillisecond)
        let document = TTMLWriter.document(cues: cues, language: Language.tag(track.language), offset: offsetMs)
        // One sample spanning the fragment, on the text track's own timing.
        var duration: Int64 = 0
        for i in range { duration &+= Int64(t.samples.durations[i]) }
        let table = SampleTable(decodeTimes: [t.samples.decodeTimes[range.lowerBound]], durations: [UInt32(clamping: duration)],
                                sizes: [UInt32(clamping: document.count)], offsets: [0])
        var sample = Track(trackID: t.trackID, kind: .text, timescale: t.timescale, language: t.language,
                           sampleEntryType: "stpp", sampleEntry: [], codec: .other, samples: table,
                           presentationOffset: t.presentationOffset, dataSource: "memory:ttml")
        sample.inlineData = document
        let pieces = try FragmentWriter.mediaSegment(track: sample, samples: 0..<1, sequenceNumber: UInt32(clamping: index + 1),
                                                     options: .smooth(offset: offset))
        return EngineResponse(status: 200, contentType: "application/mp4", etag: nil, lastModified: 0, logReason: nil,
                              body: pieces)
    }
}
