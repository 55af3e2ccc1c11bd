import ByteIO
@testable import Engine
import ISOBMFF
import MediaModel
import Storage
import Testing

/// The engine end to end, in process, over the fixtures: routing, manifests, segments, errors.
@Suite struct EngineTests {
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

    @Test func dashSegmentsRebuildTheTracks() throws {
        let mpd = get(".mpd")
        #expect(mpd.status == 200)
        #expect(mpd.contentType == "application/dash+xml")
        let source = try Fixtures.index("progressive.mp4")
        let presentationTokens = ["video=", "audio_fra="]
        let xml = text(mpd)
        for (prefix, track) in zip(presentationTokens, [source.tracks[0], source.tracks[1]]) {
            // Find the representation id in the MPD.
            guard let id = xml.split(separator: "\"").first(where: { $0.hasPrefix(prefix) }) else {
                Issue.record("no representation \(prefix) in \(xml)"); continue
            }
            var file = try body(get("progressive-\(id).dash"))
            var t: Int64 = 0
            var n = 0
            while n < 100 {
                let r = get("progressive-\(id)-\(t).dash")
                guard r.status == 200 else { break }
                let seg = try body(r)
                file += seg
                let index = try MP4Reader.read(MemoryReader(file), locator: "mem")
                let samples = index.tracks[0].samples
                // The next segment starts where this one's decode timeline ends (sync samples
                // carry no composition offset on the fragment timeline).
                t = samples.decodeTimes[samples.count - 1] &+ Int64(samples.durations[samples.count - 1])
                n += 1
            }
            let rebuilt = try MP4Reader.read(MemoryReader(file), locator: "mem").tracks[0]
            #expect(rebuilt.samples.count == track.samples.count, "\(prefix) rebuilt from \(n) segments")
        }
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
