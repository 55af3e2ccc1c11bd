import ByteIO
import MediaModel
import PlayerURL
import Storage
import Subtitles

/// Sidecar subtitle files (`<textstream src="x.vtt">`, `.srt`, `.ttml`/`.dfxp`) in a presentation.
///
/// A sidecar's cues are read through the same storage as media (local `pread`, or one upstream
/// GET), cached per file version like media indexes, and listed among the presentation's sources
/// so a replaced file is noticed. Each becomes an in-memory `wvtt` track (``WebVTTTrack``) on the
/// reference track's timescale whose samples break at every sync sample of the reference track:
/// whatever segmentation a request asks for then cuts the text exactly where it cuts the video.
/// MP4 text tracks are rebuilt the same way (``cueTrack(_:cues:trackID:language:name:tracks:)``,
/// see `MP4Text.swift`).
extension PresentationLoader {
    /// At most this many reference sync samples are used as text split points.
    static let maxTextSplits = 200_000

    /// The cues of one sidecar file and the file's identity, from the cache when unchanged.
    func sidecarCues(_ locator: String, format: SidecarFormat, _ context: LoadContext) throws -> (FileIdentity, [Cue]) {
        let limits = SubtitleLimits.default
        if RemoteURL.isRemote(locator) {
            let (identity, body) = try Self.remoteWhole(locator, limit: limits.maxBytes, what: "subtitle file", context)
            if let cached = sidecars.value(for: identity) { return (identity, cached) }
            let cues = try format.parse(body, limits: limits)
            sidecars.insert(cues, for: identity, cost: Self.cost(cues))
            return (identity, cues)
        }
        let identity = try LocalFile.identity(of: locator)
        if let cached = sidecars.value(for: identity) { return (identity, cached) }
        guard identity.size <= UInt64(limits.maxBytes) else {
            throw SubtitleError(.tooLarge, "\(locator) is larger than \(limits.maxBytes) bytes")
        }
        let cues = try format.parse(try LocalFile.contents(of: identity.path, limit: limits.maxBytes), limits: limits)
        sidecars.insert(cues, for: identity, cost: Self.cost(cues))
        return (identity, cues)
    }

    static func cost(_ cues: [Cue]) -> Int {
        cues.reduce(256) { $0 + 64 + $1.text.utf8.count + $1.settings.utf8.count + $1.identifier.utf8.count }
    }

    /// The `wvtt` track of a sidecar's cues in a presentation whose other tracks are `tracks`.
    static func sidecarTrack(cues: [Cue], language: String, name: String, tracks: [Track]) throws(SubtitleError) -> Track {
        try cueTrack(.webVTT, cues: cues, trackID: 1, language: language, name: name, tracks: tracks)
    }

    /// A text track of `cues` in `format` cut like the media of `tracks`: on the reference
    /// track's timescale (the first video track, else the first track with samples; at least
    /// 1000), covering the media's duration, with samples breaking at every sync sample of the
    /// reference. Without media it covers the cues, on a 1000 timescale.
    static func cueTrack(_ format: CueTrack.Format, cues: [Cue], trackID: UInt32, language: String, name: String,
                         tracks: [Track]) throws(SubtitleError) -> Track {
        let media = tracks.filter { $0.kind != .text && !$0.samples.isEmpty && $0.timescale > 0 }
        let reference = media.first { $0.kind == .video } ?? media.first
        let timescale: UInt32 = reference.map { $0.timescale >= 1000 ? $0.timescale : 1000 } ?? 1000
        var end: Int64 = 0
        if media.isEmpty {
            end = MediaTime.rescale(cues.map(\.end).max() ?? 0, from: 1000, to: timescale)
        } else {
            for t in media { end = max(end, MediaTime.rescale(t.endTime, from: t.timescale, to: timescale)) }
        }
        var splits: [Int64] = []
        if let reference, !reference.samples.syncFlags.isEmpty {
            for i in 0..<reference.samples.count where reference.samples.isSync(i) {
                guard splits.count < maxTextSplits else { break }
                splits.append(MediaTime.rescale(reference.presentationTime(of: i), from: reference.timescale, to: timescale))
            }
        }
        return try CueTrack.track(format, cues: cues, trackID: trackID, language: language, timescale: timescale,
                                  end: end, splits: splits, name: name)
    }
}
