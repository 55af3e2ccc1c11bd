import Testing
@testable import PlayerURL

@Suite struct VirtualPathTests {
    let names: Set<String> = ["video", "audio", "audio_eng", "textstream_zh-Hans"]

    @Test func mastersTakeAnyName() throws {
        #expect(try VirtualPath.parse(".m3u8", trackNames: names) == .hlsMaster)
        #expect(try VirtualPath.parse("tears-of-steel.m3u8", trackNames: names) == .hlsMaster)
        #expect(try VirtualPath.parse("manifest.mpd", trackNames: names) == .dashManifest)
    }

    @Test func tokensResolveAgainstTrackNames() throws {
        #expect(try VirtualPath.parse("tears-of-steel-audio_eng=64008-video=401000.m3u8", trackNames: names)
                == .hlsMediaPlaylist(tokens: ["audio_eng=64008", "video=401000"]))
        #expect(try VirtualPath.parse("x-textstream_zh-Hans=1000.m3u8", trackNames: names)
                == .hlsMediaPlaylist(tokens: ["textstream_zh-Hans=1000"]))
        #expect(try VirtualPath.parse("a-b-audio=1-video=2-17.ts", trackNames: names)
                == .hlsTSSegment(tokens: ["audio=1", "video=2"], number: 17))
    }

    @Test func fmp4AndDashNames() throws {
        #expect(try VirtualPath.parse("x-video=800000.m4s", trackNames: names) == .hlsInit(token: "video=800000"))
        #expect(try VirtualPath.parse("x-video=800000-3.m4s", trackNames: names) == .hlsFMP4Segment(token: "video=800000", number: 3))
        #expect(try VirtualPath.parse("x-video=800000.dash", trackNames: names) == .dashInit(token: "video=800000"))
        #expect(try VirtualPath.parse("x-video=800000-0.dash", trackNames: names) == .dashSegmentAtTime(token: "video=800000", time: 0))
        #expect(try VirtualPath.parse("x-video=800000-512000.dash", trackNames: names) == .dashSegmentAtTime(token: "video=800000", time: 512000))
        #expect(try VirtualPath.parse("x-video=800000-n4.dash", trackNames: names) == .dashSegmentNumber(token: "video=800000", number: 4))
    }

    @Test func malformedAndUnknown() {
        func status(_ path: String) -> Int? {
            do { _ = try VirtualPath.parse(path, trackNames: names); return nil } catch { return error.httpStatus }
        }
        #expect(status("x-video=abc-1.ts") == 400)
        #expect(status("x-video=800000-0.ts") == 400)
        #expect(status("x-video=800000-99999999999999999999.ts") == 400)
        #expect(status("x-subtitle=5-1.ts") == 404)
        #expect(status("x.ts") == 400)
        #expect(status("x-video=1.exe") == 404)
        #expect(status("../../etc/passwd") == 404)
        #expect(status("") == 404)
        #expect(status(String(repeating: "a", count: 5000) + ".m3u8") == 404)
    }

    @Test func pathsAreReadAsBytes() throws {
        let accented: Set<String> = ["vidéo", "vid", "o"]
        #expect(try VirtualPath.parse("été-vidéo=5-2.ts", trackNames: accented) == .hlsTSSegment(tokens: ["vidéo=5"], number: 2))
        // The longest name that ends before `=` wins, and it must start at a `-`.
        #expect(try VirtualPath.parse("x-o=1-vid=2.m3u8", trackNames: accented) == .hlsMediaPlaylist(tokens: ["o=1", "vid=2"]))
        #expect(PathBytes.decimal(Array("123456789012345678".utf8)[...], maxDigits: 18) == 123_456_789_012_345_678)
        #expect(PathBytes.decimal(Array("1234567890123456789".utf8)[...], maxDigits: 19) == nil)
        #expect(PathBytes.decimal(Array("12a".utf8)[...], maxDigits: 9) == nil)
        #expect(PathBytes.decimal([][...], maxDigits: 9) == nil)
        #expect(try VirtualPath.parse("QualityLevels(128000)/Fragments(audio=0)", trackNames: names)
                == .smoothFragment(bitrate: 128000, name: "audio", time: 0))
        #expect(try VirtualPath.parse("MANIFEST", trackNames: names) == .smoothManifest)
        #expect(try VirtualPath.parse("x-video=1-Seg1-Frag7", trackNames: names) == .hdsFragment(tokens: ["video=1"], segment: 1, fragment: 7))
        // Delimiters are bytes: a `=` followed by a combining mark still starts a (bad) bitrate.
        #expect(throws: PlayerURLError.self) { try VirtualPath.parse("movie=\u{338}.m3u8", trackNames: names) }
        #expect(PathBytes.hasPrefix(Array("/x".utf8)[...], "/"))
        #expect(PathBytes.lastRange(of: "-", in: Array("a-b-c".utf8)[...]) == 3..<4)
    }

    @Test func childURLsRoundTrip() throws {
        let urls = ChildURL(base: "my movie", query: "session_id=4157&hls.fmp4=true")
        #expect(urls.hlsMediaPlaylist(tokens: ["audio=1", "video=2"]) == "my%20movie-audio=1-video=2.m3u8?session_id=4157&hls.fmp4=true")
        #expect(urls.hlsTSSegment(tokens: ["video=2"], number: 9) == "my%20movie-video=2-9.ts?session_id=4157&hls.fmp4=true")
        let dollars = ChildURL(base: "x", query: "a=$1")
        #expect(dollars.dashTimeTemplate == "x-$RepresentationID$-$Time$.dash?a=$$1")
        #expect(try VirtualPath.parse("my movie-video=2-9.ts", trackNames: names) == .hlsTSSegment(tokens: ["video=2"], number: 9))
    }

    @Test func queryDecoding() throws {
        let q = try QueryOptions(raw: "a=1&b=%41%42+c&flag&a=2")
        #expect(q.value("a") == "2")
        #expect(q.value("b") == "AB c")
        #expect(try q.flag("flag") == true)
        #expect(throws: PlayerURLError.self) { try QueryOptions(raw: "x=%4") }
        #expect(throws: PlayerURLError.self) { try QueryOptions(raw: String(repeating: "a", count: 5000)) }
    }
}

@Suite struct ManifestPathTests {
    func length(_ s: String) -> Int? { ManifestPath.length(of: Array(s.utf8)) }

    @Test func fileNamesTheEngineServes() {
        #expect(ManifestPath.kind(of: "/v/movie.ISM") == .serverManifest)
        #expect(ManifestPath.kind(of: "live.isml") == .serverManifest && ManifestPath.kind(of: "a.smil") == .serverManifest)
        for ext in ["mp4", "ismv", "isma", "cmfv", "cmfa", "m4v", "M4A"] {
            #expect(ManifestPath.kind(of: "x." + ext) == .media, "\(ext)")
        }
        #expect(ManifestPath.kind(of: "/v/.ism") == nil)       // an extension alone is no name
        #expect(ManifestPath.kind(of: "movie.mkv") == nil && ManifestPath.kind(of: "") == nil)
    }

    @Test func theFilePartOfAPathIsTheShortestServedName() {
        #expect(length("a/b/x.ism/.m3u8") == 9)
        #expect(length("a/b/x.ism") == 9)                       // the end counts too
        #expect(length("dir.mp4/x.ism/.mpd") == 7)              // shortest first
        #expect(length("a/x.ismx/y.mp4/.mpd") == 14)
        #expect(length("/.ism/x") == nil && length("x.iSmL/Manifest") == 6)
        #expect(length("") == nil && length("no/manifest/here") == nil)
        #expect(length("é.mp4/.m3u8") == "é.mp4".utf8.count)  // bytes, not characters
    }
}
