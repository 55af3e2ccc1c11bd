import Live
import MediaModel
import ServerManifest
import Smooth
import XML

/// Smooth Streaming live (issue #17, MS-SSTR 2.2): a client manifest with `IsLive="TRUE"` and
/// `DVRWindowLength` from the same window as HLS and DASH, and the stored fragments served as
/// the encoder sent them (Smooth ingest's `moof` carries the `tfxd` Smooth clients read).
/// Times are the stored ones in each track's timescale (a `TimeScale` per StreamIndex); a
/// fragment that starts before 0 (AAC's encoder delay) is left out, as Smooth times are unsigned.
/// No `LookAheadFragmentCount`: no `tfrf` is written, so clients reload the manifest.
enum LiveSmooth {
    struct Stream {
        var kind: ManifestTrackKind
        var trackName: String
        var tracks: [(track: LivePresentation.Track, model: Track)]
        var window: LiveWindow
    }

    static func manifest(_ streams: [Stream], windowSeconds: Int) -> [UInt8] {
        var w = XMLWriter()
        w.declaration()
        w.open("SmoothStreamingMedia", attributes: [
            ("MajorVersion", "2"), ("MinorVersion", "2"), ("TimeScale", String(SmoothTimeline.timescale)),
            ("Duration", "0"), ("IsLive", "TRUE"),
            ("DVRWindowLength", String(Int64(windowSeconds) &* Int64(SmoothTimeline.timescale))),
        ])
        for stream in streams {
            let fragments = stream.window.fragments.filter { $0.time >= 0 }
            guard let lead = stream.tracks.first else { continue }
            var attributes: [(String, String)] = [
                ("Type", stream.kind == .textstream ? "text" : stream.kind.rawValue), ("Name", stream.trackName),
                ("TimeScale", String(lead.track.timescale)), ("Chunks", String(fragments.count)),
                ("QualityLevels", String(stream.tracks.count)),
                ("Url", "QualityLevels({bitrate})/Fragments(\(stream.trackName)={start time})"),
            ]
            if stream.kind == .video {
                let width = String(stream.tracks.map(\.model.width).max() ?? 0)
                let height = String(stream.tracks.map(\.model.height).max() ?? 0)
                attributes += [("MaxWidth", width), ("MaxHeight", height), ("DisplayWidth", width), ("DisplayHeight", height)]
            }
            w.open("StreamIndex", attributes: attributes)
            for (i, t) in stream.tracks.enumerated() {
                guard let codec = SmoothCodec(track: t.model) else { continue }
                var q: [(String, String)] = [("Index", String(i)), ("Bitrate", String(t.track.bitrate)), ("FourCC", codec.fourCC)]
                if stream.kind == .video {
                    q += [("MaxWidth", String(t.model.width)), ("MaxHeight", String(t.model.height))]
                } else {
                    let channels = max(t.model.channels, 1)
                    q += [("SamplingRate", String(t.model.sampleRate)), ("Channels", String(channels)), ("BitsPerSample", "16"),
                          ("PacketSize", String(channels * 2)), ("AudioTag", String(codec.audioTag ?? 0))]
                }
                q.append(("CodecPrivateData", codec.codecPrivateData))
                w.empty("QualityLevel", attributes: q)
            }
            // `t` where a chunk does not follow the one before, `d` always, never `r` (clients disagree on it).
            var next: Int64?
            for f in fragments {
                var c: [(String, String)] = []
                if next != f.time { c.append(("t", String(f.time))) }
                c.append(("d", String(f.duration)))
                w.empty("c", attributes: c)
                next = f.end
            }
            w.close()
        }
        w.close()
        return w.finish()
    }
}
