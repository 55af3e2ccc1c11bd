import MediaModel
import PlayerURL

/// Writes HLS master and media playlists (RFC 8216) from the media model.
public struct HLSPlaylistWriter: Sendable {
    public let presentation: Presentation
    public let segmentation: Segmentation
    public let layout: HLSLayout
    public let urls: ChildURL
    /// Per-track segment statistics computed ahead (by token); missing ones are computed here.
    public let stats: [String: SegmentStats]

    public init(presentation: Presentation, segmentation: Segmentation, container: HLSLayout.Container, urls: ChildURL,
                stats: [String: SegmentStats] = [:]) {
        self.presentation = presentation
        self.segmentation = segmentation
        self.layout = HLSLayout(presentation: presentation, container: container)
        self.urls = urls
        self.stats = stats
    }

    private func stats(_ t: PresentationTrack) -> SegmentStats {
        stats[t.token] ?? SegmentStats(track: t.track, segmentation: segmentation)
    }

    /// `EXT-X-VERSION`: 3 for TS (decimal `EXTINF`), 7 for fMP4 (`EXT-X-MAP` in non-I-frame playlists).
    private var version: Int { layout.container == .fragmentedMP4 ? 7 : 3 }

    public func master() -> String {
        var out = "#EXTM3U\n#EXT-X-VERSION:\(version)\n#EXT-X-INDEPENDENT-SEGMENTS\n## Created with Origo\n"
        var groupBandwidth: [String: (peak: Int, average: Int)] = [:]
        for group in layout.audioGroups {
            var peak = 0, average = 0
            for (i, audio) in group.tracks.enumerated() {
                let stats = stats(audio)
                peak = max(peak, containerBitrate(stats.peakBitrate, track: audio.track))
                average = max(average, containerBitrate(stats.averageBitrate, track: audio.track))
                out += "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"\(group.id)\""
                if !Language.isUndetermined(audio.language) {
                    out += ",LANGUAGE=\"\(Language.tag(audio.language))\",NAME=\"\(quoted(Language.displayName(audio.language)))\""
                } else {
                    out += ",NAME=\"\(quoted(audio.name))\""
                }
                out += ",DEFAULT=\(i == 0 ? "YES" : "NO"),AUTOSELECT=YES"
                if audio.track.channels > 0 { out += ",CHANNELS=\"\(audio.track.channels)\"" }
                out += ",URI=\"\(urls.hlsMediaPlaylist(tokens: [audio.token]))\"\n"
            }
            groupBandwidth[group.id] = (peak, average)
        }
        out += subtitleMediaLines()
        let subtitles = subtitleAttribute
        for variant in layout.variants {
            var peak = 0, average = 0
            var variantStats: [SegmentStats] = []
            for t in variant.tracks {
                let s = stats(t)
                variantStats.append(s)
                average += containerBitrate(s.averageBitrate, track: t.track)
            }
            // Peak of the muxed segments: per segment, all tracks' bits over the longest duration.
            for k in 0..<segmentation.count {
                var bits = 0.0, seconds = 0.0
                for (s, t) in zip(variantStats, variant.tracks) {
                    bits += Double(s.bytes[k]) * 8 * overheadFactor(t.track)
                    seconds = max(seconds, MediaTime.seconds(s.durations[k], timescale: s.timescale))
                }
                if seconds > 0 { peak = max(peak, Int((bits / seconds).rounded(.up))) }
            }
            if let group = variant.audioGroup, let g = groupBandwidth[group.id] {
                peak += g.peak
                average += g.average
            }
            var codecs = variant.tracks.map(\.track.codecsString)
            if let group = variant.audioGroup {
                for c in group.tracks.map(\.track.codecsString) where !codecs.contains(c) { codecs.append(c) }
            }
            out += "#EXT-X-STREAM-INF:BANDWIDTH=\(max(peak, 1)),AVERAGE-BANDWIDTH=\(max(average, 1))"
            out += ",CODECS=\"\(codecs.joined(separator: ","))\""
            if let video = variant.tracks.first(where: { $0.kind == .video })?.track {
                if video.width > 0 && video.height > 0 { out += ",RESOLUTION=\(video.width)x\(video.height)" }
                if let rate = video.frameRate {
                    out += ",FRAME-RATE=" + MediaTime.decimal(rate.numerator, timescale: UInt32(clamping: rate.denominator), digits: 3)
                }
            }
            if let group = variant.audioGroup { out += ",AUDIO=\"\(group.id)\"" }
            out += subtitles
            out += "\n" + urls.hlsMediaPlaylist(tokens: variant.tracks.map(\.token)) + "\n"
        }
        return out
    }

    /// The media playlist for `tracks` (one track, or audio+video muxed in TS). The segment list
    /// follows the first video track when there is one, else the first track.
    public func media(tracks: [PresentationTrack]) -> String {
        guard let timing = tracks.first(where: { $0.kind == .video }) ?? tracks.first else { return "" }
        let stats = stats(timing)
        let tokens = tracks.map(\.token)
        var target: Int64 = 1
        for d in stats.durations {
            // Rounded to nearest, as RFC 8216 §4.3.3.1 compares it.
            target = max(target, (d &* 2 &+ Int64(stats.timescale)) / max(Int64(stats.timescale) * 2, 1))
        }
        var out = "#EXTM3U\n#EXT-X-VERSION:\(version)\n#EXT-X-TARGETDURATION:\(target)\n"
        out += "#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        if layout.container == .fragmentedMP4 {
            out += "#EXT-X-MAP:URI=\"\(urls.hlsInit(token: tokens[0]))\"\n"
        }
        out.reserveCapacity(out.utf8.count + stats.count * 64)
        for k in 0..<stats.count where !stats.ranges[k].isEmpty {
            out += "#EXTINF:" + MediaTime.decimal(stats.durations[k], timescale: stats.timescale, digits: 3) + ",\n"
            out += layout.container == .fragmentedMP4
                ? urls.hlsFMP4Segment(token: tokens[0], number: k + 1)
                : urls.hlsTSSegment(tokens: tokens, number: k + 1)
            out += "\n"
        }
        out += "#EXT-X-ENDLIST\n"
        return out
    }

    /// Bitrate as carried in the container: TS adds packet and PES headers, fMP4 a few moof bytes.
    private func containerBitrate(_ bitrate: Int, track: Track) -> Int {
        Int((Double(bitrate) * overheadFactor(track)).rounded(.up))
    }

    private func overheadFactor(_ track: Track) -> Double {
        switch layout.container {
        // 188/184 packet headers plus PES/ADTS headers and the last packet's stuffing per access unit.
        case .transportStream: track.kind == .audio ? 1.09 : 1.05
        case .fragmentedMP4: 1.01
        }
    }

    private func quoted(_ s: String) -> String { s.filter { $0 != "\"" && $0 != "\n" && $0 != "\r" } }
}
