@testable import Engine
import Storage
import Testing

/// Requests with `noWait` (an event-loop server's first try, ABI 7): answered from memory exactly
/// as a blocking request would answer them, and `wouldBlock` wherever the engine would read or
/// build something first.
@Suite struct NoWaitTests {
    let dir = SubtitlesTests.temporaryDirectory()
    let engine = Engine()
    var ism: String { dir + "/x.ism" }

    init() throws {
        try FileCheckTests.copy(Fixtures.path("progressive.mp4"), to: dir + "/v.mp4")
        SubtitlesTests.write(dir + "/x.ism", """
            <smil xmlns="http://www.w3.org/2001/SMIL20/Language"><body><switch>
            <video src="v.mp4" systemBitrate="100000"/>
            </switch></body></smil>
            """)
    }

    func get(_ path: String, query: String? = nil, noWait: Bool) -> EngineResponse {
        engine.handle(EngineRequest(method: "GET", manifestPath: ism, virtualPath: path, query: query, noWait: noWait))
    }

    func expectSame(_ a: EngineResponse, _ b: EngineResponse) {
        #expect(a.status == b.status)
        #expect(a.etag == b.etag)
        #expect(a.contentType == b.contentType)
        #expect(a.lastModified == b.lastModified)
        #expect(a.body == b.body)
    }

    @Test func aColdEngineWouldBlockOnEverything() {
        for path in [".mpd", ".m3u8", "x-video=100000-n1.dash", "x-video=100000-1.ts", "Manifest"] {
            let r = get(path, noWait: true)
            #expect(r.status == 0, "\(path): \(r.status) \(r.logReason ?? "")")
            #expect(r.body.isEmpty && r.logReason == nil)
        }
        // Nothing was loaded on the way: the blocking request is the first to read.
        #expect(engine.loader.cacheUse.presentationBytes == 0)
    }

    @Test func warmManifestsAndFileSegmentsAreAnsweredTheSame() {
        for path in [".mpd", ".m3u8", "x-video=100000.m3u8", "Manifest"] {
            let blocking = get(path, noWait: false)
            #expect(blocking.status == 200, "\(path): \(blocking.logReason ?? "")")
            expectSame(get(path, noWait: true), blocking)
            // Another session id shares the built manifest.
            expectSame(get(path, query: "session_id=7", noWait: true), get(path, query: "session_id=7", noWait: false))
        }
        let segment = get("x-video=100000-n2.dash", noWait: false)
        #expect(segment.status == 200)
        #expect(segment.body.contains { if case .file = $0 { true } else { false } })
        expectSame(get("x-video=100000-n2.dash", noWait: true), segment)
        // Errors found from memory are answered too.
        #expect(get("x-video=100000-n9999.dash", noWait: true).status == 404)
    }

    @Test func whatNeedsReadingOrBuildingWouldBlock() throws {
        #expect(get(".mpd", noWait: false).status == 200)
        // TS copies sample bytes; a manifest with other format options is not built yet; a
        // filtered view is not derived yet.
        #expect(get("x-video=100000-1.ts", noWait: true).status == 0)
        #expect(get(".m3u8", query: "hls.minimum_fragment_length=6", noWait: true).status == 0)
        #expect(get(".mpd", query: "filter=systemBitrate%3C200000", noWait: true).status == 0)
        #expect(get(".mpd", query: "filter=systemBitrate%3C200000", noWait: false).status == 200)
        #expect(get(".mpd", query: "filter=systemBitrate%3C200000", noWait: true).status == 200)

        // A changed server manifest is noticed (stat) and read only by a blocking request.
        let before = get(".mpd", noWait: true)
        #expect(before.status == 200)
        try FileCheckTests.write(Array("""
            <smil xmlns="http://www.w3.org/2001/SMIL20/Language"><body><switch>
            <video src="v.mp4" systemBitrate="200000"/>
            </switch></body></smil>
            """.utf8), to: ism)
        #expect(get(".mpd", noWait: true).status == 0)
        let after = get(".mpd", noWait: false)
        #expect(after.status == 200 && after.etag != before.etag)
        expectSame(get(".mpd", noWait: true), after)
    }
}

/// A no-wait request never asks the upstream: an event loop must not wait for bytes it is the
/// one to fetch.
@Suite struct NoWaitRemoteTests {
    @Test func remotePresentationsAreAnsweredFromMemoryOrWouldBlock() throws {
        let remote = RemoteEngineTests()
        let u = try remote.upstream()
        let engine = Engine()
        func get(_ path: String, noWait: Bool) -> EngineResponse {
            engine.handle(EngineRequest(method: "GET", manifestPath: RemoteEngineTests.base + "movie.ism", virtualPath: path,
                                        query: nil, upstream: u, noWait: noWait))
        }
        #expect(get(".mpd", noWait: true).status == 0)
        #expect(u.log.isEmpty)
        let mpd = get(".mpd", noWait: false)
        #expect(mpd.status == 200)
        let master = get(".m3u8", noWait: false)
        let variant = try #require(remote.text(master).split(separator: "\n").first { !$0.hasPrefix("#") })
        let playlist = get(String(variant), noWait: false)
        let segment = try #require(remote.text(playlist).split(separator: "\n").first { !$0.hasPrefix("#") })
        let reads = u.log.count
        #expect(get(".mpd", noWait: true).body == mpd.body)
        #expect(get(String(variant), noWait: true).body == playlist.body)
        // Segment samples live upstream: always read, so always off the loop.
        #expect(get(String(segment), noWait: true).status == 0)
        #expect(u.log.count == reads)
        #expect(get(String(segment), noWait: false).status == 200)
    }
}

/// Live publishing points read their store on every request: a no-wait request never answers one.
@Suite struct NoWaitLiveTests {
    @Test func anIsmlWouldBlock() {
        let dir = SubtitlesTests.temporaryDirectory()
        SubtitlesTests.write(dir + "/ch.isml", """
            <smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head></head><body><switch/></body></smil>
            """)
        let engine = Engine()
        for path in [".m3u8", ".mpd", "Manifest"] {
            let r = engine.handle(EngineRequest(method: "GET", manifestPath: dir + "/ch.isml", virtualPath: path,
                                                query: nil, noWait: true))
            #expect(r.status == 0, "\(path): \(r.status)")
        }
    }
}
