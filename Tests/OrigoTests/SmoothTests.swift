import ByteIO
@testable import Engine
import ISOBMFF
import MediaModel
import PlayerURL
import Smooth
import Storage
import Testing
import XML
#if canImport(Glibc)
import Glibc
#endif

@Suite struct SmoothURLTests {
    let names: Set<String> = ["video", "audio_eng", "textstream_zh-Hans"]

    @Test func manifestInAnyCase() throws {
        #expect(try VirtualPath.parse("Manifest", trackNames: names) == .smoothManifest)
        #expect(try VirtualPath.parse("manifest", trackNames: names) == .smoothManifest)
        #expect(try VirtualPath.parse("MANIFEST", trackNames: names) == .smoothManifest)
    }

    @Test func fragments() throws {
        #expect(try VirtualPath.parse("QualityLevels(401000)/Fragments(video=20000000)", trackNames: names)
                == .smoothFragment(bitrate: 401000, name: "video", time: 20_000_000))
        #expect(try VirtualPath.parse("qualitylevels(64008,CustomAttr=1)/fragments(audio_eng=0)", trackNames: names)
                == .smoothFragment(bitrate: 64008, name: "audio_eng", time: 0))
    }

    @Test func malformedIs400UnknownIs404() {
        func status(_ path: String) -> Int {
            do {
                _ = try VirtualPath.parse(path, trackNames: names)
                return 200
            } catch {
                return error.httpStatus
            }
        }
        #expect(status("QualityLevels(abc)/Fragments(video=0)") == 400)
        #expect(status("QualityLevels(1)/Fragments(video=-5)") == 400)
        #expect(status("QualityLevels(1)/Fragments(video=1234567890123456789012)") == 400)
        #expect(status("QualityLevels(1)/Fragments(video=0") == 400)
        #expect(status("QualityLevels(1/Fragments(video=0)") == 400)
        #expect(status("QualityLevels(1)/Fragments(video)") == 400)
        #expect(status("QualityLevels(1)/Fragments(subtitles=0)") == 404)
        #expect(status("QualityLevels(1)/KeyFrames(video=0)") == 404)
        #expect(status("Manifest2") == 404)
    }

    @Test func templateCarriesTheQuery() {
        let urls = ChildURL(base: "x", query: "session_id=4157")
        #expect(urls.smoothFragmentTemplate(trackName: "audio_eng")
                == "QualityLevels({bitrate})/Fragments(audio_eng={start time})?session_id=4157")
    }
}

@Suite struct SmoothEngineTests {
    let engine = Engine()
    let movie = Fixtures.path("progressive.mp4")

    func get(_ path: String, _ query: String? = nil, manifest: String? = nil) -> EngineResponse {
        engine.handle(EngineRequest(method: "GET", manifestPath: manifest ?? movie, virtualPath: path, query: query))
    }

    func manifest(_ query: String? = nil, of file: String? = nil) throws -> XMLElement {
        let r = get("Manifest", query, manifest: file)
        #expect(r.status == 200, "\(r.logReason ?? "")")
        #expect(r.contentType == "text/xml")
        return try XMLParser.parse(try EngineTests().body(r))
    }

    struct Chunk { var time: Int64; var duration: Int64 }

    /// The `<c>` list with implicit times filled in.
    func chunks(_ stream: XMLElement) throws -> [Chunk] {
        var out: [Chunk] = []
        var next: Int64 = 0
        for c in stream.children(named: "c") {
            let t = try #require(c.attribute("t").map { Int64($0) } ?? next)
            let d = try #require(c.attribute("d").flatMap { Int64($0) })
            out.append(Chunk(time: t, duration: d))
            next = t + d
        }
        return out
    }

    @Test func manifestStructure() throws {
        let root = try manifest()
        #expect(root.name == "SmoothStreamingMedia")
        #expect(root.attribute("MajorVersion") == "2")
        #expect(root.attribute("MinorVersion") == "0")
        #expect(root.attribute("TimeScale") == "10000000")
        let streams = root.children(named: "StreamIndex")
        #expect(streams.map { $0.attribute("Type") } == ["video", "audio"])
        let source = try Fixtures.index("progressive.mp4")

        let video = streams[0]
        #expect(video.attribute("Url") == "QualityLevels({bitrate})/Fragments(video={start time})")
        let vq = try #require(video.firstChild(named: "QualityLevel"))
        #expect(vq.attribute("FourCC") == "H264")
        #expect(vq.attribute("MaxWidth") == "96" && vq.attribute("MaxHeight") == "64")
        guard case .avc(let avc) = source.tracks[0].codec else { Issue.record("fixture is not AVC"); return }
        let expected = "00000001" + avc.sps[0].map { hex($0) }.joined() + "00000001" + avc.pps[0].map { hex($0) }.joined()
        #expect(vq.attribute("CodecPrivateData") == expected)

        let audio = streams[1]
        #expect(audio.attribute("Language") == "fra")
        let aq = try #require(audio.firstChild(named: "QualityLevel"))
        #expect(aq.attribute("FourCC") == "AACL")
        #expect(aq.attribute("AudioTag") == "255")
        #expect(aq.attribute("SamplingRate") == "48000")
        #expect(aq.attribute("BitsPerSample") == "16")
        guard case .aac(let aac) = source.tracks[1].codec else { Issue.record("fixture is not AAC"); return }
        #expect(aq.attribute("CodecPrivateData") == aac.specificConfig.map { hex($0) }.joined())

        // Chunks: count matches, contiguous, and the sum reaches the track's end exactly.
        let timeline = RescaledTimeline(
            timescale: 10_000_000, offset: RescaledTimeline.offset(lifting: source.tracks, timescale: 10_000_000))
        #expect(min(try chunks(streams[0])[0].time, try chunks(streams[1])[0].time) == 0)
        for (stream, track) in zip(streams, source.tracks) {
            let list = try chunks(stream)
            #expect(stream.attribute("Chunks") == String(list.count))
            #expect(stream.children(named: "c").first?.attribute("t") != nil)
            for (a, b) in zip(list, list.dropFirst()) { #expect(a.time + a.duration == b.time) }
            let total = list.reduce(0) { $0 + $1.duration }
            let end = timeline.start(of: track.samples.count, in: track)
            #expect(list[0].time + total == end)
            #expect(abs(Double(total) / 1e7 - Double(track.duration) / Double(track.timescale)) < 0.1)
        }
        let duration = try #require(root.attribute("Duration").flatMap { Int64($0) })
        #expect(abs(Double(duration) / 1e7 - 2.0) < 0.1)
    }

    @Test func fragmentsRebuildTheTracks() throws {
        let root = try manifest()
        let source = try Fixtures.index("progressive.mp4")
        let offset = RescaledTimeline.offset(lifting: source.tracks, timescale: 10_000_000)
        for (stream, track) in zip(root.children(named: "StreamIndex"), source.tracks) {
            let q = try #require(stream.firstChild(named: "QualityLevel"))
            let bitrate = try #require(q.attribute("Bitrate"))
            let template = try #require(stream.attribute("Url"))
            // A moov in the 10 MHz timescale, so the reader can take the fragments as they are.
            var scaled = track
            scaled.timescale = 10_000_000
            var file = FragmentWriter.initSegment(for: scaled)
            var sequence: UInt32 = 0
            for chunk in try chunks(stream) {
                let url = template.replacing("{bitrate}", with: bitrate)
                    .replacing("{start time}", with: String(chunk.time))
                let r = get(url)
                #expect(r.status == 200, "\(url): \(r.logReason ?? "")")
                #expect(r.contentType == (track.kind == .video ? "video/mp4" : "audio/mp4"))
                let bytes = try EngineTests().body(r)
                #expect(Array(bytes[4..<8]) == Array("moof".utf8), "no styp before moof")
                let boxes = try PIFFBoxes(bytes)
                #expect(boxes.sequenceNumber > sequence)
                sequence = boxes.sequenceNumber
                #expect(boxes.tfdt == chunk.time)
                #expect(boxes.tfxd?.time == chunk.time)
                #expect(boxes.tfxd?.duration == chunk.duration)
                #expect(boxes.trunDurations == chunk.duration)
                file += bytes
            }
            let rebuilt = try #require(MP4Reader.read(MemoryReader(file), locator: "mem").tracks.first)
            #expect(rebuilt.samples.count == track.samples.count)
            #expect(rebuilt.samples.sizes == track.samples.sizes)
            #expect((0..<track.samples.count).allSatisfy { rebuilt.samples.isSync($0) == track.samples.isSync($0) })
            // Decode time plus composition offset is the rescaled presentation time plus the one
            // offset of the presentation (read raw: the test's init segment may carry an edit list).
            #expect(rebuilt.samples.compositionOffsets.allSatisfy { $0 >= 0 })
            for i in 0..<track.samples.count {
                let expected = MediaTime.rescale(track.presentationTime(of: i), from: track.timescale, to: 10_000_000) + offset
                let raw = rebuilt.samples.decodeTimes[i] + Int64(rebuilt.samples.compositionOffset(i))
                #expect(raw == expected, "sample \(i)")
            }
        }
    }

    @Test func fragmentErrors() throws {
        let root = try manifest()
        let video = try #require(root.children(named: "StreamIndex").first)
        let bitrate = try #require(video.firstChild(named: "QualityLevel")?.attribute("Bitrate"))
        #expect(get("QualityLevels(\(bitrate))/Fragments(video=1)").status == 404)
        #expect(get("QualityLevels(1)/Fragments(video=0)").status == 404)
        #expect(get("QualityLevels(\(bitrate))/Fragments(nothing=0)").status == 404)
        #expect(get("QualityLevels(x)/Fragments(video=0)").status == 400)
    }

    @Test func queryReachesTheTemplateAndOptionsApply() throws {
        let root = try manifest("session_id=4157&iss.minimum_fragment_length=1")
        for stream in root.children(named: "StreamIndex") {
            #expect(stream.attribute("Url")?.hasSuffix("?session_id=4157&iss.minimum_fragment_length=1") == true)
        }
        #expect(get("Manifest", "iss.minimum_fragment_length=abc").status == 400)
    }

    func hex(_ b: UInt8) -> String {
        let d = Array("0123456789ABCDEF")
        return String([d[Int(b >> 4)], d[Int(b & 0xF)]])
    }
}

/// The boxes of one Smooth fragment a client looks at: `mfhd`, `tfdt`, the `trun` duration sum
/// and the PIFF `tfxd`.
struct PIFFBoxes {
    var sequenceNumber: UInt32 = 0
    var tfdt: Int64?
    var tfxd: (time: Int64, duration: Int64)?
    var trunDurations: Int64 = 0

    init(_ bytes: [UInt8]) throws {
        var top = ByteReader(bytes)
        while top.remaining >= 8 {
            let (type, body) = try Self.box(&top)
            guard type == "moof" else { continue }
            var moof = body
            while moof.remaining >= 8 {
                let (t, b) = try Self.box(&moof)
                if t == "mfhd" { var r = b; _ = try r.readUInt32(); sequenceNumber = try r.readUInt32() }
                guard t == "traf" else { continue }
                var traf = b
                while traf.remaining >= 8 {
                    let (tt, bb) = try Self.box(&traf)
                    var r = bb
                    switch tt {
                    case "tfdt":
                        let v = try r.readUInt32() >> 24
                        tfdt = v == 1 ? Int64(try r.readUInt64()) : Int64(try r.readUInt32())
                    case "trun":
                        let flags = try r.readUInt32() & 0xFF_FFFF
                        let count = try r.readUInt32()
                        if flags & 1 != 0 { _ = try r.readUInt32() }
                        if flags & 4 != 0 { _ = try r.readUInt32() }
                        for _ in 0..<count {
                            if flags & 0x100 != 0 { trunDurations += Int64(try r.readUInt32()) }
                            if flags & 0x200 != 0 { _ = try r.readUInt32() }
                            if flags & 0x400 != 0 { _ = try r.readUInt32() }
                            if flags & 0x800 != 0 { _ = try r.readUInt32() }
                        }
                    case "uuid":
                        let uuid = try r.readBytes(16)
                        guard uuid == FragmentWriter.tfxdUUID else { break }
                        let v = try r.readUInt32() >> 24
                        tfxd = v == 1 ? (Int64(try r.readUInt64()), Int64(try r.readUInt64()))
                                      : (Int64(try r.readUInt32()), Int64(try r.readUInt32()))
                    default: break
                    }
                }
            }
        }
    }

    static func box(_ r: inout ByteReader) throws -> (String, ByteReader) {
        let size = Int(try r.readUInt32())
        let type = try r.readFourCC()
        let body = try r.subReader(count: size - 8)
        return (type, body)
    }
}
