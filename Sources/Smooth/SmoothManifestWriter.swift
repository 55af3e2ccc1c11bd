import MediaModel
import PlayerURL
import XML

/// One `StreamIndex`: tracks of one name, kind, codec and language whose fragments start at the
/// same times, so one `<c>` list and one `Url` template serve them all.
public struct SmoothStream: Sendable {
    public var kind: TrackKind
    /// The `Name` attribute, unique in the manifest.
    public var name: String
    /// The track name in the fragment URLs (`Fragments(<trackName>=<time>)`).
    public var trackName: String
    public var language: String
    public var codec: SmoothCodec
    public var tracks: [PresentationTrack]
    public var timeline: SmoothTimeline
}

/// Writes the Smooth Streaming client manifest (MS-SSTR 2.0, `SmoothStreamingMedia` 2.0 with a
/// 10 MHz `TimeScale`): a `StreamIndex` per video and audio group, a `QualityLevel` per track and
/// a `<c t= d=>` per fragment. Text tracks become `Type="text"` streams (`Subtype="SUBT"`,
/// FourCC `TTML`) whose fragments hold one TTML document each; codecs Smooth cannot describe
/// are left out.
///
/// Chunks carry `t` on the first element and wherever a fragment does not start where the
/// previous one ended, and `d` on every element; `r` is never written because clients disagree
/// on its meaning (GStreamer's mssdemux counts it as the total number of fragments, where DASH
/// counts repeats after the first).
public struct SmoothManifestWriter: Sendable {
    public let presentation: Presentation
    public let ranges: [String: [Range<Int>]]
    public let urls: ChildURL
    /// How the fragments are protected, for the `Protection` element.
    public let protection: SmoothProtectionHeader?

    /// `ranges`: the sample ranges of every track per segment, keyed by track token.
    public init(presentation: Presentation, ranges: [String: [Range<Int>]], urls: ChildURL,
                protection: SmoothProtectionHeader? = nil) {
        self.presentation = presentation
        self.ranges = ranges
        self.urls = urls
        self.protection = protection
    }

    /// Video streams first, then audio, then text, each in server-manifest order.
    public var streams: [SmoothStream] {
        let offset = SmoothTimeline.offset(for: presentation)
        var streams: [SmoothStream] = []
        for kind in [TrackKind.video, .audio, .text] {
            for t in presentation.tracks(of: kind) {
                guard let codec = SmoothCodec(track: t.track), let r = ranges[t.token] else { continue }
                let timeline = SmoothTimeline(track: t.track, ranges: r, offset: offset)
                guard !timeline.fragments.isEmpty else { continue }
                if let i = streams.firstIndex(where: { s in
                    s.kind == kind && s.trackName == t.name && s.language == t.language
                        && s.codec.fourCC == codec.fourCC && s.timeline.sameChunks(as: timeline)
                }) {
                    streams[i].tracks.append(t)
                    continue
                }
                var name = t.name
                var n = 1
                while streams.contains(where: { $0.name == name }) {
                    n += 1
                    name = "\(t.name)_\(n)"
                }
                streams.append(SmoothStream(kind: kind, name: name, trackName: t.name, language: t.language,
                                            codec: codec, tracks: [t], timeline: timeline))
            }
        }
        return streams
    }

    public func manifest() -> [UInt8] {
        let streams = self.streams
        let start = streams.map(\.timeline.start).min() ?? 0
        let end = streams.map(\.timeline.end).max() ?? 0
        var w = XMLWriter()
        w.declaration()
        w.comment("Created with Origo")
        w.open("SmoothStreamingMedia", attributes: [
            ("MajorVersion", "2"),
            ("MinorVersion", "0"),
            ("TimeScale", String(SmoothTimeline.timescale)),
            ("Duration", String(max(end &- start, 0))),
        ])
        protection?.write(&w)
        for stream in streams { write(&w, stream) }
        w.close()
        return w.finish()
    }

    private func write(_ w: inout XMLWriter, _ stream: SmoothStream) {
        var attributes: [(String, String)] = [
            ("Type", stream.kind.rawValue),
            ("Name", stream.name),
        ]
        if stream.kind == .text { attributes.append(("Subtype", "SUBT")) }
        if stream.kind != .video, !Language.isUndetermined(stream.language) {
            attributes.append(("Language", stream.language))
        }
        attributes += [
            ("TimeScale", String(SmoothTimeline.timescale)),
            ("Chunks", String(stream.timeline.fragments.count)),
            ("QualityLevels", String(stream.tracks.count)),
            ("Url", urls.smoothFragmentTemplate(trackName: stream.trackName)),
        ]
        if stream.kind == .video {
            let width = String(stream.tracks.map(\.track.width).max() ?? 0)
            let height = String(stream.tracks.map(\.track.height).max() ?? 0)
            attributes += [("MaxWidth", width), ("MaxHeight", height), ("DisplayWidth", width), ("DisplayHeight", height)]
        }
        w.open("StreamIndex", attributes: attributes)
        for (index, t) in stream.tracks.enumerated() {
            var q: [(String, String)] = [("Index", String(index)), ("Bitrate", String(t.bitrate)),
                                         ("FourCC", stream.codec.fourCC)]
            if stream.kind == .video {
                q += [("MaxWidth", String(t.track.width)), ("MaxHeight", String(t.track.height))]
            } else if stream.kind == .text {
                // Nothing but the FourCC: TTML needs no codec configuration.
            } else {
                let channels = max(t.track.channels, 1)
                q += [("SamplingRate", String(t.track.sampleRate)), ("Channels", String(channels)),
                      ("BitsPerSample", "16"), ("PacketSize", String(channels * 2)),
                      ("AudioTag", String(stream.codec.audioTag ?? 0))]
            }
            // Each track's own codec configuration (the stream's FourCC is shared).
            q.append(("CodecPrivateData", SmoothCodec(track: t.track)?.codecPrivateData ?? stream.codec.codecPrivateData))
            w.empty("QualityLevel", attributes: q)
        }
        var next: Int64? = nil
        for f in stream.timeline.fragments {
            var c: [(String, String)] = []
            if next != f.time { c.append(("t", String(f.time))) }
            c.append(("d", String(f.duration)))
            w.empty("c", attributes: c)
            next = f.time &+ f.duration
        }
        w.close()
    }
}
