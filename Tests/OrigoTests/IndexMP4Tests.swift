import ByteIO
@testable import Engine
@testable import ISOBMFF
import MediaModel
import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Index MP4s (`--use_dref_no_subs`): written by ``IndexWriter``, read back through ``MP4Reader``
/// with the data reference resolved, and served by the engine from the referenced media.
@Suite struct IndexMP4Tests {
    /// Writes an index of every track of fixture `name`, referring to `reference`.
    func index(of name: String, reference: String) throws -> [UInt8] {
        let source = try Fixtures.index(name)
        return try IndexWriter.write(source.tracks.map { IndexWriter.Entry(track: $0, reference: reference) })
    }

    func read(_ bytes: [UInt8], locator: String, resolver: DataReferenceResolver?) throws -> MP4Index {
        try MP4Reader.read(MemoryReader(bytes), locator: locator, resolver: resolver)
    }

    func expectSameTracks(_ a: Track, _ b: Track) {
        #expect(a.trackID == b.trackID && a.kind == b.kind && a.timescale == b.timescale)
        #expect(a.language == b.language && a.sampleEntry == b.sampleEntry && a.codecsString == b.codecsString)
        #expect(a.width == b.width && a.height == b.height && a.sampleRate == b.sampleRate && a.channels == b.channels)
        #expect(a.samples.sizes == b.samples.sizes)
        #expect(a.samples.offsets == b.samples.offsets)
        #expect(a.samples.durations == b.samples.durations)
        #expect(a.samples.count == b.samples.count)
        for i in 0..<min(a.samples.count, b.samples.count) {
            #expect(a.presentationTime(of: i) == b.presentationTime(of: i), "PT of sample \(i)")
            #expect(a.samples.isSync(i) == b.samples.isSync(i))
        }
    }

    @Test(arguments: ["progressive.mp4", "fragmented.mp4"])
    func roundTripKeepsEverySample(name: String) throws {
        let source = try Fixtures.index(name)
        let bytes = try index(of: name, reference: name)
        var asked: [String] = []
        let back = try read(bytes, locator: "/media/x/\(name)-index.mp4") { reference in
            asked.append(reference)
            return ResolvedDataReference(locator: Fixtures.path(name), size: UInt64(try Fixtures.bytes(name).count))
        }
        #expect(asked == [name], "one resolution per distinct reference")
        #expect(back.tracks.count == source.tracks.count)
        #expect(back.dataReferences == Dictionary(uniqueKeysWithValues: source.tracks.map { ($0.trackID, name) }))
        for (a, b) in zip(source.tracks, back.tracks) {
            expectSameTracks(a, b)
            #expect(b.dataSource == Fixtures.path(name))
        }
        // No media data in the index: it is small next to its media.
        #expect(bytes.count < 4096)
        #expect(!bytes.indices.dropLast(4).contains { Array(bytes[$0..<$0 + 4]) == Array("mdat".utf8) })
    }

    @Test func timingOfAFragmentedSourceStartingLateIsKept() throws {
        // Decode times start at 9000 with a gap, composition offsets, one presentation offset.
        var samples = SampleTable()
        let times: [Int64] = [9000, 9512, 10024, 11000, 11512]
        for (i, t) in times.enumerated() {
            samples.append(decodeTime: t, duration: 512, compositionOffset: i == 0 ? 1024 : 512,
                           size: UInt32(100 + i), offset: UInt64(5000 + i * 200), isSync: i % 3 == 0)
        }
        let track = Track(trackID: 7, kind: .video, timescale: 12800, language: "eng", sampleEntryType: "avc1",
                          sampleEntry: Array(repeating: 0, count: 8), codec: .other, width: 16, height: 16,
                          samples: samples, presentationOffset: 1024, dataSource: "/m.cmfv")
        let bytes = try IndexWriter.write([IndexWriter.Entry(track: track, reference: "m.cmfv")])
        let back = try read(bytes, locator: "/x/i.mp4") { _ in ResolvedDataReference(locator: "/m.cmfv", size: nil) }
        let got = try #require(back.tracks.first)
        #expect(got.samples.sizes == samples.sizes && got.samples.offsets == samples.offsets)
        #expect(got.samples.syncFlags == samples.syncFlags)
        for i in 0..<times.count { #expect(got.presentationTime(of: i) == track.presentationTime(of: i), "sample \(i)") }
    }

    @Test func aNegativePresentationOffsetBecomesAnEmptyEdit() throws {
        var samples = SampleTable()
        for i in 0..<4 { samples.append(decodeTime: 2048 + Int64(i) * 1024, duration: 1024, compositionOffset: 0,
                                        size: 10, offset: UInt64(i * 10), isSync: true) }
        let track = Track(trackID: 1, kind: .audio, timescale: 48000, language: "und", sampleEntryType: "mp4a",
                          sampleEntry: Array(repeating: 0, count: 8), codec: .other, samples: samples,
                          presentationOffset: 0, dataSource: "/a.cmfa")
        let bytes = try IndexWriter.write([IndexWriter.Entry(track: track, reference: "a.cmfa")])
        let back = try read(bytes, locator: "/i.mp4") { _ in ResolvedDataReference(locator: "/a.cmfa", size: 40) }
        let got = try #require(back.tracks.first)
        for i in 0..<4 { #expect(got.presentationTime(of: i) == track.presentationTime(of: i)) }
    }

    @Test func refusesWhatCannotBeServed() throws {
        let bytes = try index(of: "progressive.mp4", reference: "progressive.mp4")
        // Without a resolver an index is unsupported, as before.
        #expect(throws: ISOBMFFError.self) { try read(bytes, locator: "/i.mp4", resolver: nil) }
        // Samples outside the referenced file.
        #expect(throws: ISOBMFFError.self) {
            try read(bytes, locator: "/i.mp4") { _ in ResolvedDataReference(locator: "/m.mp4", size: 1000) }
        }
        // Writer: duplicate track IDs, no tracks.
        let track = try #require(try Fixtures.index("progressive.mp4").tracks.first)
        #expect(throws: ISOBMFFError.self) {
            try IndexWriter.write([IndexWriter.Entry(track: track, reference: "a"), IndexWriter.Entry(track: track, reference: "b")])
        }
        #expect(throws: ISOBMFFError.self) { try IndexWriter.write([]) }
    }

    @Test func locatorsResolveAgainstTheIndexFile() {
        #expect(Locator.resolve("a.cmfv", against: "/var/www/vod/a-index.mp4") == "/var/www/vod/a.cmfv")
        #expect(Locator.resolve("../media/a.cmfv", against: "/var/www/vod/a-index.mp4") == "/var/www/vod/../media/a.cmfv")
        #expect(Locator.resolve("/srv/a.cmfv", against: "/var/www/vod/a-index.mp4") == "/srv/a.cmfv")
        #expect(Locator.resolve("a.cmfv", against: "a-index.mp4") == "./a.cmfv")
        #expect(Locator.resolve("http://s/a.cmfv", against: "/var/www/vod/a-index.mp4") == "http://s/a.cmfv")
        #expect(Locator.resolve("a.cmfv", against: "http://s:81/b/tos/a-index.mp4?sig=1") == "http://s:81/b/tos/a.cmfv")
        #expect(Locator.resolve("../x/a.cmfv", against: "http://s/b/tos/a-index.mp4") == "http://s/b/x/a.cmfv")
        // A remote index never reaches local files or other schemes.
        #expect(Locator.resolve("/etc/passwd", against: "http://s/b/i.mp4") == "http://s/etc/passwd")
        #expect(Locator.resolve("file:///etc/passwd", against: "http://s/b/i.mp4") == nil)
        #expect(Locator.resolve("file:///etc/passwd", against: "/var/www/i.mp4") == nil)
        #expect(Locator.resolve("//evil/a.mp4", against: "/var/www/i.mp4") == nil)
        #expect(Locator.resolve("", against: "/var/www/i.mp4") == nil)
        #expect(Locator.resolve("a\nb", against: "/var/www/i.mp4") == nil)
    }
}

/// The engine serving index MP4s: locally (file pieces of the referenced media) and through an
/// upstream (sample ranges of the referenced URL), with the same bytes as the media itself.
@Suite struct IndexMP4EngineTests {
    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/origo-index-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            return mkdtemp(base) != nil
        }
        try #require(made)
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        let file = try #require(fopen(path, "wb"))
        defer { fclose(file) }
        let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        try #require(n == bytes.count)
    }

    static let ism = Array("""
        <?xml version="1.0" encoding="utf-8"?>
        <smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head></head><body><switch>
        <video src="movie-index.mp4"/><audio src="movie-index.mp4"/>
        </switch></body></smil>
        """.utf8)

    func body(_ r: EngineResponse) throws -> [UInt8] {
        try r.body.flatMap { p -> [UInt8] in
            switch p {
            case .bytes(let b): return b
            case .file(let path, let o, let n): return Array(try LocalFileBytes.read(path)[Int(o)..<Int(o + n)])
            }
        }
    }

    func lines(_ r: EngineResponse) throws -> [String] {
        String(decoding: try body(r), as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
    }

    /// Every HLS TS and DASH segment path of a presentation (via its playlists and MPD).
    func segmentPaths(_ get: (String) -> EngineResponse) throws -> [String] {
        var paths: [String] = []
        let master = get(".m3u8")
        #expect(master.status == 200, "\(master.logReason ?? "")")
        for variant in try lines(master) {
            paths += try lines(get(variant))
        }
        let mpd = get(".mpd")
        #expect(mpd.status == 200, "\(mpd.logReason ?? "")")
        return paths
    }

    @Test(arguments: ["progressive.mp4", "fragmented.mp4"])
    func localIndexServesTheSameSegments(name: String) throws {
        let dir = try Self.temporaryDirectory()
        defer { _ = system("rm -rf '\(dir)'") }
        try Self.write(try Fixtures.bytes(name), to: dir + "/movie.mp4")
        let source = try Fixtures.index(name)
        try Self.write(try IndexWriter.write(source.tracks.map { IndexWriter.Entry(track: $0, reference: "movie.mp4") }),
                       to: dir + "/movie-index.mp4")
        try Self.write(Self.ism, to: dir + "/movie.ism")
        try Self.write(Self.ism.replacingIndexName(), to: dir + "/direct.ism")
        let engine = Engine()
        func viaIndex(_ p: String) -> EngineResponse { get(engine, dir + "/movie.ism", p) }
        func direct(_ p: String) -> EngineResponse { get(engine, dir + "/direct.ism", p) }
        let paths = try segmentPaths(viaIndex)
        #expect(!paths.isEmpty)
        let m1 = String(decoding: try body(viaIndex(".m3u8")), as: UTF8.self)
        let m2 = String(decoding: try body(direct(".m3u8")), as: UTF8.self).replacingOccurrences("direct-", "movie-")
        #expect(m1 == m2)
        for p in paths {
            let a = viaIndex(p), b = direct(p)
            #expect(a.status == b.status, "\(p): \(a.logReason ?? "")")
            #expect(try body(a) == body(b), "\(p)")
        }
        // fMP4 segments are file pieces of the referenced media (sendfile), not of the index.
        let dash = get(engine, dir + "/movie.ism", ".mpd")
        #expect(dash.status == 200)
        // A replaced media file is noticed (it is one of the presentation's sources).
        let loaded = try engine.loader.load(manifestPath: dir + "/movie.ism", maxIndexBytes: 0)
        #expect(loaded.sources.map(\.path).contains(dir + "/movie.mp4"))
        // A missing media file is a 404, not a trap.
        _ = unlink(dir + "/movie.mp4")
        #expect(Engine().handle(EngineRequest(method: "GET", manifestPath: dir + "/movie.ism", virtualPath: ".m3u8",
                                              query: nil)).status == 404)
    }

    func get(_ engine: Engine, _ manifest: String, _ path: String) -> EngineResponse {
        let parts = path.split(separator: "?", maxSplits: 1).map(String.init)
        return engine.handle(EngineRequest(method: "GET", manifestPath: manifest, virtualPath: parts[0],
                                           query: parts.count > 1 ? parts[1] : nil))
    }

    @Test func remoteIndexReadsSamplesFromTheReferencedURL() throws {
        let base = "http://storage:1/vod/"
        let u = FakeUpstream()
        u.objects[base + "movie.mp4"] = try Fixtures.bytes("fragmented.mp4")
        u.objects[base + "movie-index.mp4"] = try IndexWriter.write(try Fixtures.index("fragmented.mp4").tracks.map {
            IndexWriter.Entry(track: $0, reference: "movie.mp4")
        })
        u.objects[base + "movie.ism"] = Self.ism
        u.objects[base + "direct.ism"] = Self.ism.replacingIndexName()
        let engine = Engine()
        func remote(_ manifest: String, _ p: String) -> EngineResponse {
            let parts = p.split(separator: "?", maxSplits: 1).map(String.init)
            return engine.handle(EngineRequest(method: "GET", manifestPath: base + manifest, virtualPath: parts[0],
                                               query: parts.count > 1 ? parts[1] : nil, upstream: u))
        }
        let paths = try segmentPaths { remote("movie.ism", $0) }
        // Building the presentation read the manifest and the index, never the media.
        #expect(u.requests(to: base + "movie.mp4") == 0)
        let viaIndex = try paths.map { p in
            let r = remote("movie.ism", p)
            #expect(r.status == 200, "\(p): \(r.logReason ?? "")")
            return try body(r)
        }
        // Media reads are sample ranges only (one per segment); the index was read once.
        let mediaReads = u.log.filter { $0.url == base + "movie.mp4" }
        #expect(mediaReads.count == paths.count)
        #expect(mediaReads.allSatisfy { $0.offset > 0 && $0.length > 0 && $0.length < 65536 })
        #expect(u.requests(to: base + "movie-index.mp4") == 1)
        #expect(try viaIndex == paths.map { try body(remote("direct.ism", $0)) })
    }

    @Test func remoteIndexCannotReachLocalFiles() throws {
        let base = "http://storage:1/vod/"
        let u = FakeUpstream()
        u.objects[base + "movie-index.mp4"] = try IndexWriter.write(try Fixtures.index("progressive.mp4").tracks.map {
            IndexWriter.Entry(track: $0, reference: "file://" + Fixtures.path("progressive.mp4"))
        })
        let r = Engine().handle(EngineRequest(method: "GET", manifestPath: base + "movie-index.mp4", virtualPath: ".m3u8",
                                              query: nil, upstream: u))
        #expect(r.status == 501, "\(r.logReason ?? "")")
    }
}

private extension Array where Element == UInt8 {
    /// The same manifest over the media file itself.
    func replacingIndexName() -> [UInt8] {
        Array(String(decoding: self, as: UTF8.self).replacingOccurrences("movie-index.mp4", "movie.mp4").utf8)
    }
}

private extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
