import ByteIO
import MediaModel
import Storage
import Subtitles

/// Text tracks of MP4/CMAF files (`<textstream src="x.mp4">`, or an MP4 requested directly) are
/// cut like sidecar text: at load, the cues of every text track ``TextSamples`` can read (`wvtt`,
/// `stpp`, `tx3g`) are read once through the same storage as media and the track is replaced by
/// an in-memory ``CueTrack`` whose samples break at the reference track's key frames. DASH
/// segments, the MPD timeline and subclips then need no special case.
///
/// - `stpp` stays TTML (`stpp.ttml.im1t`, one document per sample), which is what a DASH client
///   that chose a TTML representation expects.
/// - `wvtt` stays WebVTT.
/// - `tx3g` becomes `wvtt`: the cues are already WebVTT payloads, and DASH players read `wvtt`
///   but not 3GPP timed text. The codec string and sample entry follow the new samples.
///
/// The cues are cached per version of the file holding the samples (in the sidecar cache, under
/// a key naming the track), and that file is among the presentation's sources, so a replaced
/// MP4 changes the presentation's identity like before.
extension PresentationLoader {
    /// `tracks` with every readable MP4 text track replaced by its cue-built track.
    func cutMP4TextTracks(_ tracks: [PresentationTrack], sources: [FileIdentity],
                          _ context: LoadContext) -> [PresentationTrack] {
        guard tracks.contains(where: Self.isMP4Text) else { return tracks }
        let media = tracks.map(\.track)
        return tracks.map { t in
            guard Self.isMP4Text(t) else { return t }
            // A text track that cannot be read or is too large stays as it is: its own requests
            // fail (as they did before it was cut), the presentation's audio and video do not.
            guard let cues = try? mp4TextCues(t.track, sources: sources, context),
                  let track = try? Self.cueTrack(Self.cueFormat(of: t.track, language: t.language), cues: cues,
                                                 trackID: t.track.trackID, language: t.language,
                                                 name: t.track.dataSource, tracks: media) else { return t }
            var out = t
            out.track = track
            return out
        }
    }

    /// A text track read from storage whose samples can be read as cues.
    static func isMP4Text(_ t: PresentationTrack) -> Bool {
        t.track.inlineData == nil && TextSamples.isReadable(t.track)
    }

    /// `stpp` stays TTML; `wvtt` and `tx3g` become WebVTT.
    static func cueFormat(of track: Track, language: String) -> CueTrack.Format {
        track.sampleEntryType == "stpp" ? .ttml(language: Language.tag(language)) : .webVTT
    }

    /// The cues of an MP4 text track, from the cache when the file holding its samples is unchanged.
    func mp4TextCues(_ track: Track, sources: [FileIdentity], _ context: LoadContext) throws -> [Cue] {
        let file = sources.first { $0.path == track.dataSource }
        let key = file.map { Self.cueKey(track, file: $0) }
        if let key, let cached = sidecars.value(for: key) { return cached }
        let versions = file.map { [$0.path: RemoteVersion($0)] } ?? [:]
        let cues = try MediaBytes(upstream: context.upstream, versions: versions).cues(of: track)
        if let key { sidecars.insert(cues, for: key, cost: Self.cost(cues)) }
        return cues
    }

    /// The cache key of one text track's cues: the file's version, plus the track and a summary
    /// of its sample table (index files pointing at the same media may index it differently). The
    /// `#` suffix keeps it apart from sidecar paths, which end in a subtitle extension.
    static func cueKey(_ track: Track, file: FileIdentity) -> FileIdentity {
        let s = track.samples
        let first = s.isEmpty ? 0 : s.offsets[0]
        let summary = "#track=\(track.trackID)/\(track.sampleEntryType)/\(track.timescale)/\(track.presentationOffset)"
            + "/\(s.count)/\(s.totalSize)/\(s.totalDuration)/\(first)"
        return FileIdentity(path: file.path + summary, size: file.size, mtimeSeconds: file.mtimeSeconds,
                            mtimeNanoseconds: file.mtimeNanoseconds, etag: file.etag)
    }
}

extension PresentationLoader {
    /// A subclip's cue-built TTML tracks, rebuilt on the clip's timeline. Slicing a sample table
    /// rebases decode times (fragments start at 0) but cannot touch the times written inside the
    /// TTML documents, so each such track is read back into cues (clip presentation time) and
    /// built again, cut at the clip's reference key frames. `wvtt` samples carry no times and
    /// need nothing.
    static func rebuildingTTMLTracks(_ presentation: Presentation) throws -> Presentation {
        guard presentation.tracks.contains(where: isBuiltTTML) else { return presentation }
        let media = presentation.tracks.map(\.track)
        var out = presentation
        out.tracks = try presentation.tracks.map { t in
            guard isBuiltTTML(t) else { return t }
            let track = t.track
            let cues = try TextSamples.cues(of: track) { i in Array(track.inlineSample(i) ?? []) }
            let name = track.dataSource.hasPrefix("memory:") ? String(track.dataSource.dropFirst(7)) : track.dataSource
            var rebuilt = t
            rebuilt.track = try cueTrack(.ttml(language: Language.tag(t.language)), cues: cues, trackID: track.trackID,
                                         language: track.language, name: name, tracks: media)
            return rebuilt
        }
        return out
    }

    /// A TTML track built from cues (held in memory).
    static func isBuiltTTML(_ t: PresentationTrack) -> Bool {
        t.kind == .text && t.track.inlineData != nil && t.track.sampleEntryType == "stpp"
    }
}
