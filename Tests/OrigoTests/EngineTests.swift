import ByteIO
@testable import Engine
import ISOBMFF
import MediaModel
import Storage
import Testing

/// The engine end to end, in process, over the fixtures: routing, manifests, segments, errors.
@Suite struct EngineTests {
    @Test func etagsAreSixteenHexDigits() {
        var a = FNV1a()
        a.add(Array("a".utf8))
        #expect(a.etag == "\"origo-af63dc4c8601ec8c\"")
        var zeros = FNV1a()
        zeros.add(Array("13900".utf8))
        #expect(zeros.etag == "\"origo-00f5898e9456454c\"")
    }

    let engine = Engine()
    let movie = Fixtures.path("progressive.mp4")

    func get(_ path: String, _ query: String? = nil, manifest: String? = nil, method: String = "GET") -> EngineResponse {
        engine.handle(EngineRequest(method: method, manifestPath: manifest ?? movie, virtualPath: path, query: query))
    }

    func text(_ r: EngineResponse) -> String {
        var out: [UInt8] = []
        for piece in r.body { if case .bytes(let b) = piece { out += b } }
        return String(decoding: out, as: UTF8.self)
    }

    /// Body bytes with file ranges filled in from the source.
    func body(_ r: EngineResponse) throws -> [UInt8] {
        var out: [UInt8] = []
        for piece in r.body {
            switch piece {
            case .bytes(let b): out += b
            case .file(let path, let offset, let length):
                let file = try LocalFileBytes.read(path)
                out += file[Int(offset)..<Int(offset + length)]
            }
        }
        return out
    }

    func lines(_ r: EngineResponse) -> [String] { text(r).split(separator: "\n").map(String.init) }

    @Test func hlsMasterAndMediaPlaylists() throws {
        let master = get(".m3u8")
        #expect(master.status == 200)
        #expect(master.contentType == "application/vnd.apple.mpegurl")
        let variant = try #require(lines(master).first { !$0.hasPrefix("#") })
        let media = get(variant)
        #expect(media.status == 200, "\(media.logReason ?? "")")
        let segments = lines(media).filter { !$0.hasPrefix("#") }
        #expect(!segments.isEmpty)
        #expect(lines(media).last == "#EXT-X-ENDLIST")
        for name in segments {
            let seg = get(name)
            #expect(seg.status == 200, "\(name): \(seg.logReason ?? "")")
            #expect(seg.contentType == "video/MP2T")
            let bytes = try body(seg)
            #expect(bytes.count % 188 == 0 && bytes.first == 0x47)
        }
    }

    /// All `t="…"` values of the first `SegmentTimeline` after `marker` in an MPD, expanded with `d`/`r`.
    func segmentTimes(_ mpd: String, after marker: String) -> [Int64] {
        guard let start = mpd.split(separator: "\n").firstIndex(where: { $0.contains(marker) }) else { return [] }
        var times: [Int64] = []
        var next: Int64 = 0
        for line in mpd.split(separator: "\n")[start...] {
            if line.contains("</SegmentTimeline>") { break }
            guard line.contains("<S ") else { continue }
            func value(_ name: String) -> Int64? {
                let parts = line.split(separator: "\"")
                guard let k = parts.firstIndex(where: { $0.hasSuffix(" \(name)=") }), k + 1 < parts.count else { return nil }
                return Int64(parts[k + 1])
            }
            var t = value("t") ?? next
            let d = value("d") ?? 0
            for _ in 0...(value("r") ?? 0) {
                times.append(t)
                t += d
            }
            next = t
        }
        return times
    }

    @Test func dashSegmentsRebuildTheTracks() throws {
        let mpd = get(".mpd")
        #expect(mpd.status == 200)
        #expect(mpd.contentType == "application/dash+xml")
        let xml = text(mpd)
        let source = try Fixtures.index("progressive.mp4")
        for track in source.tracks {
            let prefix = track.kind == .video ? "video=" : "audio_fra="
            guard let id = xml.split(separator: "\"").first(where: { $0.hasPrefix(prefix) }) else {
                Issue.record("no representation \(prefix) in \(xml)"); continue
            }
            let times = segmentTimes(xml, after: "contentType=\"\(track.kind == .video ? "video" : "audio")\"")
            #expect(!times.isEmpty)
            var file = try body(get("progressive-\(id).dash"))
            for t in times {
                let r = get("progressive-\(id)-\(t).dash")
                #expect(r.status == 200, "segment at \(t): \(r.logReason ?? "")")
                file += try body(r)
            }
            #expect(get("progressive-\(id)-\((times.first ?? 0) + 1).dash").status == 404)
            let rebuilt = try #require(try MP4Reader.read(MemoryReader(file), locator: "mem").tracks.first)
            #expect(rebuilt.samples.count == track.samples.count)
            for i in 0..<min(rebuilt.samples.count, track.samples.count) {
                #expect(rebuilt.presentationTime(of: i) == track.presentationTime(of: i), "PT of \(prefix) sample \(i)")
            }
            // $Number$ addressing reaches the same segments.
            #expect(try body(get("progressive-\(id)-n1.dash", "mpd.segment_template=number"))
                    == body(get("progressive-\(id)-\(times.first ?? 0).dash")))
        }
    }

    /// The base name child URLs start with: the manifest's file name without its extension.
    @Test func baseNames() {
        #expect(Engine.baseName("/var/www/vod/movie.ism") == "movie")
        #expect(Engine.baseName("https://origin.example/vod/a.b/movie.mp4") == "movie")
        #expect(Engine.baseName("/vod/movie.ism/") == "movie")
        #expect(Engine.baseName("movie") == "movie")
        #expect(Engine.baseName("/vod/.ism") == ".ism")
    }

    @Test func httpErrors() {
        #expect(get(".m3u8", method: "POST").status == 405)
        #expect(get("nothing.txt").status == 404)
        #expect(get("progressive-video=1-1.ts").status == 404)
        #expect(get(".m3u8", manifest: "/nonexistent/x.ism").status == 404)
        let bad = get("progressive-video=abc-1.ts")
        #expect(bad.status == 400 || bad.status == 404)
        #expect(bad.logReason?.isEmpty == false)
    }
}

/// Reads a whole file for test assertions.
enum LocalFileBytes {
    static func read(_ path: String) throws -> [UInt8] {
        try Storage.LocalFile.contents(of: path, limit: 1 << 26)
    }
}
