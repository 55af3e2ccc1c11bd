import Testing
@testable import DASH
@testable import Engine
@testable import HDS
@testable import HLS
@testable import MediaModel
@testable import PlayerURL
@testable import Subtitles

/// Hostile values that used to trap (and so kill an Apache child) or hang a worker. Each test
/// crashed or misbehaved before its fix; the valid-input behaviour is covered by the modules' tests.
@Suite struct AuditTests {
    // MARK: - Bitrates from hostile sample tables

    /// Two samples of 4 GiB each lasting 1/2^32 s: about 1.5e20 bit/s, beyond `Int`.
    static func absurdVideo() -> Track {
        var table = SampleTable()
        // Samples may overlap in the file (every one at offset 0), so sizes are not bounded by it.
        table.append(decodeTime: 0, duration: 1, compositionOffset: 0, size: UInt32.max, offset: 0, isSync: true)
        table.append(decodeTime: 1, duration: 1, compositionOffset: 0, size: UInt32.max, offset: 0, isSync: true)
        let avc = AVCConfiguration(profile: 66, compatibility: 0, level: 30, nalLengthSize: 4,
                                   sps: [[0x67, 0x42, 0x00, 0x1E]], pps: [[0x68, 0xCE]])
        return Track(trackID: 1, kind: .video, timescale: UInt32.max, language: "und", sampleEntryType: "avc1",
                     sampleEntry: [], codec: .avc(avc), width: 320, height: 180, samples: table, dataSource: "v.mp4")
    }

    @Test func averageBitrateSaturates() {
        #expect(Self.absurdVideo().averageBitrate == Bitrate.maximum)
    }

    @Test func segmentBitratesSaturate() throws {
        let track = Self.absurdVideo()
        let segmentation = try #require(Segmentation.make(tracks: [track], minimumLength: nil))
        let stats = SegmentStats(track: track, segmentation: segmentation)
        #expect(stats.averageBitrate == Bitrate.maximum)
        #expect(stats.peakBitrate == Bitrate.maximum)
    }

    @Test func manifestBandwidthsSaturate() throws {
        let track = Self.absurdVideo()
        let presentation = Presentation(tracks: [PresentationTrack(track: track, name: "video", bitrate: 1, language: "und")])
        let segmentation = try #require(Segmentation.make(tracks: [track], minimumLength: nil))
        for container in [HLSLayout.Container.transportStream, .fragmentedMP4] {
            let writer = HLSPlaylistWriter(presentation: presentation, segmentation: segmentation, container: container,
                                           urls: ChildURL(base: "x", query: ""))
            let master = writer.master()
            #expect(master.contains("#EXT-X-STREAM-INF:BANDWIDTH=\(Bitrate.maximum),"))
            #expect(master.contains("#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=\(Bitrate.maximum),"))
        }
        let mpd = String(decoding: MPDWriter(presentation: presentation, segmentation: segmentation,
                                             urls: ChildURL(base: "x", query: ""), addressing: .time).mpd(), as: UTF8.self)
        #expect(mpd.contains("bandwidth=\"\(Bitrate.maximum)\""))
    }

    @Test func bitrateClamping() {
        #expect(Bitrate.clamped(Double.nan) == 0)
        #expect(Bitrate.clamped(-5) == 0)
        #expect(Bitrate.clamped(Double.infinity) == Bitrate.maximum)
        #expect(Bitrate.clamped(1e30) == Bitrate.maximum)
        #expect(Bitrate.clamped(1_234_567.2) == 1_234_567)
        #expect(Bitrate.clamped(1_234_567.2, rule: .up) == 1_234_568)
    }

    // MARK: - Server manifest bitrates

    static func avcTrack(bitrate: Int, name: String = "video") -> PresentationTrack {
        var track = absurdVideo()
        track.timescale = 90_000
        return PresentationTrack(track: track, name: name, bitrate: bitrate, language: "und")
    }

    /// `systemBitrate="9223372036854775807"` on two tracks of one name.
    @Test func duplicateTokensAtTheLargestBitrate() {
        let unique = PresentationLoader.uniqueTokens([Self.avcTrack(bitrate: Int.max), Self.avcTrack(bitrate: Int.max)])
        #expect(Set(unique.map(\.token)).count == 2)
        #expect(unique[0].bitrate == Int.max)
    }

    /// The F4M states kbit/s rounded: `(bitrate + 500) / 1000` overflowed at `Int.max`.
    @Test func f4mBitrateAtTheLargestBitrate() throws {
        let presentation = Presentation(tracks: [Self.avcTrack(bitrate: Int.max)])
        let segmentation = try #require(Segmentation.make(tracks: presentation.tracks.map(\.track), minimumLength: nil))
        let writer = F4MWriter(presentation: presentation,
                               timeline: HDSTimeline(presentation: presentation, segmentation: segmentation),
                               urls: ChildURL(base: "x", query: ""))
        let f4m = String(decoding: writer.manifest(), as: UTF8.self)
        #expect(f4m.contains("bitrate=\"\(Int.max / 1000 + 1)\""))
        // A muxed pair whose sum overflows saturates instead of wrapping negative.
        let media = HDSLayout.Media(tracks: [Self.avcTrack(bitrate: Int.max), Self.avcTrack(bitrate: Int.max, name: "v2")])
        #expect(media.bitrate == Int.max)
        #expect(HDSLayout.Media(tracks: [Self.avcTrack(bitrate: 400_000), Self.avcTrack(bitrate: 64_000, name: "a")]).bitrate == 464_000)
    }

    // MARK: - Subtitles

    /// A TTML document of a million comments: the scanner recursed once per comment (a stack
    /// overflow in a worker thread). `<!x>` is not XML inside an element: the shared parser stops
    /// at the first (the scanner skipped it like a comment).
    @Test func ttmlManyCommentsDoNotRecurse() throws {
        var text = "<tt xmlns=\"http://www.w3.org/ns/ttml\">"
        text += String(repeating: "<!---->", count: 400_000)
        text += String(repeating: "<?x?>", count: 400_000)
        let declarations = String(repeating: "<!x>", count: 400_000)
        let end = "<body><div><p begin=\"1s\" end=\"2s\">hello</p></div></body></tt>"
        let cues = try TTMLReader.parse(Array((text + end).utf8))
        #expect(cues == [Cue(start: 1000, end: 2000, text: "hello")])
        #expect(throws: SubtitleError.self) { try TTMLReader.parse(Array((text + declarations + end).utf8)) }
    }

    /// A SubRip line of `<` without any `>` was scanned to its end once per `<` (quadratic: hours
    /// for a few megabytes).
    @Test func srtTagScanIsLinear() throws {
        let line = String(repeating: "<", count: 2_000_000) + String(repeating: "{\\", count: 500_000)
        let srt = "1\n00:00:01,000 --> 00:00:02,000\n" + line + "\n\n2\n00:00:03,000 --> 00:00:04,000\n<i>ok</i> {\\an8}x<b\n"
        let clock = ContinuousClock()
        let start = clock.now
        let cues = try SRTReader.parse(Array(srt.utf8))
        #expect(clock.now - start < .seconds(20))
        #expect(cues.count == 2)
        #expect(cues[0].text.hasPrefix("&lt;&lt;"))
        #expect(cues[1].text == "<i>ok</i> x&lt;b")
        // Unchanged for ordinary text.
        #expect(SRTReader.webVTTPayload("<font color=\"red\">a</font> <B>b</B> {\\an8}c & d") == "a <b>b</b> c &amp; d")
    }

    /// Timestamps and TTML times at and past the accepted bounds are refused, never trapped on.
    @Test func hostileTimes() {
        #expect(Timestamp.parse("99999999:59:59.999") == nil)
        #expect(Timestamp.parse("100000:00:00.000") == Timestamp.maxMilliseconds)
        #expect(Timestamp.parse("999999999:59.999") == nil)
        #expect(Timestamp.parse("6000000:00.000") == 360_000_000_000)
        let rates = TTMLReader.Rates([("ttp:tickRate", "5e-324"), ("ttp:frameRate", "1e-300")])
        for expression in ["0t", "1t", "1f", "inf s", "nan", "1e308h", "99999999999:00:00", "00:00:00:1e308", "-1s"] {
            #expect(TTMLReader.time(expression, rates) == nil)
        }
        #expect(Subclip.format(Int64.max).hasPrefix("9223372036"))
    }
}

/// Hostile URLs and queries end to end: every one is answered with a status, none traps.
@Suite struct AuditEngineTests {
    let engine = Engine()
    let movie = Fixtures.path("progressive.mp4")

    func status(_ path: String, _ query: String? = nil) -> Int {
        Int(engine.handle(EngineRequest(method: "GET", manifestPath: movie, virtualPath: path, query: query)).status)
    }

    @Test func hostilePathsAndQueries() throws {
        let master = engine.handle(EngineRequest(method: "GET", manifestPath: movie, virtualPath: ".m3u8", query: nil))
        #expect(master.status == 200)
        var body: [UInt8] = []
        for piece in master.body { if case .bytes(let b) = piece { body += b } }
        let video = try #require(String(decoding: body, as: UTF8.self).split(separator: "\n")
            .first { $0.hasSuffix(".m3u8") && !$0.hasPrefix("#") }).split(separator: "?")[0].dropLast(5)
        let paths = [
            "\(video)-0.ts", "\(video)-999999999999999999.ts", "\(video)-9999999999999999999.ts",
            "\(video)-99999999999999999999.ts", "keyframes/\(video)-999999999999999999.ts",
            "\(video)-n999999999999999999.dash", "\(video)-999999999999999999.dash",
            "\(video)-Seg1-Frag999999999.f4f", "\(video)-Seg1-Frag9999999999", "\(video)-Seg999999999-Frag1",
            "QualityLevels(999999999999999999)/Fragments(video=999999999999999999)",
            "QualityLevels(99999999999999999999)/Fragments(video=1)",
            "x-video=99999999999999999999.m3u8", "x-video=999999999999999999-1.webvtt",
        ]
        for path in paths {
            let s = status(path)
            #expect((400..<500).contains(s), "\(path) answered \(s)")
        }
        let queries = [
            "filter=systemBitrate<99999999999999999999", "filter=" + String(repeating: "(", count: 40),
            "filter=" + String(repeating: "!", count: 1000) + "type==%22video%22",
            "max_bitrate=99999999999999999999", "max_bitrate=0", "vbegin=99999999999999999999",
            "vbegin=1000000000.999999999", "vend=0.0000000001", "t=npt:99999999999:00:00", "t=-", "t=1,0",
            "vbegin=9999999", "hls.minimum_fragment_length=99999999999999999999",
            "hls.minimum_fragment_length=1/9223372036854775807", "hls.minimum_fragment_length=9223372036854775807/1",
            "hls.client_manifest_version=99999999999999999999",
        ]
        for query in queries {
            let s = status(".m3u8", query)
            #expect(s == 200 || (400..<500).contains(s), "\(query) answered \(s)")
        }
    }
}
