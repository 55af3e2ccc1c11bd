import ByteIO
import MediaModel
import PlayerURL

extension Presentation {
    /// The presentation a request with `selection` sees. Every format (HLS TS and fMP4, DASH,
    /// Smooth, HDS) calls this through ``LoadedPresentation/view(for:)``, so manifests and segments
    /// of one selection always describe the same tracks and samples. In order:
    ///
    /// 1. `filter=`: tracks whose attributes (``attributes(of:)``) do not match are dropped; a filter
    ///    that keeps nothing is a `404`.
    /// 2. `max_bitrate=`: video tracks above the limit are dropped; when none fits, the lowest
    ///    video track is kept (a presentation with video never loses all of it). Audio and text
    ///    are left alone: the option limits the video ladder, and dropping an audio track would
    ///    drop a language.
    /// 3. The subclip: ``Presentation/clipped(to:)`` (GOP-rounded, rebased to 0); a begin at or
    ///    after the end is a `404`. Cue-built TTML tracks are then rebuilt on the clip's timeline
    ///    (``PresentationLoader/rebuildingTTMLTracks(_:)``).
    func selecting(_ selection: Selection) throws -> Presentation {
        var result = self
        if let filter = selection.filter {
            result.tracks = result.tracks.filter { filter.matches(Self.attributes(of: $0)) }
            guard !result.tracks.isEmpty else {
                throw EngineError.notFound("filter \(Sanitized.text(filter.description)) selects no track")
            }
        }
        if let limit = selection.maxBitrate {
            let videos = result.tracks.filter { $0.kind == .video }
            if !videos.isEmpty {
                let fitting = videos.filter { Int64($0.bitrate) <= limit }
                let lowest = videos.min { $0.bitrate < $1.bitrate }?.token
                result.tracks = result.tracks.filter { t in
                    guard t.kind == .video else { return true }
                    return fitting.isEmpty ? t.token == lowest : Int64(t.bitrate) <= limit
                }
            }
        }
        if let clip = selection.subclip {
            let range = ClipRange(begin: clip.begin, end: clip.end, timescale: 1_000_000_000)
            guard let clipped = result.clipped(to: range) else {
                throw EngineError.notFound("subclip \(clip.begin.map(Subclip.format) ?? "0")-\(clip.end.map(Subclip.format) ?? "end")"
                    + " starts at or after the end of the presentation")
            }
            result = try PresentationLoader.rebuildingTTMLTracks(clipped)
        }
        return result
    }

    /// What `filter=` sees of a track.
    static func attributes(of t: PresentationTrack) -> TrackAttributes {
        let type = switch t.kind {
        case .video: "video"
        case .audio: "audio"
        case .text: "textstream"
        }
        var fourCC = [t.track.sampleEntryType]
        if let name = t.track.fourCC { fourCC.insert(name, at: 0) }
        return TrackAttributes(type: type, systemBitrate: Int64(t.bitrate), systemLanguage: t.language,
                               trackName: t.name, fourCC: fourCC,
                               maxWidth: Int64(t.track.width), maxHeight: Int64(t.track.height))
    }
}
