import Testing
@testable import Engine
@testable import Live
import Storage

/// Live playout control (issue #17): the `Fmp4…Fragment…` statuses, caching headers, the
/// `dvr_window_length`/`time_shift` overrides and `$Number$` DASH, over the ingested fixture
/// (four 1 s fragments per track, stored at 1_800_000_000 s).
@Suite struct LivePlayoutControlTests {
    let playout = LivePlayoutTests()

    func get(_ pp: String, _ path: String, query: String? = nil, status: LiveFragmentStatus = .init()) -> EngineResponse {
        var request = EngineRequest(method: "GET", manifestPath: pp, virtualPath: path, query: query)
        request.liveFragmentStatus = status
        return playout.engine.handle(request)
    }

    func text(_ r: EngineResponse) throws -> String { String(decoding: try playout.body(r), as: UTF8.self) }

    func header(_ r: EngineResponse, _ name: String) -> String? { r.headers.first { $0.name == name }?.value }

    /// The fixture with its window cut to 2 s: fragments 3 and 4 (times 2 s and 3 s) in it.
    func slid() throws -> String {
        let pp = try playout.ingested()
        var manifest = String(decoding: try LocalFile.contents(of: pp, limit: 1 << 20), as: UTF8.self)
        manifest = manifest.replacingOccurrences(of: "content=\"30\"", with: "content=\"2\"")
        try IndexMP4EngineTests.write(Array(manifest.utf8), to: pp)
        return pp
    }

    @Test func defaultStatusesFollowTheReference() throws {
        let pp = try slid()
        // DASH by time: older than the window 410, in the future 404, inside a fragment (a gap for the URL) 404.
        #expect(get(pp, "channel1-video=60000-0.dash").status == 410)
        #expect(get(pp, "channel1-video=60000-40000000.dash").status == 404)
        #expect(get(pp, "channel1-video=60000-25000000.dash").status == 404)
        #expect(get(pp, "channel1-video=60000-20000000.dash").status == 200)
        // DASH by number and HLS: the same cases by fragment number.
        #expect(get(pp, "channel1-video=60000-n1.dash").status == 410)
        #expect(get(pp, "channel1-video=60000-n5.dash").status == 404)
        #expect(get(pp, "channel1-video=60000-n3.dash").status == 200)
        #expect(get(pp, "channel1-video=60000-1.m4s").status == 404)
        #expect(get(pp, "channel1-video=60000-5.m4s").status == 404)
    }

    @Test func configuredStatusesReplaceTheDefaults() throws {
        let pp = try slid()
        // [format * 3 + case]: DASH (3) not found 404, missing 412, not available 503; HLS (2) not found 410, not available 425.
        var overrides = Array(repeating: 0, count: 12)
        overrides[9] = 404; overrides[10] = 412; overrides[11] = 503
        overrides[6] = 410; overrides[8] = 425
        let status = LiveFragmentStatus(overrides: overrides)
        #expect(get(pp, "channel1-video=60000-0.dash", status: status).status == 404)
        #expect(get(pp, "channel1-video=60000-25000000.dash", status: status).status == 412)
        #expect(get(pp, "channel1-video=60000-40000000.dash", status: status).status == 503)
        #expect(get(pp, "channel1-video=60000-1.m4s", status: status).status == 410)
        #expect(get(pp, "channel1-video=60000-9.m4s", status: status).status == 425)
        // Values outside 400...599 keep the default.
        #expect(LiveFragmentStatus(overrides: [200, 99, 1000]) == LiveFragmentStatus())
    }

    @Test func cachingHeaders() throws {
        let pp = try playout.ingested()
        let playlist = get(pp, "channel1-video=60000.m3u8")
        #expect(header(playlist, "Cache-Control") == "public, max-age=1")
        #expect(header(playlist, "Sunset") == nil)
        let segment = get(pp, "channel1-video=60000-2.m4s")
        #expect(segment.status == 200)
        // Stored at 1_800_000_000 s (fixture clock); it leaves the 30 s window 30 s later.
        #expect(header(segment, "Sunset") == "Fri, 15 Jan 2027 08:00:30 GMT")
        let maxAge = header(segment, "Cache-Control").flatMap { Int($0.split(separator: "=").last ?? "") } ?? 0
        #expect(maxAge > 1000)
        #expect(header(get(pp, ".mpd"), "Cache-Control") == "public, max-age=1")
        // Not there yet: a refusal caches must not keep; gone from the window stays gone.
        #expect(header(get(pp, "channel1-video=60000-9.m4s"), "Cache-Control") == "no-cache")
        #expect(header(get(try slid(), "channel1-video=60000-1.m4s"), "Cache-Control") == nil)
        #expect(LiveCaching.segment(ingestMillis: 1_000, windowSeconds: 0, nowMillis: 2_000).map(\.0) == ["Cache-Control"])
        #expect(LiveCaching.httpDate(seconds: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(LiveCaching.httpDate(seconds: 1_796_693_580) == "Tue, 08 Dec 2026 01:33:00 GMT")
    }

    @Test func windowAndTimeShiftOverrides() throws {
        let pp = try playout.ingested()
        // dvr_window_length narrows the window (never widens it past the .isml's 30 s).
        let narrow = try text(get(pp, "channel1-video=60000.m3u8", query: "dvr_window_length=2"))
        #expect(narrow.contains("#EXT-X-MEDIA-SEQUENCE:3\n") && narrow.components(separatedBy: "#EXTINF").count == 3)
        let wide = try text(get(pp, "channel1-video=60000.m3u8", query: "dvr_window_length=600"))
        #expect(wide.contains("#EXT-X-MEDIA-SEQUENCE:1\n") && wide.components(separatedBy: "#EXTINF").count == 5)
        // time_shift: the live point 1 s back, the newest fragment left out.
        let shifted = try text(get(pp, "channel1-video=60000.m3u8", query: "time_shift=1"))
        #expect(shifted.hasSuffix("channel1-video=60000-3.m4s\n"))
        let both = try text(get(pp, "channel1-video=60000.m3u8", query: "time_shift=1&dvr_window_length=2"))
        #expect(both.contains("#EXT-X-MEDIA-SEQUENCE:2\n") && both.components(separatedBy: "#EXTINF").count == 3)
        // Further back than the store: an empty window, no segment.
        #expect(!(try text(get(pp, "channel1-video=60000.m3u8", query: "time_shift=60"))).contains("#EXTINF"))
        // The master passes the query on to its media playlists.
        #expect(try text(get(pp, ".m3u8", query: "time_shift=1")).contains("channel1-video=60000.m3u8?time_shift=1\n"))
        let mpd = try text(get(pp, ".mpd", query: "dvr_window_length=2"))
        #expect(mpd.contains("timeShiftBufferDepth=\"PT2S\"") && mpd.contains("<S t=\"20000000\" d=\"10000000\" r=\"1\"/>"))
        #expect(get(pp, ".m3u8", query: "time_shift=-1").status == 400)
        #expect(get(pp, ".m3u8", query: "dvr_window_length=x").status == 400)
        #expect(get(pp, ".mpd", query: "mpd.segment_template=other").status == 400)
    }

    @Test func numberedDASHFromTheClock() throws {
        let pp = try playout.ingested()
        let mpd = try text(get(pp, ".mpd", query: "mpd.segment_template=number"))
        #expect(mpd.contains("media=\"channel1-$RepresentationID$-n$Number$.dash\""))
        #expect(mpd.contains("timescale=\"1\"") && mpd.contains("duration=\"1\" startNumber=\"1\"/>") && !mpd.contains("SegmentTimeline"))
        #expect(mpd.contains("minimumUpdatePeriod=\"PT30S\"") && mpd.contains("timeShiftBufferDepth=\"PT29.500S\""))
        // Segment 1 starts when the first fragment began (stored at 08:00:00 after 1 s), a quarter
        // of a fragment later against a late encoder.
        #expect(mpd.contains("availabilityStartTime=\"2027-01-15T07:59:59.250Z\""))
        // Audio's first fragment starts at its encoder delay, moved to 0: no presentationTimeOffset needed.
        #expect(!mpd.contains("presentationTimeOffset"))
        let stored = try LiveIngestTests.records(pp, "channel1", 1)
        for n in 1...4 {
            let segment = get(pp, "channel1-video=60000-n\(n).dash")
            #expect(segment.status == 200)
            #expect(try playout.body(segment) == (try playout.body(get(pp, "channel1-video=60000-\(n).m4s"))))
        }
        #expect(stored.count == 4)
    }

    @Test func windowSelection() throws {
        let pp = try playout.ingested()
        let index = try FragmentIndexReader(path: LiveStoreLayout.streamDirectory(manifestPath: pp, stream: "channel1") + "/1.index")
        let all = try LiveWindow(index: index, dvrWindow: 0)
        #expect(all.fragments.count == 4 && all.nominalDuration == 10_000_000)
        let shifted = try LiveWindow(index: index, dvrWindow: 20_000_000, timeShift: 15_000_000)
        // Live point at 2.5 s: fragments ending by then (0-1, 1-2), the window 2 s back from 2 s.
        #expect(shifted.firstIndex == 0 && shifted.fragments.map(\.time) == [0, 10_000_000])
        #expect(shifted.lookup(index: 2) == .notAvailable)
        #expect(shifted.lookup(index: -1) == .notFound)
        if case .found(let i, let r) = shifted.lookup(index: 1) { #expect(i == 1 && r.time == 10_000_000) } else { Issue.record("not found") }
        #expect(try LiveWindow(index: index, dvrWindow: 0, timeShift: 50_000_000).fragments.isEmpty)
        // Shifted 2 s back with a 30 s window, but the publishing point serves only the last 3 s.
        let bounded = try LiveWindow(index: index, dvrWindow: 300_000_000, timeShift: 20_000_000, served: 30_000_000)
        #expect(bounded.firstIndex == 1 && bounded.fragments.map(\.time) == [10_000_000])
        #expect(try LiveWindow(index: index, dvrWindow: 0, timeShift: .max).fragments.isEmpty)
    }

    @Test func smoothLiveManifestAndFragments() throws {
        let pp = try playout.ingested()
        let manifest = try text(get(pp, "Manifest"))
        #expect(manifest.contains("IsLive=\"TRUE\"") && manifest.contains("DVRWindowLength=\"300000000\"") && manifest.contains("Duration=\"0\""))
        #expect(manifest.contains("Url=\"QualityLevels({bitrate})/Fragments(video={start time})\""))
        #expect(manifest.contains("<QualityLevel Index=\"1\" Bitrate=\"30000\" FourCC=\"H264\""))
        let video = manifest.components(separatedBy: "<StreamIndex Type=\"video\"")[1].components(separatedBy: "</StreamIndex>")[0]
        #expect(video.contains("Chunks=\"4\"") && video.contains("<c t=\"0\" d=\"10000000\"/>"))
        // Audio's first fragment starts before 0 (encoder delay): Smooth times are unsigned, it is left out.
        let audio = try LiveIngestTests.records(pp, "channel1", 3)
        let audioIndex = manifest.components(separatedBy: "<StreamIndex Type=\"audio\"")[1]
        #expect(audioIndex.contains("Chunks=\"3\"") && audioIndex.contains("<c t=\"\(audio[1].time)\""))
        // Fragments as stored: the encoder's moof (with its tfxd) and the mdat.
        let fragment = get(pp, "QualityLevels(60000)/Fragments(video=10000000)")
        #expect(fragment.status == 200 && header(fragment, "Sunset") != nil)
        let stored = try LiveIngestTests.records(pp, "channel1", 1)[1]
        let media = LiveIngestTests.file(pp, "channel1", "1.media")
        #expect(try playout.body(fragment) == Array(media[Int(stored.offset)..<Int(stored.mediaEnd)]))
        #expect(get(pp, "QualityLevels(32000)/Fragments(audio=\(audio[1].time))").status == 200)
        // Smooth's defaults: a gap and the future 412, gone from the window 404; an unknown level 404.
        #expect(get(pp, "QualityLevels(60000)/Fragments(video=5000000)").status == 412)
        #expect(get(pp, "QualityLevels(60000)/Fragments(video=90000000)").status == 412)
        #expect(get(pp, "QualityLevels(60000)/Fragments(video=-1)").status != 200)
        #expect(get(pp, "QualityLevels(70000)/Fragments(video=0)").status == 404)
        #expect(get(try slid(), "QualityLevels(60000)/Fragments(video=0)").status == 404)
    }

    @Test func filtersAndMaxBitrateAsInVOD() throws {
        let pp = try playout.ingested()
        let master = try text(get(pp, ".m3u8", query: "filter=(type==%22video%22%26%26systemBitrate>40000)||(type==%22audio%22)"))
        #expect(master.contains("channel1-video=60000.m3u8") && !master.contains("channel1-video=30000.m3u8"))
        #expect(master.contains("channel1-audio=32000.m3u8"))
        let capped = try text(get(pp, ".m3u8", query: "max_bitrate=40000"))
        #expect(capped.contains("channel1-video=30000.m3u8") && !capped.contains("channel1-video=60000.m3u8"))
        let lowest = try text(get(pp, ".m3u8", query: "max_bitrate=1"))
        #expect(lowest.contains("channel1-video=30000.m3u8") && !lowest.contains("channel1-video=60000.m3u8"))
        let mpd = try text(get(pp, ".mpd", query: "filter=(type!=%22audio%22)"))
        #expect(mpd.contains("video=60000") && !mpd.contains("audio=32000"))
        let smooth = try text(get(pp, "Manifest", query: "filter=(FourCC==%22AACL%22)"))
        #expect(smooth.contains("Type=\"audio\"") && !smooth.contains("Type=\"video\""))
        #expect(get(pp, ".m3u8", query: "filter=(type==%22meta%22)").status == 404)
        #expect(get(pp, ".m3u8", query: "filter=(type==").status == 400)
    }
}
