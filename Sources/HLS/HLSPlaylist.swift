import MediaModel
import PlayerURL

/// Writes HLS master, media and I-frame playlists (RFC 8216) from the media model.
///
/// `EXT-X-VERSION` (RFC 8216 §7): a media playlist declares the lowest version its own tags need
/// (1 with integer `EXTINF`, 3 with decimal `EXTINF`, 6 with `EXT-X-MAP`); an I-frame playlist 4
/// (`EXT-X-I-FRAMES-ONLY`), or 5 with `EXT-X-MAP`; the master, whose own tags need no version,
/// declares the highest version among the playlists it lists, so a client learns from the master
/// alone whether it can play the presentation.
public struct HLSPlaylistWriter: Sendable {
    public let presentation: Presentation
    public let segmentation: Segmentation
    public let layout: HLSLayout
    public let urls: ChildURL
    /// Per-track segment statistics computed ahead (by token); missing ones are computed here.
    public let stats: [String: SegmentStats]
    /// How segments are encrypted: one `EXT-X-KEY` each (the same content key, as each system
    /// names it), none when they are clear.
    public let keys: [HLSSegmentKey]

    public init(presentation: Presentation, segmentation: Segmentation, container: HLSLayout.Container,
                options: HLSOptions = HLSOptions(), urls: ChildURL, stats: [String: SegmentStats] = [:],
                keys: [HLSSegmentKey] = []) {
        self.presentation = presentation
        self.segmentation = segmentation
        self.layout = HLSLayout(presentation: presentation, container: container, options: options)
        self.urls = urls
        self.stats = stats
        self.keys = keys
    }

    private func stats(_ t: PresentationTrack) -> SegmentStats {
        stats[t.token] ?? SegmentStats(track: t.track, segmentation: segmentation)
    }

    // MARK: - Versions

    /// Media playlists: `EXT-X-MAP` needs 6, decimal `EXTINF` 3, an `IV` attribute 2, integer
    /// `EXTINF` 1.
    public var mediaVersion: Int {
        let base = layout.container == .fragmentedMP4 ? 6 : layout.version >= 3 ? 3 : keys.isEmpty ? 1 : 2
        return max(base, keyVersion)
    }

    /// I-frame playlists: `EXT-X-I-FRAMES-ONLY` needs 4; with `EXT-X-MAP` 5.
    public var iFrameVersion: Int { max(layout.container == .fragmentedMP4 ? 5 : 4, keyVersion) }

    /// What the keys' attributes need (`SAMPLE-AES` and `KEYFORMAT`: 5).
    private var keyVersion: Int { keys.map(\.minimumVersion).max() ?? 1 }

    /// The master: the highest version of the playlists it lists.
    public var masterVersion: Int {
        layout.iFrameTracks.isEmpty ? mediaVersion : max(mediaVersion, iFrameVersion)
    }

    // MARK: - Master playlist

    public func master() -> String {
        var out = "#EXTM3U\n#EXT-X-VERSION:\(masterVersion)\n#EXT-X-INDEPENDENT-SEGMENTS\n## Created with Origo\n"
        // The keys of the media playlists, so players can fetch them (or start a DRM session) early.
        for key in keys { out += key.line(tag: "#EXT-X-SESSION-KEY") }
        var groupBandwidth: [String: (peak: Int, average: Int)] = [:]
        for group in layout.audioGroups {
            groupBandwidth[group.id] = appendAudioGroup(group, to: &out)
        }
        out += subtitleMediaLines()
        let subtitles = subtitleAttribute
        for variant in layout.variants {
            appendVariant(variant, groupBandwidth: variant.audioGroup.flatMap { groupBandwidth[$0.id] }, subtitles: subtitles, to: &out)
        }
        for variant in layout.audioOnlyVariants {
            appendVariant(variant, groupBandwidth: nil, subtitles: subtitles, to: &out)
        }
        for video in layout.iFrameTracks {
            appendIFrameStream(video, to: &out)
        }
        return out
    }

    /// `EXT-X-MEDIA` lines of one audio group; returns the group's largest peak and average bitrates.
    private func appendAudioGroup(_ group: HLSLayout.AudioGroup, to out: inout String) -> (peak: Int, average: Int) {
        var peak = 0, average = 0
        for (i, audio) in group.tracks.enumerated() {
            let stats = stats(audio)
            peak = max(peak, containerBitrate(stats.peakBitrate, track: audio.track))
            average = max(average, containerBitrate(stats.averageBitrate, track: audio.track))
            out += "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"\(group.id)\""
            if !Language.isUndetermined(audio.language) {
                out += ",LANGUAGE=\"\(Language.tag(audio.language))\",NAME=\"\(Self.quoted(Language.displayName(audio.language)))\""
            } else {
                out += ",NAME=\"\(Self.quoted(audio.name))\""
            }
            out += ",DEFAULT=\(i == 0 ? "YES" : "NO"),AUTOSELECT=YES"
            if audio.track.channels > 0 { out += ",CHANNELS=\"\(audio.track.channels)\"" }
            out += ",URI=\"\(urls.hlsMediaPlaylist(tokens: [audio.token]))\"\n"
        }
        return (peak, average)
    }

    /// One `EXT-X-STREAM-INF` and its URI (a video variant, or an audio-only one).
    private func appendVariant(_ variant: HLSLayout.Variant, groupBandwidth: (peak: Int, average: Int)?,
                               subtitles: String, to out: inout String) {
        var (peak, average) = bandwidth(of: variant.tracks)
        if let g = groupBandwidth {
            // Each rate is at most Bitrate.maximum (2^53): these sums cannot overflow.
            peak = min(peak + g.peak, Bitrate.maximum)
            average = min(average + g.average, Bitrate.maximum)
        }
        var codecs = variant.tracks.map(\.track.codecsString)
        if let group = variant.audioGroup {
            for c in group.tracks.map(\.track.codecsString) where !codecs.contains(c) { codecs.append(c) }
        }
        out += "#EXT-X-STREAM-INF:BANDWIDTH=\(max(peak, 1)),AVERAGE-BANDWIDTH=\(max(average, 1))"
        out += ",CODECS=\"\(codecs.joined(separator: ","))\""
        if let video = variant.tracks.first(where: { $0.kind == .video })?.track {
            out += resolutionAttribute(video)
            if let rate = video.frameRate {
                out += ",FRAME-RATE=" + MediaTime.decimal(rate.numerator, timescale: UInt32(clamping: rate.denominator), digits: 3)
            }
        }
        if let group = variant.audioGroup { out += ",AUDIO=\"\(group.id)\"" }
        out += subtitles
        out += "\n" + urls.hlsMediaPlaylist(tokens: variant.tracks.map(\.token)) + "\n"
    }

    /// One `EXT-X-I-FRAME-STREAM-INF` line for a video track.
    private func appendIFrameStream(_ video: PresentationTrack, to out: inout String) {
        let keyFrames = keyFrames(video)
        out += "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=\(max(iFrameBandwidth(video, keyFrames), 1))"
        out += ",CODECS=\"\(video.track.codecsString)\"" + resolutionAttribute(video.track)
        out += ",URI=\"\(urls.hlsIFramePlaylist(token: video.token))\"\n"
    }

    private func resolutionAttribute(_ video: Track) -> String {
        video.width > 0 && video.height > 0 ? ",RESOLUTION=\(video.width)x\(video.height)" : ""
    }

    /// Peak and average bitrate of a media playlist of `tracks` (muxed in TS when several).
    private func bandwidth(of tracks: [PresentationTrack]) -> (peak: Int, average: Int) {
        var peak = 0, average = 0
        var trackStats: [SegmentStats] = []
        for t in tracks {
            let s = stats(t)
            trackStats.append(s)
            average = min(average + containerBitrate(s.averageBitrate, track: t.track), Bitrate.maximum)
        }
        // Peak of the muxed segments: per segment, all tracks' bits over the longest duration.
        for k in 0..<segmentation.count {
            var bits = 0.0, seconds = 0.0
            for (s, t) in zip(trackStats, tracks) where k < s.count {
                bits += Double(s.bytes[k]) * 8 * overheadFactor(t.track)
                seconds = max(seconds, MediaTime.seconds(s.durations[k], timescale: s.timescale))
            }
            if seconds > 0 { peak = max(peak, Bitrate.clamped(bits / seconds, rule: .up)) }
        }
        return (peak, average)
    }

    // MARK: - Media playlists

    /// The media playlist for `tracks` (one track, or audio+video muxed in TS). The segment list
    /// follows the first video track when there is one, else the first track.
    public func media(tracks: [PresentationTrack]) -> String {
        guard let timing = tracks.first(where: { $0.kind == .video }) ?? tracks.first else { return "" }
        let stats = stats(timing)
        let tokens = tracks.map(\.token)
        var out = header(version: mediaVersion, durations: stats.durations, timescale: stats.timescale)
        // Empty segments are left out, so positions stop matching URL numbers (the default IVs):
        // then every segment states its IV.
        let keyPerSegment = keys.contains { $0.iv == nil && $0.ivFromPlaylist } && stats.ranges.contains(where: \.isEmpty)
        if !keyPerSegment { for key in keys { out += key.line() } }
        if layout.container == .fragmentedMP4 {
            out += "#EXT-X-MAP:URI=\"\(urls.hlsInit(token: tokens[0]))\"\n"
        }
        out.reserveCapacity(out.utf8.count + stats.count * (keyPerSegment ? 160 : 64))
        for k in 0..<stats.count where !stats.ranges[k].isEmpty {
            if keyPerSegment { for key in keys { out += key.line(segment: k + 1) } }
            out += extinf(stats.durations[k], timescale: stats.timescale, integer: mediaVersion < 3)
            out += layout.container == .fragmentedMP4
                ? urls.hlsFMP4Segment(token: tokens[0], number: k + 1)
                : urls.hlsTSSegment(tokens: tokens, number: k + 1)
            out += "\n"
        }
        out += "#EXT-X-ENDLIST\n"
        return out
    }

    /// The I-frame playlist of a video track (served under `keyframes/`): one segment per key frame,
    /// each holding that frame alone (`<base>-<token>-<N>.ts`/`.m4s`, relative to `keyframes/`), its
    /// `EXTINF` the time to the next key frame.
    public func iFrames(track: PresentationTrack) -> String {
        let keyFrames = keyFrames(track)
        var out = header(version: iFrameVersion, durations: keyFrames.durations, timescale: keyFrames.timescale,
                         extra: "#EXT-X-I-FRAMES-ONLY\n")
        for key in keys { out += key.line() }
        if layout.container == .fragmentedMP4 {
            out += "#EXT-X-MAP:URI=\"\(urls.hlsInit(token: track.token))\"\n"
        }
        out.reserveCapacity(out.utf8.count + keyFrames.count * 64)
        for k in 0..<keyFrames.count {
            out += extinf(keyFrames.durations[k], timescale: keyFrames.timescale, integer: false)
            out += layout.container == .fragmentedMP4
                ? urls.hlsFMP4Segment(token: track.token, number: k + 1)
                : urls.hlsTSSegment(tokens: [track.token], number: k + 1)
            out += "\n"
        }
        out += "#EXT-X-ENDLIST\n"
        return out
    }

    /// The key frames an I-frame playlist of `track` lists.
    public func keyFrames(_ track: PresentationTrack) -> KeyFrames {
        KeyFrames(track: track.track, ranges: stats(track).ranges)
    }

    /// The media playlist header up to the first segment.
    private func header(version: Int, durations: [Int64], timescale: UInt32, extra: String = "") -> String {
        var target: Int64 = 1
        for d in durations {
            // Rounded to nearest, as RFC 8216 §4.3.3.1 compares it.
            target = max(target, (d &* 2 &+ Int64(timescale)) / max(Int64(timescale) * 2, 1))
        }
        var out = "#EXTM3U\n#EXT-X-VERSION:\(version)\n#EXT-X-TARGETDURATION:\(target)\n"
        out += "#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-PLAYLIST-TYPE:VOD\n" + extra + "#EXT-X-INDEPENDENT-SEGMENTS\n"
        return out
    }

    /// `#EXTINF:<duration>,` with three decimals, or rounded to whole seconds (below version 3).
    private func extinf(_ duration: Int64, timescale: UInt32, integer: Bool) -> String {
        guard integer else {
            return "#EXTINF:" + MediaTime.decimal(duration, timescale: timescale, digits: 3) + ",\n"
        }
        let ts = max(Int64(timescale), 1)
        return "#EXTINF:\((duration &* 2 &+ ts) / (ts * 2)),\n"
    }

    // MARK: - Bitrates

    /// The peak bitrate of the I-frame segments: one key frame each, plus container headers
    /// (an upper estimate: PAT, PMT, PES header, access unit delimiter and parameter sets in TS,
    /// `moof` in fMP4).
    private func iFrameBandwidth(_ video: PresentationTrack, _ keyFrames: KeyFrames) -> Int {
        let table = video.track.samples
        let headerBytes = layout.container == .transportStream ? 2 * 188 + 512 : 256
        var peak = 0.0
        for k in 0..<keyFrames.count where keyFrames.durations[k] > 0 {
            let i = keyFrames.samples[k]
            guard i >= 0, i < table.count else { continue }
            let bytes = Double(table.sizes[i]) * overheadFactor(video.track) + Double(headerBytes)
            peak = max(peak, bytes * 8 / MediaTime.seconds(keyFrames.durations[k], timescale: keyFrames.timescale))
        }
        return Bitrate.clamped(peak, rule: .up)
    }

    /// Bitrate as carried in the container: TS adds packet and PES headers, fMP4 a few moof bytes.
    private func containerBitrate(_ bitrate: Int, track: Track) -> Int {
        Bitrate.clamped(Double(bitrate) * overheadFactor(track), rule: .up)
    }

    private func overheadFactor(_ track: Track) -> Double {
        switch layout.container {
        // 188/184 packet headers plus PES/ADTS headers and the last packet's stuffing per access unit.
        case .transportStream: track.kind == .audio ? 1.09 : 1.05
        case .fragmentedMP4: 1.01
        }
    }

    /// `s` fit for a quoted attribute value: without quotes and line ends.
    static func quoted(_ s: String) -> String { s.filter { $0 != "\"" && $0 != "\n" && $0 != "\r" } }
}
