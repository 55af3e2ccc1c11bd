import ByteIO
@testable import Engine
import ISOBMFF
import MediaModel
import PlayerURL
import Storage
@testable import Subtitles
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// MP4 text tracks cut like sidecar text: an `stpp` file with one long sample (one TTML document
/// for the whole file, as ffmpeg writes it) next to the 2 s fixture video (key frames at 0 and 1 s).
@Suite struct MP4TextTests {
    static let cues = [Cue(start: 200, end: 1600, text: "Long cue"), Cue(start: 1700, end: 1900, text: "Short")]

    /// A CMAF `stpp` file holding `cues` in one sample of 2 s.
    static func stppFile(_ cues: [Cue], in dir: String, name: String = "subs.cmft") throws -> String {
        let document = TTMLWriter.document(cues: cues, language: "de")
        let table = SampleTable(decodeTimes: [0], durations: [2000], sizes: [UInt32(document.count)], offsets: [0])
        var track = Track(trackID: 1, kind: .text, timescale: 1000, language: "deu", sampleEntryType: "stpp",
                          sampleEntry: TTMLTrack.sampleEntry(), codec: .other, samples: table, dataSource: "memory:t")
        track.inlineData = document
        var file = FragmentWriter.initSegment(for: track)
        for piece in try FragmentWriter.mediaSegment(track: track, samples: 0..<1, sequenceNumber: 1) {
            if case .bytes(let b) = piece { file += b }
        }
        let path = dir + "/" + name
        let f = fopen(path, "w")
        _ = file.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        return path
    }

    static func presentation(_ dir: String) -> String {
        SubtitlesTests.write(dir + "/x.ism", """
            <smil xmlns="http://www.w3.org/2001/SMIL20/Language"><body><switch>
            <video src="\(Fixtures.path("progressive.mp4"))"/>
            <textstream src="subs.cmft" systemBitrate="1000" systemLanguage="deu"/>
            </switch></body></smil>
            """)
        return dir + "/x.ism"
    }

    static func textCues(_ t: Track) throws -> [Cue] {
        try TextSamples.cues(of: t) { Array(t.inlineSample($0) ?? []) }
    }

    @Test func aLongStppSampleBreaksAtTheVideoKeyFrames() throws {
        let dir = SubtitlesTests.temporaryDirectory()
        _ = try Self.stppFile(Self.cues, in: dir)
        let loaded = try Engine().loader.load(manifestPath: Self.presentation(dir), maxIndexBytes: 0)
        let video = try #require(loaded.presentation.tracks.first { $0.kind == .video }?.track)
        let text = try #require(loaded.presentation.track(token: "textstream_deu=1000")?.track)
        // Still TTML, with a sample entry and codec string that say so.
        #expect(text.sampleEntryType == "stpp" && text.codecsString == "stpp.ttml.im1t" && text.inlineData != nil)
        #expect(text.sampleEntry.count > 8 && Array(text.sampleEntry[4..<8]) == Array("stpp".utf8))
        #expect(String(decoding: text.sampleEntry, as: UTF8.self).contains(TTMLTrack.namespace))
        #expect(text.timescale == video.timescale && text.presentationOffset == 0)
        // Every video key frame starts a text sample; samples are consecutive and cover the video.
        let starts = (0..<text.samples.count).map { text.presentationTime(of: $0) }
        let keys = (0..<video.samples.count).filter { video.samples.isSync($0) }.map { video.presentationTime(of: $0) }
        #expect(keys.count == 2)
        for k in keys where k > 0 { #expect(starts.contains(k), "key frame at \(k) not a text boundary: \(starts)") }
        for i in 1..<text.samples.count {
            #expect(starts[i] == starts[i - 1] + Int64(text.samples.durations[i - 1]))
        }
        #expect(starts.first == 0 && text.endTime == video.endTime)
        // Each document holds the cues shown in its sample, cut to it; read back they join up.
        for i in 0..<text.samples.count {
            let from = MediaTime.rescale(starts[i], from: text.timescale, to: 1000)
            let to = MediaTime.rescale(starts[i] + Int64(text.samples.durations[i]), from: text.timescale, to: 1000)
            let inside = try TTMLReader.parse(Array(text.inlineSample(i) ?? []))
            let expected = Self.cues.filter { $0.start < to && $0.end > from }.map { $0.text }
            #expect(inside.map(\.text) == expected)
            #expect(inside.allSatisfy { $0.start >= from && $0.end <= to })
        }
        #expect(try Self.textCues(text) == Self.cues)
    }

    @Test func aSubclipStartingInsideALongCueKeepsIt() throws {
        let dir = SubtitlesTests.temporaryDirectory()
        _ = try Self.stppFile(Self.cues, in: dir)
        let loaded = try Engine().loader.load(manifestPath: Self.presentation(dir), maxIndexBytes: 0)
        let whole = try #require(loaded.presentation.tracks.first { $0.kind == .video }?.track)
        let key = try #require((1..<whole.samples.count).first { whole.samples.isSync($0) })
        let clipStart = MediaTime.rescale(whole.presentationTime(of: key), from: whole.timescale, to: 1000)
        #expect(clipStart > 200 && clipStart < 1600)
        let view = try loaded.view(for: Selection(query: QueryOptions(raw: "vbegin=1.2")))
        let text = try #require(view.presentation.track(token: "textstream_deu=1000")?.track)
        // The long cue is kept from the clip's start, then the short one, on the clip's timeline.
        let got = try Self.textCues(text)
        #expect(got.map(\.text) == ["Long cue", "Short"])
        #expect(got.first?.start == 0 && abs((got.first?.end ?? 0) - (1600 - clipStart)) <= 1)
        #expect(abs((got.last?.start ?? 0) - (1700 - clipStart)) <= 1)
        // The documents and the fragment timeline agree: decode times from 0, no media time shift.
        #expect(text.samples.decodeTimes.first == 0 && FragmentTiming(track: text).mediaTimeOffset == 0)
        let first = String(decoding: text.inlineSample(0) ?? [], as: UTF8.self)
        #expect(first.contains("begin=\"00:00:00.000\"") && first.contains("Long cue"))
        // HLS WebVTT of the clip shows it too.
        let r = Engine().handle(EngineRequest(method: "GET", manifestPath: dir + "/x.ism",
                                              virtualPath: "x-textstream_deu=1000-1.webvtt", query: "vbegin=1.2"))
        var body: [UInt8] = []
        for piece in r.body { if case .bytes(let b) = piece { body += b } }
        #expect(r.status == 200)
        #expect(String(decoding: body, as: UTF8.self).contains("00:00:00.000 --> "))
        #expect(String(decoding: body, as: UTF8.self).contains("Long cue"))
    }

    @Test func aChangedFileChangesTheCuesAndTheIdentity() throws {
        let dir = SubtitlesTests.temporaryDirectory()
        _ = try Self.stppFile(Self.cues, in: dir)
        let engine = Engine()
        let first = try engine.loader.load(manifestPath: Self.presentation(dir), maxIndexBytes: 0)
        _ = try Self.stppFile([Cue(start: 100, end: 300, text: "Replaced and longer")], in: dir)
        let second = try engine.loader.load(manifestPath: dir + "/x.ism", maxIndexBytes: 0)
        #expect(first.identityHash.value != second.identityHash.value)
        let text = try #require(second.presentation.track(token: "textstream_deu=1000")?.track)
        #expect(try Self.textCues(text).map(\.text) == ["Replaced and longer"])
    }

    /// A text track the loader cannot cut (here: one sample over the 8 MB limit) stays as it was:
    /// the presentation's video and manifests still answer.
    @Test func anUncuttableTextTrackLeavesTheRestOfThePresentationServed() throws {
        let dir = SubtitlesTests.temporaryDirectory()
        _ = try Self.stppFile([Cue(start: 0, end: 1000, text: String(repeating: "x", count: 9 << 20))], in: dir)
        let engine = Engine()
        let ism = Self.presentation(dir)
        let loaded = try engine.loader.load(manifestPath: ism, maxIndexBytes: 0)
        let text = try #require(loaded.presentation.track(token: "textstream_deu=1000")?.track)
        #expect(text.inlineData == nil, "left as read from the file")
        for path in [".mpd", ".m3u8"] {
            let r = engine.handle(EngineRequest(method: "GET", manifestPath: ism, virtualPath: path, query: nil))
            #expect(r.status == 200, "\(path): \(r.logReason ?? "")")
        }
    }

    @Test func hostileTextTablesAreRefusedWithTypedErrors() throws {
        func track(_ table: SampleTable) -> Track {
            Track(trackID: 1, kind: .text, timescale: 1000, language: "und", sampleEntryType: "stpp",
                  sampleEntry: TTMLTrack.sampleEntry(), codec: .other, samples: table, dataSource: "/nonexistent/x.mp4")
        }
        let huge = track(SampleTable(decodeTimes: [0], durations: [1000], sizes: [UInt32.max], offsets: [0]))
        #expect(throws: SubtitleError(.tooLarge, "text sample of \(UInt32.max) bytes, more than \(8 << 20)")) {
            try TextSamples.checkBounds(huge)
        }
        let n = 70
        let many = track(SampleTable(decodeTimes: (0..<n).map(Int64.init), durations: Array(repeating: 1, count: n),
                                     sizes: Array(repeating: 1 << 20, count: n), offsets: Array(repeating: 0, count: n)))
        #expect(throws: SubtitleError.self) { try TextSamples.checkBounds(many) }          // 70 MB in all
        #expect(throws: SubtitleError.self) {
            try TextSamples.checkBounds(many, limits: SubtitleLimits(maxSamples: 10))
        }
        // Refused before anything is read (the data source does not exist).
        let loader = PresentationLoader(indexCacheBytes: 1 << 20, presentationCacheBytes: 1 << 20)
        let context = PresentationLoader.LoadContext(upstream: nil, limits: PresentationLoader.limits(maxIndexBytes: 0),
                                                     revalidating: false, now: 0)
        #expect(throws: SubtitleError.self) { try loader.mp4TextCues(huge, sources: [], context) }
        // A built track whose repeated cues would exceed its byte bound.
        #expect(throws: SubtitleError.self) {
            try CueTrack.track(.ttml(language: "de"), cues: [Cue(start: 0, end: 100_000, text: "x")], trackID: 1,
                               language: "deu", timescale: 1000, end: 100_000, splits: Array(stride(from: 10, to: 100_000, by: 10)),
                               name: "t", maxBytes: 1 << 16)
        }
    }
}
