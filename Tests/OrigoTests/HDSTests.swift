import ByteIO
@testable import Engine
@testable import HDS
import MediaModel
import PlayerURL
import Testing
import XML

@Suite struct HDSBootstrapTests {
    @Test func runsMergeEqualDurationsAndParseBack() throws {
        let b = Bootstrap(starts: [40, 2040, 4040, 6040, 8040], end: 10063, timescale: 1000, movieIdentifier: "abr")
        #expect(b.segmentRuns == [.init(firstSegment: 1, fragmentsPerSegment: 5)])
        #expect(b.fragmentRuns == [.init(firstFragment: 1, firstTimestamp: 40, duration: 2000),
                                   .init(firstFragment: 5, firstTimestamp: 8040, duration: 2023)])
        let parsed = try Bootstrap(parsing: b.bytes())
        #expect(parsed == b)
        #expect(parsed.fragments.map(\.start) == [40, 2040, 4040, 6040, 8040])
        #expect(parsed.fragments.map(\.duration) == [2000, 2000, 2000, 2000, 2023])
        #expect(parsed.currentMediaTime == 10063)
    }

    @Test func layoutFollowsTheSpecification() {
        let bytes = Bootstrap(starts: [0, 1000], end: 1500, timescale: 1000, movieIdentifier: "m").bytes()
        #expect(Array(bytes[4..<8]) == Array("abst".utf8))
        #expect(Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3]) == bytes.count)
        #expect(bytes[16] == 0)                                  // profile 0, not live, no update
        #expect(Array(bytes[17..<21]) == [0, 0, 0x03, 0xE8])     // timescale 1000
        #expect(Array(bytes[37..<39]) == [UInt8(ascii: "m"), 0]) // movie identifier
        // server count, quality count, DRM, metadata, one segment run table
        #expect(Array(bytes[39..<44]) == [0, 0, 0, 0, 1])
        #expect(Array(bytes[48..<52]) == Array("asrt".utf8))
    }

    @Test func truncatedOrWrongBoxesThrow() {
        let bytes = Bootstrap(starts: [0], end: 10, timescale: 1000, movieIdentifier: "").bytes()
        for cut in [0, 7, 20, bytes.count - 1] {
            #expect(throws: HDSError.self) { try Bootstrap(parsing: Array(bytes.prefix(cut))) }
        }
        var wrong = bytes
        wrong[4] = UInt8(ascii: "x")
        #expect(throws: HDSError.self) { try Bootstrap(parsing: wrong) }
        // A fragment run count far larger than the box.
        var huge = bytes
        huge[bytes.count - 20] = 0xFF                            // afrt FragmentRunEntryCount
        #expect(throws: HDSError.self) { try Bootstrap(parsing: huge) }
    }
}

@Suite struct FLVTagTests {
    @Test func headerSplitsTheTimestamp() {
        var w = ByteWriter()
        FLVTag.writeHeader(&w, type: FLVTag.video, dataSize: 0x123456, timestamp: 0x0102_0304)
        #expect(w.take() == [9, 0x12, 0x34, 0x56, 0x02, 0x03, 0x04, 0x01, 0, 0, 0])
        FLVTag.writeHeader(&w, type: FLVTag.audio, dataSize: 2, timestamp: -5)
        #expect(w.take() == [8, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func avcAndAACPrefixes() {
        var w = ByteWriter()
        FLVTag.writeAVCPrefix(&w, keyFrame: true, sequenceHeader: false, compositionTime: 80)
        #expect(w.take() == [0x17, 1, 0, 0, 80])
        FLVTag.writeAVCPrefix(&w, keyFrame: false, sequenceHeader: false, compositionTime: -1)
        #expect(w.take() == [0x27, 1, 0xFF, 0xFF, 0xFF])
        FLVTag.writeAACPrefix(&w, sequenceHeader: true)
        #expect(w.take() == [0xAF, 0])
    }

    @Test func base64AndAMF0() {
        #expect(Base64.encode(Array("".utf8)) == "")
        #expect(Base64.encode(Array("f".utf8)) == "Zg==")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        let meta = AMF0.onMetaData([("width", .number(640)), ("stereo", .boolean(true))])
        #expect(Array(meta.prefix(13)) == [2, 0, 10] + Array("onMetaData".utf8))
        #expect(Array(meta[13..<18]) == [8, 0, 0, 0, 2])
        #expect(Array(meta[18..<25]) == [0, 5] + Array("width".utf8))
        #expect(Array(meta[25..<34]) == [0, 0x40, 0x84, 0, 0, 0, 0, 0, 0])
        #expect(Array(meta.suffix(3)) == [0, 0, 9])
    }
}

@Suite struct HDSURLTests {
    let names: Set<String> = ["video", "audio_eng", "textstream_zh-Hans"]

    func status(_ path: String) -> Int {
        do {
            _ = try VirtualPath.parse(path, trackNames: names)
            return 200
        } catch {
            return error.httpStatus
        }
    }

    @Test func manifestAndFragments() throws {
        #expect(try VirtualPath.parse(".f4m", trackNames: names) == .hdsManifest)
        #expect(try VirtualPath.parse("manifest.f4m", trackNames: names) == .hdsManifest)
        #expect(try VirtualPath.parse("x-audio_eng=64000-video=600720-Seg1-Frag6", trackNames: names)
                == .hdsFragment(tokens: ["audio_eng=64000", "video=600720"], segment: 1, fragment: 6))
        #expect(try VirtualPath.parse("my.movie-video=1-Seg2-Frag1", trackNames: names)
                == .hdsFragment(tokens: ["video=1"], segment: 2, fragment: 1))
    }

    @Test func malformedIs400UnknownIs404() {
        #expect(status("x-video=1-Seg1-Frag0") == 400)
        #expect(status("x-video=1-Seg1-Fragx") == 400)
        #expect(status("x-video=1-Segx-Frag1") == 400)
        #expect(status("x-video=1-Seg1-Frag1234567890") == 400)
        #expect(status("x-Seg1-Frag1") == 400)
        #expect(status("x-subtitles=1-Seg1-Frag1") == 404)
    }

    @Test func namesThatMerelyContainSegAndFragKeepTheirMeaning() throws {
        #expect(try VirtualPath.parse("my-Seg-Frag-video=1.m3u8", trackNames: names) == .hlsMediaPlaylist(tokens: ["video=1"]))
        #expect(try VirtualPath.parse("my-Seg-Frag-1-video=1-3.ts", trackNames: names)
                == .hlsTSSegment(tokens: ["video=1"], number: 3))
    }

    @Test func mediaPrefixHasNoQueryFragmentURLDoes() {
        let urls = ChildURL(base: "x", query: "session_id=4157")
        #expect(urls.hdsMediaPrefix(tokens: ["audio=1", "video=2"]) == "x-audio=1-video=2-")
        #expect(urls.hdsFragment(tokens: ["video=2"], fragment: 3) == "x-video=2-Seg1-Frag3?session_id=4157")
    }
}

@Suite struct HDSEngineTests {
    let engine = Engine()
    let movie = Fixtures.path("progressive.mp4")

    func get(_ path: String, _ query: String? = nil) -> EngineResponse {
        engine.handle(EngineRequest(method: "GET", manifestPath: movie, virtualPath: path, query: query))
    }

    struct Tag { var type: UInt8; var time: Int64; var data: [UInt8] }

    /// The FLV tags of a fragment's `mdat`, PreviousTagSize checked.
    func tags(_ fragment: [UInt8]) throws -> (boxes: [String], tags: [Tag]) {
        var r = ByteReader(fragment)
        var boxes: [String] = []
        var mdat: ByteReader? = nil
        while !r.isAtEnd {
            let size = Int(try r.readUInt32())
            let type = try r.readFourCC()
            boxes.append(type)
            let payload = try r.subReader(count: size - 8)
            if type == "mdat" { mdat = payload }
        }
        var m = try #require(mdat)
        var out: [Tag] = []
        while !m.isAtEnd {
            let type = try m.readUInt8()
            let size = Int(try m.readUInt24())
            let low = try m.readUInt24()
            let high = try m.readUInt8()
            _ = try m.readUInt24()
            let data = try m.readBytes(size)
            #expect(try m.readUInt32() == UInt32(11 + size))
            out.append(Tag(type: type, time: Int64(UInt32(high) << 24 | low), data: data))
        }
        return (boxes, out)
    }

    @Test func manifestAndEveryFragment() throws {
        let r = get(".f4m")
        #expect(r.status == 200, "\(r.logReason ?? "")")
        #expect(r.contentType == "application/f4m+xml")
        let doc = try XMLParser.parse(try EngineTests().body(r))
        #expect(doc.name == "manifest")
        #expect(doc.attribute("xmlns") == "http://ns.adobe.com/f4m/1.0")
        let bootstrapText = try #require(doc.children(named: "bootstrapInfo").first?.text)
        let media = doc.children(named: "media")
        #expect(media.count == 1)
        let url = try #require(media.first?.attribute("url"))
        #expect(url.hasPrefix("progressive-") && url.hasSuffix("-"))

        // Rebuild the bootstrap from the engine's own timeline and compare with the manifest's.
        let fragmentCount = bootstrapText.isEmpty ? 0 : try fragmentsOf(bootstrapText)
        #expect(fragmentCount >= 1)
        var last: Int64 = -1
        var videoFrames = 0
        for n in 1...fragmentCount {
            let f = get(String(url) + "Seg1-Frag\(n)")
            #expect(f.status == 200, "\(f.logReason ?? "")")
            #expect(f.contentType == "video/f4f")
            #expect(f.body.contains { if case .file = $0 { true } else { false } })
            let (boxes, tags) = try tags(try EngineTests().body(f))
            #expect(boxes == ["afra", "moof", "mdat"])
            #expect(tags.count > 2)
            #expect(tags.prefix(2).allSatisfy { $0.data.count > 1 && $0.data[1] == 0 })
            for t in tags.dropFirst(2) {
                #expect(t.time >= last)
                last = t.time
            }
            videoFrames += tags.dropFirst(2).filter { $0.type == 9 }.count
            #expect(tags.dropFirst(2).first { $0.type == 9 }.map { $0.data[0] >> 4 } == 1)
        }
        let movieIndex = try Fixtures.index("progressive.mp4")
        #expect(videoFrames == movieIndex.tracks.first { $0.kind == .video }?.samples.count)
        #expect(get(String(url) + "Seg1-Frag\(fragmentCount + 1)").status == 404)
        #expect(get(String(url) + "Seg2-Frag1").status == 404)
    }

    func fragmentsOf(_ base64: String) throws -> Int {
        // The engine wrote it; decode with a tiny base64 reader for the test.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var bits: UInt32 = 0, count = 0
        var out: [UInt8] = []
        for c in base64.utf8 where c != UInt8(ascii: "=") {
            guard let v = alphabet.firstIndex(of: c) else { continue }
            bits = bits << 6 | UInt32(v)
            count += 6
            if count >= 8 {
                count -= 8
                out.append(UInt8(truncatingIfNeeded: bits >> UInt32(count)))
            }
        }
        return try Bootstrap(parsing: out).fragments.count
    }

    @Test func optionSetsTheFragmentLength() throws {
        let r = get(".f4m", "hds.minimum_fragment_length=100")
        #expect(r.status == 200)
        let doc = try XMLParser.parse(try EngineTests().body(r))
        let text = try #require(doc.children(named: "bootstrapInfo").first?.text)
        #expect(try fragmentsOf(text) == 1)
        let bad = get(".f4m", "hds.minimum_fragment_length=abc")
        #expect(bad.status == 400)
    }
}
