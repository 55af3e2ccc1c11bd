import MediaModel
import PlayerURL

/// HLS subtitles: one `EXT-X-MEDIA:TYPE=SUBTITLES` rendition per readable text track, all in
/// the group ``HLSPlaylistWriter/subtitleGroupID`` that every variant names, and per track a
/// media playlist of WebVTT segments on the same boundaries as the video segments.
extension HLSPlaylistWriter {
    /// The `GROUP-ID` of the subtitle renditions (the reference origin's name).
    public static let subtitleGroupID = "textstream"

    /// Text tracks whose samples can become WebVTT (`wvtt`, `stpp`, `tx3g`), in manifest order.
    public var subtitleTracks: [PresentationTrack] {
        presentation.tracks(of: .text).filter { ["wvtt", "stpp", "tx3g"].contains($0.track.sampleEntryType) }
    }

    /// The `EXT-X-MEDIA` lines of the subtitle group (empty without text tracks).
    public func subtitleMediaLines() -> String {
        var out = ""
        var names = Set<String>()
        for t in subtitleTracks {
            out += "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"\(Self.subtitleGroupID)\""
            var name = Language.isUndetermined(t.language) ? t.name : Language.displayName(t.language)
            // NAME must be unique within the group.
            if names.contains(name) { name += " (\(t.token))" }
            names.insert(name)
            if !Language.isUndetermined(t.language) { out += ",LANGUAGE=\"\(Self.quoted(Language.tag(t.language)))\"" }
            out += ",NAME=\"\(Self.quoted(name))\",DEFAULT=NO,AUTOSELECT=YES"
            out += ",URI=\"\(urls.hlsMediaPlaylist(tokens: [t.token]))\"\n"
        }
        return out
    }

    /// The attribute every `EXT-X-STREAM-INF` carries when there are subtitles, else empty.
    public var subtitleAttribute: String {
        subtitleTracks.isEmpty ? "" : ",SUBTITLES=\"\(Self.subtitleGroupID)\""
    }

    /// Start and end of every segment window, reference timescale (``Segmentation/timescale``).
    public var segmentWindows: [(start: Int64, end: Int64)] {
        let starts = segmentation.starts
        return starts.indices.map { k in
            (starts[k], k + 1 < starts.count ? starts[k + 1] : max(segmentation.end, starts[k]))
        }
    }

    /// The media playlist of one text track: a WebVTT segment per segment window, numbered like
    /// the media segments.
    public func subtitlePlaylist(track: PresentationTrack) -> String {
        // Durations as the video playlist states them (its segments' sample durations), so
        // players line the renditions up; the window lengths where there is no such track.
        let media = presentation.tracks.filter { $0.kind != .text }
        let reference = (media.first { $0.kind == .video } ?? media.first).flatMap { stats[$0.token] }
        var durations: [(Int64, UInt32)] = segmentWindows.map { ($0.end &- $0.start, segmentation.timescale) }
        if let reference, reference.count == durations.count {
            durations = reference.durations.map { ($0, reference.timescale) }
        }
        var target: Int64 = 1
        for (d, timescale) in durations {
            let ts = Int64(max(timescale, 1))
            target = max(target, (d &* 2 &+ ts) / (ts * 2))
        }
        var out = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:\(target)\n"
        out += "#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        // WebVTT is encrypted whole (AES-128) or not at all: SAMPLE-AES leaves subtitles clear.
        for key in keys where key.method == .aes128 { out += key.line() }
        for (k, (d, timescale)) in durations.enumerated() {
            out += "#EXTINF:" + MediaTime.decimal(d, timescale: timescale, digits: 3) + ",\n"
            out += urls.hlsWebVTTSegment(token: track.token, number: k + 1) + "\n"
        }
        out += "#EXT-X-ENDLIST\n"
        return out
    }

}
