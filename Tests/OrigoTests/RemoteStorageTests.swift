import ByteIO
@testable import Engine
import MediaModel
@testable import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// An in-memory upstream: objects by URL, honouring (or ignoring) ranges, counting requests.
final class FakeUpstream: Upstream, @unchecked Sendable {
    var objects: [String: [UInt8]] = [:]
    var etags: [String: String] = [:]
    /// Last-Modified per URL (seconds), and URLs whose ETag alternates per request (two storage nodes).
    var lastModified: [String: Int64] = [:]
    var flippingETags: Set<String> = []
    var ignoresRanges = false
    var statusOverride: [String: Int] = [:]
    var truncateBy = 0
    private(set) var log: [(url: String, offset: UInt64, length: UInt64)] = []

    func fetch(_ url: String, offset: UInt64, length: UInt64) throws(UpstreamError) -> UpstreamResponse {
        log.append((url, offset, length))
        if let status = statusOverride[url] { return UpstreamResponse(status: status, body: []) }
        guard let data = objects[url] else { return UpstreamResponse(status: 404, body: []) }
        let node = flippingETags.contains(url) && log.count % 2 == 0 ? "-b" : ""
        let etag = (etags[url] ?? "\"v1\"") + node
        let modified = lastModified[url] ?? 0
        if ignoresRanges || (offset == 0 && length == 0) {
            return UpstreamResponse(status: 200, body: data, totalSize: UInt64(data.count), etag: etag, lastModified: modified)
        }
        guard offset < UInt64(data.count) else { return UpstreamResponse(status: 416, body: []) }
        let end = length == 0 ? data.count : min(data.count, Int(offset + length))
        var body = Array(data[Int(offset)..<end])
        if truncateBy > 0 { body.removeLast(min(truncateBy, body.count)) }
        return UpstreamResponse(status: 206, body: body, bodyOffset: offset, totalSize: UInt64(data.count), etag: etag,
                                lastModified: modified)
    }

    func requests(to url: String) -> Int { log.filter { $0.url == url }.count }
}

@Suite struct RemoteURLTests {
    @Test func resolvesRelativeAndAbsoluteSources() {
        let base = "http://storage:8080/videos/tos/tos.ism"
        #expect(RemoteURL.resolve("tos-400k.mp4", against: base) == "http://storage:8080/videos/tos/tos-400k.mp4")
        #expect(RemoteURL.resolve("../other/a.mp4", against: base) == "http://storage:8080/videos/other/a.mp4")
        #expect(RemoteURL.resolve("../../../../a.mp4", against: base) == "http://storage:8080/a.mp4")
        #expect(RemoteURL.resolve("/root.mp4", against: base) == "http://storage:8080/root.mp4")
        #expect(RemoteURL.resolve("./x/./y.mp4", against: base) == "http://storage:8080/videos/tos/x/y.mp4")
        #expect(RemoteURL.resolve("HTTPS://cdn.example/a/../b.mp4", against: base) == "HTTPS://cdn.example/b.mp4")
        #expect(RemoteURL.resolve("a.mp4", against: "http://cms/smil.php/CACHE.ism?url=x") == "http://cms/smil.php/a.mp4")
        #expect(RemoteURL.resolve("s3://bucket/a.mp4", against: base) == nil)
        #expect(RemoteURL.resolve("//evil/a.mp4", against: base) == nil)
        #expect(RemoteURL.resolve("", against: base) == nil)
        #expect(RemoteURL.resolve("a\r\nb.mp4", against: base) == nil)
    }

    @Test func queries() {
        #expect(RemoteURL.appendingQuery("http://h/a.ism", "url=x") == "http://h/a.ism?url=x")
        #expect(RemoteURL.appendingQuery("http://h/a.ism?k=1", "url=x") == "http://h/a.ism?k=1&url=x")
        #expect(RemoteURL.appendingQuery("http://h/a.ism", nil) == "http://h/a.ism")
        #expect(RemoteURL.withoutQuery("http://h/a.ism?secret=1") == "http://h/a.ism")
        #expect(RemoteURL.isRemote("Http://h/") && !RemoteURL.isRemote("/var/www/a.ism"))
    }

    @Test func coalescesCloseRanges() {
        let policy = CoalescePolicy(maxGap: 100, maxRequest: 1000)
        let runs = policy.runs([(0, 10), (50, 10), (500, 10), (200, 10), (505, 100), (2000, 5000)])
        #expect(runs == [0..<60, 200..<210, 500..<605, 2000..<7000])
    }
}

@Suite struct RemoteReaderTests {
    let url = "http://s/obj"
    func upstream(_ size: Int) -> FakeUpstream {
        let u = FakeUpstream()
        u.objects[url] = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        return u
    }

    @Test func readsThroughWindows() throws {
        let u = upstream(10_000)
        let r = try RemoteReader(url: url, upstream: u, window: 1000)
        #expect(r.size == 10_000 && r.version.etag == "\"v1\"")
        #expect(try r.read(at: 10, count: 20) == Array(u.objects[url]![10..<30]))
        #expect(u.log.count == 1)
        #expect(try r.read(at: 5000, count: 10) == Array(u.objects[url]![5000..<5010]))
        #expect(try r.read(at: 5900, count: 100) == Array(u.objects[url]![5900..<6000]))
        #expect(u.log.count == 2)
        #expect(try r.read(at: 100, count: 3000) == Array(u.objects[url]![100..<3100]))
        #expect(u.log.count == 3)
        #expect(throws: UpstreamError.self) { try r.read(at: 9990, count: 11) }
    }

    @Test func slicesA200ToARangedRequest() throws {
        let u = upstream(5000)
        u.ignoresRanges = true
        let r = try RemoteReader(url: url, upstream: u, window: 100)
        #expect(try r.read(at: 4000, count: 10) == Array(u.objects[url]![4000..<4010]))
        #expect(u.log.count == 1)  // the whole object came with the first answer
    }

    @Test func failures() throws {
        let u = upstream(5000)
        #expect(throws: UpstreamError(.notFound, url: "http://s/missing", detail: "status 404")) {
            try RemoteReader(url: "http://s/missing", upstream: u)
        }
        u.statusOverride[url] = 403
        #expect(throws: UpstreamError(.forbidden, url: url, detail: "status 403")) { try RemoteReader(url: url, upstream: u) }
        u.statusOverride[url] = 503
        do { _ = try RemoteReader(url: url, upstream: u); Issue.record("no error") } catch { #expect(error.httpStatus == 502) }
        u.statusOverride = [:]
        u.truncateBy = 1
        do { _ = try RemoteReader(url: url, upstream: u, window: 100); Issue.record("no error") } catch {
            #expect(error.code == .shortBody && error.httpStatus == 502)
        }
        u.truncateBy = 0
        let r = try RemoteReader(url: url, upstream: u, window: 100)
        u.etags[url] = "\"v2\""
        do { _ = try r.read(at: 3000, count: 1); Issue.record("no error") } catch let e as UpstreamError {
            #expect(e.code == .changed)
        }
    }

    @Test func logReasonsHideQueries() {
        let e = UpstreamError(.forbidden, url: "http://s/a.mp4?X-Amz-Signature=secret")
        #expect(!e.logReason.contains("secret"))
    }
}

/// The engine over a fake upstream holding the test fixture: manifests, segments, request counts.
@Suite struct RemoteEngineTests {
    static let base = "http://storage:1/vod/"

    func upstream() throws -> FakeUpstream {
        let u = FakeUpstream()
        u.objects[Self.base + "movie.mp4"] = try LocalFileBytes.read(Fixtures.path("progressive.mp4"))
        u.objects[Self.base + "movie.ism"] = Array("""
            <?xml version="1.0" encoding="utf-8"?>
            <smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head></head><body><switch>
            <video src="movie.mp4"/><audio src="movie.mp4"/>
            </switch></body></smil>
            """.utf8)
        return u
    }

    func get(_ engine: Engine, _ u: FakeUpstream, _ manifest: String, _ path: String, query: String? = nil) -> EngineResponse {
        engine.handle(EngineRequest(method: "GET", manifestPath: Self.base + manifest, virtualPath: path, query: query, upstream: u))
    }

    func text(_ r: EngineResponse) -> String {
        String(decoding: bytes(r), as: UTF8.self)
    }

    func bytes(_ r: EngineResponse) -> [UInt8] {
        r.body.flatMap { piece -> [UInt8] in if case .bytes(let b) = piece { b } else { [] } }
    }

    @Test func remoteServerManifestServesSegmentsWithOneReadPerTrack() throws {
        let u = try upstream()
        let engine = Engine()
        let mpd = get(engine, u, "movie.ism", ".mpd")
        #expect(mpd.status == 200, "\(mpd.logReason ?? "")")
        let master = get(engine, u, "movie.ism", ".m3u8")
        #expect(master.status == 200)
        let variant = try #require(text(master).split(separator: "\n").first { !$0.hasPrefix("#") })
        let playlist = get(engine, u, "movie.ism", String(variant))
        let segment = try #require(text(playlist).split(separator: "\n").first { !$0.hasPrefix("#") })
        let before = u.log.count
        let ts = get(engine, u, "movie.ism", String(segment))
        #expect(ts.status == 200, "\(ts.logReason ?? "")")
        // Video and audio of one file, interleaved: coalesced into a single ranged read.
        #expect(u.log.count - before == 1)
        // fMP4/DASH segment: bytes only, one read.
        let local = Engine().handle(EngineRequest(method: "GET", manifestPath: Fixtures.path("progressive.mp4"),
                                                  virtualPath: ".mpd", query: nil))
        #expect(local.status == 200)
        let before2 = u.log.count
        let init0 = get(engine, u, "movie.ism", String(segment))
        #expect(init0.status == 200 && u.log.count - before2 == 1)
        for piece in ts.body { if case .file = piece { Issue.record("remote segment has a file piece") } }
        // The manifest was fetched once: warm requests inside the TTL do not ask again.
        #expect(u.requests(to: Self.base + "movie.ism") == 1)
    }

    @Test func remoteSegmentsMatchLocalOnes() throws {
        let u = try upstream()
        u.objects[Self.base + "progressive.mp4"] = u.objects[Self.base + "movie.mp4"]
        let engine = Engine()
        let local = Engine()
        for path in [".mpd", ".m3u8"] {
            let r = get(engine, u, "progressive.mp4", path)
            let l = local.handle(EngineRequest(method: "GET", manifestPath: Fixtures.path("progressive.mp4"), virtualPath: path, query: nil))
            #expect(r.status == 200 && text(r) == text(l))
        }
        let master = text(get(engine, u, "progressive.mp4", ".m3u8"))
        let variant = try #require(master.split(separator: "\n").first { !$0.hasPrefix("#") })
        let segs = text(get(engine, u, "progressive.mp4", String(variant))).split(separator: "\n").filter { !$0.hasPrefix("#") }
        for s in segs.prefix(3) {
            let r = get(engine, u, "progressive.mp4", String(s))
            let l = local.handle(EngineRequest(method: "GET", manifestPath: Fixtures.path("progressive.mp4"), virtualPath: String(s), query: nil))
            #expect(r.status == 200)
            let lb: [UInt8] = try l.body.flatMap { p -> [UInt8] in
                switch p {
                case .bytes(let b): return b
                case .file(let path, let o, let n): return Array(try LocalFileBytes.read(path)[Int(o)..<Int(o + n)])
                }
            }
            #expect(bytes(r) == lb)
        }
    }

    @Test func queryGoesToTheManifestRequest() throws {
        let u = try upstream()
        u.objects[Self.base + "cms.ism?url=abc"] = u.objects[Self.base + "movie.ism"]
        let r = get(Engine(), u, "cms.ism", ".mpd", query: "url=abc")
        #expect(r.status == 200, "\(r.logReason ?? "")")
        #expect(u.log.contains { $0.url == Self.base + "cms.ism?url=abc" })
        #expect(!u.log.contains { $0.url.hasSuffix("movie.mp4?url=abc") })
    }

    @Test func upstreamFailuresMapToStatuses() throws {
        let u = try upstream()
        #expect(get(Engine(), u, "missing.ism", ".mpd").status == 404)
        u.statusOverride[Self.base + "movie.ism"] = 403
        #expect(get(Engine(), u, "movie.ism", ".mpd").status == 403)
        u.statusOverride[Self.base + "movie.ism"] = 500
        #expect(get(Engine(), u, "movie.ism", ".mpd").status == 502)
        u.statusOverride = [Self.base + "movie.mp4": 503]
        let clock = ClockBox()
        let engine = Engine(loader: PresentationLoader(indexCacheBytes: 1 << 26, presentationCacheBytes: 1 << 26,
                                                       failureTTL: 5, now: { clock.value }))
        #expect(get(engine, u, "movie.ism", ".mpd").status == 502)
        u.statusOverride = [:]
        // The failure is answered again for a few seconds without asking upstream ...
        let asked = u.log.count
        let again = get(engine, u, "movie.ism", ".mpd")
        #expect(again.status == 502 && u.log.count == asked && again.logReason?.contains("remembered") == true)
        // ... and then upstream is asked again: nothing broken was cached.
        clock.value = 5
        #expect(get(engine, u, "movie.ism", ".mpd").status == 200)
        let noUpstream = Engine().handle(EngineRequest(method: "GET", manifestPath: Self.base + "movie.ism", virtualPath: ".mpd", query: nil))
        #expect(noUpstream.status == 501)
    }

    @Test func mp4AddressedDirectlyIsReadByRangesWithoutTheQuery() throws {
        let u = try upstream()
        let engine = Engine()
        let mpd = get(engine, u, "movie.mp4", ".mpd", query: "versionId=old&acl")
        #expect(mpd.status == 200, "\(mpd.logReason ?? "")")
        let master = get(engine, u, "movie.mp4", ".m3u8", query: "versionId=old")
        let variant = try #require(text(master).split(separator: "\n").first { !$0.hasPrefix("#") })
        let playlist = text(get(engine, u, "movie.mp4", String(variant.split(separator: "?")[0]), query: "versionId=old"))
        let segment = try #require(playlist.split(separator: "\n").first { !$0.hasPrefix("#") })
        #expect(get(engine, u, "movie.mp4", String(segment.split(separator: "?")[0]), query: "versionId=old").status == 200)
        #expect(!u.log.isEmpty)
        for read in u.log {
            #expect(read.url == Self.base + "movie.mp4")  // no query on any read
            #expect(read.length > 0)                     // no whole-object read
        }
    }

    @Test func directMP4LargerThanAServerManifestPlays() throws {
        let u = try upstream()
        // The fixture padded with a 6 MB free box: beyond the server manifest's 4 MB limit.
        var big = try #require(u.objects[Self.base + "movie.mp4"])
        let pad = 6 << 20
        big += [UInt8(truncatingIfNeeded: pad >> 24), UInt8(truncatingIfNeeded: pad >> 16), UInt8(truncatingIfNeeded: pad >> 8),
                UInt8(truncatingIfNeeded: pad)] + Array("free".utf8) + [UInt8](repeating: 0, count: pad - 8)
        u.objects[Self.base + "big.mp4"] = big
        let mpd = get(Engine(), u, "big.mp4", ".mpd")
        #expect(mpd.status == 200, "\(mpd.logReason ?? "")")
        #expect(u.log.allSatisfy { $0.length > 0 && $0.length <= UInt64(RemoteReader.defaultWindow) })
    }

    @Test func storageNodesWithDifferentETagsServeOneObject() throws {
        let u = try upstream()
        let media = Self.base + "movie.mp4"
        u.lastModified[media] = 1_700_000_000
        u.flippingETags = [media]
        let engine = Engine()
        let master = get(engine, u, "movie.ism", ".m3u8")
        #expect(master.status == 200, "\(master.logReason ?? "")")
        let variant = try #require(text(master).split(separator: "\n").first { !$0.hasPrefix("#") })
        let segments = text(get(engine, u, "movie.ism", String(variant))).split(separator: "\n").filter { !$0.hasPrefix("#") }
        for s in segments.prefix(4) {
            let r = get(engine, u, "movie.ism", String(s))
            #expect(r.status == 200, "\(r.logReason ?? "")")
        }
        // Without a date to compare, a different ETag still means a different object.
        let v1 = RemoteVersion(etag: "\"a\"", size: 10, lastModified: 0)
        #expect(!v1.isSameObject(as: RemoteVersion(etag: "\"b\"", size: 10, lastModified: 0)))
        let dated = RemoteVersion(etag: "\"a\"", size: 10, lastModified: 5)
        #expect(dated.isSameObject(as: RemoteVersion(etag: "\"b\"", size: 10, lastModified: 5)))
        #expect(!dated.isSameObject(as: RemoteVersion(etag: "\"b\"", size: 10, lastModified: 6)))
        #expect(!dated.isSameObject(as: RemoteVersion(etag: "\"b\"", size: 11, lastModified: 5)))
    }

    @Test func aChangedObjectIsReloadedAndAnsweredAtOnce() throws {
        let u = try upstream()
        let engine = Engine()
        let master = get(engine, u, "movie.ism", ".m3u8")
        let variant = try #require(text(master).split(separator: "\n").first { !$0.hasPrefix("#") })
        let segments = text(get(engine, u, "movie.ism", String(variant))).split(separator: "\n").filter { !$0.hasPrefix("#") }
        u.etags[Self.base + "movie.mp4"] = "\"v2\""  // same bytes, new version, no date
        let r = get(engine, u, "movie.ism", String(try #require(segments.first)))
        #expect(r.status == 200, "\(r.logReason ?? "")")
    }

    @Test func revalidatesAfterTheTTL() throws {
        let u = try upstream()
        let clock = ClockBox()
        let loader = PresentationLoader(indexCacheBytes: 1 << 26, presentationCacheBytes: 1 << 26, remoteTTL: 60,
                                        now: { clock.value })
        _ = try loader.load(manifestPath: Self.base + "movie.ism", upstream: u, maxIndexBytes: 0)
        let cold = u.log.count
        _ = try loader.load(manifestPath: Self.base + "movie.ism", upstream: u, maxIndexBytes: 0)
        #expect(u.log.count == cold)
        clock.value = 61
        _ = try loader.load(manifestPath: Self.base + "movie.ism", upstream: u, maxIndexBytes: 0)
        #expect(u.log.count == cold + 2)  // manifest + a one-byte probe of the media
        clock.value = 200
        u.etags[Self.base + "movie.mp4"] = "\"v2\""
        _ = try loader.load(manifestPath: Self.base + "movie.ism", upstream: u, maxIndexBytes: 0)
        #expect(u.log.count > cold + 4)  // changed: read again
    }
}

final class ClockBox: @unchecked Sendable { var value: Int64 = 0 }
