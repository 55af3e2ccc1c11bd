import ByteIO
import MediaModel
import PlayerURL
import XML

/// Writes the F4M manifest (Adobe Flash Media Manifest 1.0, `xmlns="http://ns.adobe.com/f4m/1.0"`)
/// of a video-on-demand presentation: `id`, `streamType` `recorded`, `duration` in seconds, one
/// inline `bootstrapInfo` (base64 `abst`, profile `named`) that every media shares (all renditions
/// are cut at the same times), and one `media` per ``HDSLayout`` entry with its bitrate in kbit/s,
/// size, and base64 AMF0 `onMetaData` in `metadata`.
///
/// A media's `url` is the fragment URL prefix `<base>-<tokens>-`: clients append `Seg1-Frag<N>`
/// to it themselves, so the request's query string cannot be carried there (a client that
/// appends to the string would put the fragment name inside the query).
public struct F4MWriter: Sendable {
    public let presentation: Presentation
    public let timeline: HDSTimeline
    public let urls: ChildURL
    public let layout: HDSLayout

    public init(presentation: Presentation, timeline: HDSTimeline, urls: ChildURL) {
        self.presentation = presentation
        self.timeline = timeline
        self.urls = urls
        self.layout = HDSLayout(presentation: presentation)
    }

    public func manifest() -> [UInt8] {
        let bootstrap = timeline.bootstrap(movieIdentifier: urls.base)
        var w = XMLWriter()
        w.declaration()
        w.comment("Created with Origo")
        w.open("manifest", attributes: [("xmlns", "http://ns.adobe.com/f4m/1.0")])
        w.element("id", text: urls.base)
        w.element("streamType", text: "recorded")
        w.element("deliveryType", text: "streaming")
        w.element("duration", text: MediaTime.decimal(timeline.duration, timescale: HDSTimeline.timescale, digits: 3))
        w.element("bootstrapInfo", attributes: [("profile", "named"), ("id", "bootstrap")],
                  text: Base64.encode(bootstrap.bytes()))
        for media in layout.media {
            var attributes: [(String, String)] = [
                ("streamId", media.tokens.joined(separator: "-")),
                ("url", urls.hdsMediaPrefix(tokens: media.tokens)),
                ("bitrate", String(Self.kilobits(media.bitrate))),
            ]
            if let video = media.video {
                attributes += [("width", String(video.track.width)), ("height", String(video.track.height))]
            }
            attributes.append(("bootstrapInfoId", "bootstrap"))
            w.open("media", attributes: attributes)
            w.element("metadata", text: Base64.encode(metadata(media)))
            w.close()
        }
        w.close()
        return w.finish()
    }

    /// Bits per second as kbit/s rounded to nearest, for any non-negative `Int` (no `+ 500` that
    /// could overflow).
    static func kilobits(_ bitrate: Int) -> Int {
        bitrate / 1000 + (bitrate % 1000 >= 500 ? 1 : 0)
    }

    /// The `onMetaData` body of one media.
    func metadata(_ media: HDSLayout.Media) -> [UInt8] {
        var p: [(String, AMF0Value)] = [
            ("duration", .number(Double(timeline.duration) / Double(HDSTimeline.timescale))),
        ]
        if let video = media.video {
            p += [("width", .number(Double(video.track.width))), ("height", .number(Double(video.track.height))),
                  ("videocodecid", .number(7)), ("videodatarate", .number(Double(video.bitrate) / 1000))]
            if let rate = video.track.frameRate {
                p.append(("framerate", .number(Double(rate.numerator) / Double(rate.denominator))))
            }
        }
        if let audio = media.audio {
            p += [("audiocodecid", .number(10)), ("audiodatarate", .number(Double(audio.bitrate) / 1000)),
                  ("audiosamplerate", .number(Double(audio.track.sampleRate))), ("audiosamplesize", .number(16)),
                  ("audiochannels", .number(Double(audio.track.channels))), ("stereo", .boolean(audio.track.channels >= 2))]
        }
        return AMF0.onMetaData(p)
    }
}
