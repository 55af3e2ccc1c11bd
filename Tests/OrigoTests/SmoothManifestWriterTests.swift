import MediaModel
import PlayerURL
import Smooth
import Testing
import XML

/// The manifest writer over synthetic tracks: grouping into `StreamIndex`es and exact 10 MHz times.
@Suite struct SmoothManifestWriterTests {
    /// A video track of `count` frames of 1001/30000 s with a sync sample every `gop` frames.
    func video(_ count: Int, gop: Int, timescale: UInt32 = 30000, frame: UInt32 = 1001) -> Track {
        var samples = SampleTable()
        for i in 0..<count {
            samples.append(decodeTime: Int64(i) * Int64(frame), duration: frame, compositionOffset: 0,
                           size: 100, offset: UInt64(i * 100), isSync: i % gop == 0)
        }
        let avc = AVCConfiguration(profile: 0x64, compatibility: 0, level: 0x1F, nalLengthSize: 4,
                                   sps: [[0x67, 0x64, 0x00, 0x1F]], pps: [[0x68, 0xEE]])
        return Track(trackID: 1, kind: .video, timescale: timescale, language: "und", sampleEntryType: "avc1",
                     sampleEntry: [], codec: .avc(avc), width: 640, height: 360, samples: samples, dataSource: "/v.mp4")
    }

    func writer(_ tracks: [PresentationTrack], query: String = "") throws -> SmoothManifestWriter {
        let segmentation = try #require(Segmentation.make(tracks: tracks.map(\.track), minimumLength: nil))
        var ranges: [String: [Range<Int>]] = [:]
        for t in tracks { ranges[t.token] = segmentation.sampleRanges(for: t.track) }
        return SmoothManifestWriter(presentation: Presentation(tracks: tracks), ranges: ranges,
                                    urls: ChildURL(base: "x", query: query))
    }

    @Test func alignedQualitiesShareOneStreamIndex() throws {
        let tracks = [PresentationTrack(track: video(300, gop: 30), name: "video", bitrate: 400_000, language: "und"),
                      PresentationTrack(track: video(300, gop: 30), name: "video", bitrate: 800_000, language: "und")]
        let streams = try writer(tracks).streams
        #expect(streams.count == 1)
        #expect(streams.first?.tracks.map(\.bitrate) == [400_000, 800_000])
        let root = try XMLParser.parse(try writer(tracks).manifest())
        let levels = root.firstChild(named: "StreamIndex")?.children(named: "QualityLevel") ?? []
        #expect(levels.map { $0.attribute("Index") } == ["0", "1"])
        #expect(levels.first?.attribute("CodecPrivateData") == "000000016764001F0000000168EE")
    }

    @Test func misalignedQualitiesGetTheirOwnStreamIndex() throws {
        let tracks = [PresentationTrack(track: video(300, gop: 30), name: "video", bitrate: 400_000, language: "und"),
                      PresentationTrack(track: video(300, gop: 45), name: "video", bitrate: 800_000, language: "und")]
        let streams = try writer(tracks).streams
        #expect(streams.map(\.name) == ["video", "video_2"])
        // Both still address fragments by the track name.
        #expect(streams.allSatisfy { $0.trackName == "video" })
    }

    @Test func tenMegahertzTimesDoNotDrift() throws {
        // 1001/30000 s frames are 333 666.67 ticks at 10 MHz: per-frame rounding would drift.
        let track = video(6000, gop: 15)
        let t = PresentationTrack(track: track, name: "video", bitrate: 1, language: "und")
        let stream = try #require(try writer([t]).streams.first)
        let fragments = stream.timeline.fragments
        #expect(fragments.count == 400)
        for (k, f) in fragments.enumerated() {
            let exact = MediaTime.rescale(Int64(k * 15 * 1001), from: 30000, to: 10_000_000)
            #expect(f.time == exact)
        }
        let total = fragments.reduce(Int64(0)) { $0 + $1.duration }
        #expect(total == MediaTime.rescale(6000 * 1001, from: 30000, to: 10_000_000))
        for k in [0, 7, 399] {
            #expect(SmoothTimeline.segment(startingAt: fragments[k].time, track: track,
                                           ranges: try writer([t]).ranges[t.token] ?? [], offset: 0) == k)
        }
        #expect(SmoothTimeline.segment(startingAt: fragments[7].time + 1, track: track,
                                       ranges: try writer([t]).ranges[t.token] ?? [], offset: 0) == nil)
    }

    @Test func unsupportedCodecsAreLeftOut() throws {
        var text = video(30, gop: 30)
        text.kind = .text
        text.codec = .other
        let tracks = [PresentationTrack(track: video(30, gop: 30), name: "video", bitrate: 1, language: "und"),
                      PresentationTrack(track: text, name: "textstream", bitrate: 1, language: "und")]
        #expect(try writer(tracks).streams.map(\.kind) == [.video])
    }
}
