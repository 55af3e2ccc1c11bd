import ByteIO
@testable import Engine
import Foundation
import ISOBMFF
import Live
import Storage
import ServerManifest
import Synchronization
import XML
import Testing

/// Live ingest: Smooth and CMAF ingest bodies (as ffmpeg sends them, Fixtures/live/README.md)
/// into the per-publishing-point store, whole and in arbitrary chunks, and what bad input does.
@Suite struct LiveIngestTests {
    static let smooth = (try? Fixtures.bytes("live/smooth-ingest.isml")) ?? []
    static let cmaf = (try? Fixtures.bytes("live/cmaf-video.cmfv")) ?? []

    /// A fresh publishing point path in a new directory.
    static func publishingPoint() throws -> String {
        try IndexMP4EngineTests.temporaryDirectory() + "/channel1.isml"
    }

    static func ingest(_ manifest: String, _ stream: String, _ body: [UInt8], chunks: [Int]? = nil,
                       complete: Bool = true, clock: UInt64 = 1_800_000_000_000) throws(LiveIngestError) -> [UInt32: Int] {
        let session = try IngestSession(manifestPath: manifest, virtualPath: "Streams(\(stream))", clock: { clock })
        var at = 0, k = 0
        while at < body.count {
            let n = min(body.count - at, chunks.map { $0[k % $0.count] } ?? body.count)
            try session.feed(Array(body[at..<at + n]))
            at += n
            k += 1
        }
        try session.finish(complete: complete)
        return session.committed
    }

    static func records(_ manifest: String, _ stream: String, _ track: UInt32) throws -> [FragmentRecord] {
        let dir = LiveStoreLayout.streamDirectory(manifestPath: manifest, stream: stream)
        let reader = try FragmentIndexReader(path: "\(dir)/\(track).index")
        return try (0..<reader.count).map { i throws in try reader.record(at: i) }
    }

    static func file(_ manifest: String, _ stream: String, _ name: String) -> [UInt8] {
        let dir = LiveStoreLayout.streamDirectory(manifestPath: manifest, stream: stream)
        return (try? LocalFile.contents(of: "\(dir)/\(name)", limit: 1 << 24)) ?? []
    }

    @Test func smoothIngestAsFfmpegSendsIt() throws {
        let pp = try Self.publishingPoint()
        let committed = try Self.ingest(pp, "channel", Self.smooth)
        #expect(committed == [1: 4, 2: 4, 3: 4])
        for track: UInt32 in [1, 2, 3] {
            let records = try Self.records(pp, "channel", track)
            #expect(records.count == 4)
            // No gaps: every fragment starts where the one before ended; video starts on a key frame.
            for (a, b) in zip(records, records.dropFirst()) { #expect(b.time == a.end && b.offset == a.mediaEnd) }
            if track < 3 { #expect(records.allSatisfy { $0.flags & FragmentRecord.startsWithSync != 0 && $0.sampleCount == 25 }) }
            #expect(records.allSatisfy { $0.ingestMillis == 1_800_000_000_000 })
            #expect(UInt64(Self.file(pp, "channel", "\(track).media").count) == records.last?.mediaEnd)
        }
        // 25 fps in Smooth's 10 MHz timescale: 1 s fragments, 4 s in all.
        #expect(try Self.records(pp, "channel", 1).map(\.duration) == [10_000_000, 10_000_000, 10_000_000, 10_000_000])
        // The publishing point was created with defaults and the three announced tracks.
        let manifest = try ServerManifest.parse(try LocalFile.contents(of: pp, limit: 1 << 20))
        #expect(manifest.options["dvr_window_length"] == "30")
        #expect(manifest.tracks.map(\.src) == ["channel1.live/channel/1", "channel1.live/channel/2", "channel1.live/channel/3"])
        #expect(manifest.tracks.map(\.systemBitrate) == [60000, 30000, 32000])
        #expect(manifest.tracks.map(\.kind) == [.video, .video, .audio])
        #expect(manifest.tracks[0].param("codecs")?.hasPrefix("avc1.") == true)
    }

    @Test func chunksOfAnySizeStoreTheSameBytes() throws {
        let whole = try Self.publishingPoint()
        _ = try Self.ingest(whole, "s", Self.smooth)
        for chunks in [[1], [7, 1, 4093], [8], [65536, 3]] {
            let pp = try Self.publishingPoint()
            let committed = try Self.ingest(pp, "s", Self.smooth, chunks: chunks)
            #expect(committed == [1: 4, 2: 4, 3: 4])
            for name in ["1.index", "1.media", "2.media", "3.index", "3.media", "header"] {
                #expect(Self.file(pp, "s", name) == Self.file(whole, "s", name), "chunks \(chunks), \(name)")
            }
        }
    }

    @Test func cmafIngestOneTrackWithTfdt() throws {
        let pp = try Self.publishingPoint()
        let committed = try Self.ingest(pp, "video-60k.cmfv", Self.cmaf, chunks: [1000])
        #expect(committed == [1: 4])
        let records = try Self.records(pp, "video-60k.cmfv", 1)
        #expect(records.first?.time == 0)
        #expect(records.map(\.sampleCount) == [25, 25, 25, 25])
        for (a, b) in zip(records, records.dropFirst()) { #expect(b.time == a.end) }
    }

    @Test func truncatedBodyKeepsWhatWasComplete() throws {
        let pp = try Self.publishingPoint()
        let cut = Array(Self.smooth.dropLast(200))   // the last video fragment loses its end
        #expect(throws: LiveIngestError.self) { _ = try Self.ingest(pp, "s", cut) }
        let stored = try Self.records(pp, "s", 1)
        // A client that went away (complete: false) is not an error; nothing partial was stored.
        let pp2 = try Self.publishingPoint()
        let committed = try Self.ingest(pp2, "s", Array(Self.smooth.prefix(Self.smooth.count / 2)), complete: false)
        #expect(committed.values.reduce(0, +) < 12)
        #expect(stored.count >= 3)
        for track: UInt32 in [1, 2, 3] {
            let records = try Self.records(pp2, "s", track)
            #expect(UInt64(Self.file(pp2, "s", "\(track).media").count) == records.last?.mediaEnd ?? 0)
        }
    }

    @Test func garbageIsRefusedWithoutTouchingTheStore() throws {
        let pp = try Self.publishingPoint()
        _ = try Self.ingest(pp, "s", Self.smooth)
        let before = ["1.index", "1.media", "header"].map { Self.file(pp, "s", $0) }
        var generator = SystemRandomNumberGenerator()
        let bodies: [[UInt8]] = [
            Array("GET / HTTP/1.1\r\n\r\n".utf8),
            (0..<5000).map { _ in UInt8.random(in: 0...255, using: &generator) },
            [0, 0, 0, 4, 0x6d, 0x6f, 0x6f, 0x66],                              // size below its header
            [0xff, 0xff, 0xff, 0xff, 0x6d, 0x64, 0x61, 0x74],                   // 4 GB mdat
            [0, 0, 0, 16, 0x6d, 0x6f, 0x6f, 0x66] + [UInt8](repeating: 0, count: 8),   // moof before moov
            Array(Self.smooth.prefix(Self.find("moof", in: Self.smooth, after: 0) ?? 0)) + [0, 0, 0, 8, 0x6d, 0x64, 0x61, 0x74],   // mdat without moof
        ]
        for body in bodies {
            #expect(throws: LiveIngestError.self) { _ = try Self.ingest(pp, "s", body) }
        }
        #expect(["1.index", "1.media", "header"].map { Self.file(pp, "s", $0) } == before)
        let error = #expect(throws: LiveIngestError.self) { _ = try Self.ingest(pp, "s", [0xff, 0xff, 0xff, 0xff, 0x6d, 0x64, 0x61, 0x74]) }
        #expect(error?.httpStatus == 413)
    }

    @Test func fragmentBoundCountsMoofAndMdatTogether() throws {
        let body = Self.smooth
        let moof = try #require(Self.find("moof", in: body, after: 0))
        let mdat = try #require(Self.find("mdat", in: body, after: moof))
        let moofSize = mdat - moof
        let mdatSize = Int(body[mdat..<mdat + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        // One byte short of the first fragment: refused once its mdat header arrives, before its payload.
        let tight = try IngestSession(manifestPath: try Self.publishingPoint(), virtualPath: "Streams(s)",
                                      limits: IngestLimits(maxFragmentBytes: UInt64(moofSize + mdatSize - 1)))
        let error = #expect(throws: LiveIngestError.self) { try tight.feed(Array(body.prefix(mdat + 8))) }
        #expect(error?.httpStatus == 413)
        let exact = try IngestSession(manifestPath: try Self.publishingPoint(), virtualPath: "Streams(s)",
                                      limits: IngestLimits(maxFragmentBytes: UInt64(moofSize + mdatSize)))
        try exact.feed(Array(body.prefix(mdat + mdatSize)))
        #expect(exact.committed == [1: 1])
    }

    @Test func fragmentsAlreadyStoredAreSkippedNotRefused() throws {
        let pp = try Self.publishingPoint()
        _ = try Self.ingest(pp, "s", Self.smooth)
        let before = try Self.records(pp, "s", 1)
        // The same encoder output again (a reconnect resending, a redundant encoder): nothing twice.
        let session = try IngestSession(manifestPath: pp, virtualPath: "Streams(s)", clock: { 1 })
        try session.feed(Self.smooth)
        try session.finish(complete: true)
        #expect(session.committed.isEmpty && session.skipped == [1: 4, 2: 4, 3: 4])
        #expect(try Self.records(pp, "s", 1) == before)
    }

    @Test func timestampsGoingBackwardsWithinAConnectionAreRefused() throws {
        let pp = try Self.publishingPoint()
        let boxes = Self.boxes(Self.smooth)
        // The whole channel, then its first fragment of track 1 again.
        let firstMoof = try #require(boxes.firstIndex { $0.type == "moof" })
        let body = Self.smooth + Array(Self.smooth[boxes[firstMoof].range.lowerBound..<boxes[firstMoof + 1].range.upperBound])
        let error = #expect(throws: LiveIngestError.self) { _ = try Self.ingest(pp, "s", body) }
        #expect(error?.httpStatus == 409)
        if case .timeWentBackwards(let id, let time, let end)? = error {
            #expect(id == 1 && time == 0 && end == 40_000_000)
        } else {
            Issue.record("expected timeWentBackwards, got \(String(describing: error))")
        }
        #expect(try Self.records(pp, "s", 1).count == 4)
    }

    @Test func twoConnectionsOnOneStreamGiveOneTimeline() throws {
        let pp = try Self.publishingPoint()
        let (header, fragments) = Self.split(Self.smooth)
        let a = try IngestSession(manifestPath: pp, virtualPath: "Streams(s)")
        let b = try IngestSession(manifestPath: pp, virtualPath: "Streams(s)")
        // Redundant encoders, interleaved: A ahead, then B ahead, then A again.
        try a.feed(header + fragments[0..<6].flatMap { $0 })
        try b.feed(header + fragments[0..<9].flatMap { $0 })
        try a.feed(fragments[6...].flatMap { $0 })
        try b.feed(fragments[9...].flatMap { $0 })
        try a.finish(complete: true)
        try b.finish(complete: true)
        #expect(a.committed == [1: 3, 2: 3, 3: 3] && a.skipped == [1: 1, 2: 1, 3: 1])
        #expect(b.committed == [1: 1, 2: 1, 3: 1] && b.skipped == [1: 3, 2: 3, 3: 3])
        for track: UInt32 in [1, 2, 3] {
            let records = try Self.records(pp, "s", track)
            #expect(records.count == 4)
            for (x, y) in zip(records, records.dropFirst()) { #expect(y.time == x.end && y.offset == x.mediaEnd) }
            #expect(records.allSatisfy { $0.flags & FragmentRecord.startsPeriod == 0 })
        }
    }

    /// A reconnect after losing fragment 2 of each track, with or without
    /// restart_on_encoder_reconnect, and a reconnect that loses nothing.
    @Test(arguments: [(true, true), (false, true), (true, false)])
    func reconnectStartsAPeriodOnlyWhenAskedAndTheTimelineBreaks(restart: Bool, lose: Bool) throws {
        let pp = try Self.publishingPoint()
        try IndexMP4EngineTests.write(Array("""
            <?xml version="1.0"?><smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head>
            <meta name="restart_on_encoder_reconnect" content="\(restart)"/></head><body><switch/></body></smil>
            """.utf8), to: pp)
        let (header, fragments) = Self.split(Self.smooth)
        _ = try Self.ingest(pp, "s", header + fragments[0..<6].flatMap { $0 }, complete: false)
        _ = try Self.ingest(pp, "s", header + fragments[(lose ? 9 : 6)...].flatMap { $0 })
        let dir = LiveStoreLayout.streamDirectory(manifestPath: pp, stream: "s")
        for track: UInt32 in [1, 2, 3] {
            let records = try Self.records(pp, "s", track)
            #expect(records.count == (lose ? 3 : 4))
            let flagged = records.indices.filter { records[$0].flags & FragmentRecord.startsPeriod != 0 }
            let marks = try PeriodMarks.read(periodsPath: "\(dir)/\(track).periods", index: FragmentIndexReader(path: "\(dir)/\(track).index"))
            #expect(flagged == marks)
            #expect(marks == (restart && lose ? [2] : []))
        }
        // Playout: an HLS discontinuity (with its own date) and a second DASH Period, where the store has a mark.
        let playout = LivePlayoutTests()
        let hls = String(decoding: try playout.body(playout.get(pp, "channel1-video=60000.m3u8")), as: UTF8.self)
        let mpd = String(decoding: try playout.body(playout.get(pp, ".mpd")), as: UTF8.self)
        if restart && lose {
            #expect(hls.contains("channel1-video=60000-2.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:"))
            #expect(mpd.components(separatedBy: "<Period ").count == 3)
            // Period 2 starts at the stored time of its first fragment (3 s); its timelines start there.
            #expect(mpd.contains("<Period id=\"2\" start=\"PT3S\">"))
            #expect(mpd.contains("presentationTimeOffset=\"30000000\""))
            #expect(mpd.contains("<S t=\"30000000\" d=\"10000000\"/>"))
        } else {
            #expect(!hls.contains("DISCONTINUITY"))
            #expect(mpd.components(separatedBy: "<Period ").count == 2)
        }
        // A window that begins after the mark: the discontinuity is counted, no longer tagged.
        if restart && lose {
            var manifest = String(decoding: try LocalFile.contents(of: pp, limit: 1 << 20), as: UTF8.self)
            manifest = manifest.replacingOccurrences(of: "<meta name=\"dvr_window_length\" content=\"30\"/>", with: "")
            manifest = manifest.replacingOccurrences(of: "</head>", with: "<meta name=\"dvr_window_length\" content=\"1\"/></head>")
            try IndexMP4EngineTests.write(Array(manifest.utf8), to: pp)
            let slid = String(decoding: try playout.body(playout.get(pp, "channel1-video=60000.m3u8")), as: UTF8.self)
            #expect(slid.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n") && !slid.contains("#EXT-X-DISCONTINUITY\n"))
            let slidMPD = String(decoding: try playout.body(playout.get(pp, ".mpd")), as: UTF8.self)
            #expect(slidMPD.components(separatedBy: "<Period ").count == 2 && slidMPD.contains("<Period id=\"2\" start=\"PT3S\">"))
        }
    }

    /// A publishing point written by hand with these head options (the tracks come with ingest).
    static func publishingPoint(options: [String: String]) throws -> String {
        let pp = try publishingPoint()
        let meta = options.sorted { $0.key < $1.key }.map { "<meta name=\"\($0.key)\" content=\"\($0.value)\"/>" }.joined()
        try IndexMP4EngineTests.write(Array("""
            <?xml version="1.0"?><smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head>\(meta)</head><body><switch/></body></smil>
            """.utf8), to: pp)
        return pp
    }

    /// archive_segment_length 1 rolls the media into a file per 1 s fragment; archive_length 2
    /// (or, without archiving, the DVR window of 2) deletes the files whose fragments all left it.
    @Test(arguments: [["archiving": "true", "archive_length": "2"], ["archiving": "false", "dvr_window_length": "2"]])
    func archiveRollsAndPurgesWholeFiles(options: [String: String]) throws {
        let pp = try Self.publishingPoint(options: options.merging(["archive_segment_length": "1"]) { a, _ in a })
        _ = try Self.ingest(pp, "channel1", Self.smooth, chunks: [4096])
        let dir = LiveStoreLayout.streamDirectory(manifestPath: pp, stream: "channel1")
        let records = try Self.records(pp, "channel1", 1)
        #expect(records.count == 4)
        #expect(records.map { ArchiveChunks.chunk(of: $0.offset) } == [0, 1, 2, 3])
        #expect(records.allSatisfy { ArchiveChunks.within($0.offset) == 0 })
        #expect(ArchiveChunks.purgedCount(indexPath: "\(dir)/1.index") == 2)
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/1.media") && !FileManager.default.fileExists(atPath: "\(dir)/1.media.1"))
        #expect(Self.file(pp, "channel1", "1.media.3").count == Int(records[3].size))
        // Playout offers what is left: segments 3 and 4, read from their chunk files.
        let playout = LivePlayoutTests()
        let playlist = String(decoding: try playout.body(playout.get(pp, "channel1-video=60000.m3u8")), as: UTF8.self)
        #expect(playlist.contains("#EXT-X-MEDIA-SEQUENCE:3\n") && playlist.components(separatedBy: "#EXTINF").count == 3)
        #expect(playout.get(pp, "channel1-video=60000-2.m4s").status == 404)
        let segment = try playout.body(playout.get(pp, "channel1-video=60000-4.m4s"))
        #expect(segment.suffix(100) == Self.file(pp, "channel1", "1.media.3").suffix(100))
        #expect(playout.get(pp, "channel1-video=60000-0.dash").status == 410)
        // A later connection continues in the newest chunk's files (it re-reads where they end).
        let (header, _) = Self.split(Self.smooth)
        _ = try Self.ingest(pp, "channel1", header)
        #expect(try Self.records(pp, "channel1", 1).count == 4)
    }

    @Test func withoutASegmentLengthNothingIsRolledOrPurged() throws {
        let pp = try Self.publishingPoint(options: ["archiving": "true", "archive_length": "1"])
        _ = try Self.ingest(pp, "s", Self.smooth)
        let dir = LiveStoreLayout.streamDirectory(manifestPath: pp, stream: "s")
        #expect(try Self.records(pp, "s", 1).allSatisfy { ArchiveChunks.chunk(of: $0.offset) == 0 })
        #expect(ArchiveChunks.purgedCount(indexPath: "\(dir)/1.index") == 0)
    }

    /// The top-level boxes of a body: (type, byte range).
    static func boxes(_ bytes: [UInt8]) -> [(type: String, range: Range<Int>)] {
        var out: [(String, Range<Int>)] = []
        var at = 0
        while at + 8 <= bytes.count {
            let size = Int(bytes[at..<at + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard size >= 8, at + size <= bytes.count else { break }
            out.append((String(decoding: bytes[at + 4..<at + 8], as: UTF8.self), at..<at + size))
            at += size
        }
        return out
    }

    /// A body's header (what precedes the first moof) and its moof+mdat pairs, in order.
    static func split(_ bytes: [UInt8]) -> (header: [UInt8], fragments: [[UInt8]]) {
        let all = boxes(bytes)
        let first = all.firstIndex { $0.type == "moof" } ?? all.count
        let header = all[..<first].flatMap { bytes[$0.range] }
        var fragments: [[UInt8]] = []
        var i = first
        while i + 1 < all.count, all[i].type == "moof", all[i + 1].type == "mdat" {
            fragments.append(Array(bytes[all[i].range.lowerBound..<all[i + 1].range.upperBound]))
            i += 2
        }
        return (header, fragments)
    }

    @Test func codecChangeMidStreamIsRefused() throws {
        let pp = try Self.publishingPoint()
        _ = try Self.ingest(pp, "s", Self.smooth)
        // Track 1 of the CMAF file is H.264 with another configuration (96x64 at another bitrate).
        let error = #expect(throws: LiveIngestError.self) { _ = try Self.ingest(pp, "s", Self.cmaf) }
        guard case .codecChanged(let id, _, _)? = error else {
            Issue.record("expected codecChanged, got \(String(describing: error))")
            return
        }
        #expect(id == 1 && error?.httpStatus == 409)
    }

    @Test func fragmentOfAnUnannouncedTrackIsRefused() throws {
        var body = Self.cmaf
        // The first tfhd's track_ID (after its 4-byte version/flags) becomes 9.
        let tfhd = try #require(Self.find("tfhd", in: body, after: 0))
        body[tfhd + 8 + 4 + 3] = 9
        let pp = try Self.publishingPoint()
        let error = #expect(throws: LiveIngestError.self) { _ = try Self.ingest(pp, "s", body) }
        #expect(error == .unannouncedTrack(9))
        #expect(error?.httpStatus == 400)
    }

    @Test func streamNamesThatCannotBeDirectories() {
        for path in ["Streams()", "Streams(..)", "Streams(a/b)", "Streams(.hidden)", "Streams(a b)", "Stream(x)",
                     "Events(x)Streams(y)", "Streams(" + String(repeating: "a", count: 129) + ")", "Manifest"] {
            #expect(throws: LiveIngestError.self, "\(path)") { _ = try IngestPath(virtualPath: path) }
        }
        let path = try? IngestPath(virtualPath: "Events(ev-1)/Streams(video_1.cmfv)")
        #expect(path?.stream == "video_1.cmfv" && path?.event == "ev-1")
    }

    @Test func recoveryCutsWhatACrashedWriterLeft() throws {
        let pp = try Self.publishingPoint()
        _ = try Self.ingest(pp, "s", Array(Self.smooth.prefix(Self.smooth.count * 3 / 4)), complete: false)
        let dir = LiveStoreLayout.streamDirectory(manifestPath: pp, stream: "s")
        let good = try Self.records(pp, "s", 1)
        // A writer killed mid-fragment: media bytes without a record, and half a record.
        try Self.append([UInt8](repeating: 0xAB, count: 5000), to: "\(dir)/1.media")
        try Self.append(Array(FragmentRecord(time: 99, duration: 1, offset: 0, size: 1, sampleCount: 1, ingestMillis: 0,
                                             flags: 0).encoded().prefix(30)), to: "\(dir)/1.index")
        #expect(try Self.records(pp, "s", 1) == good)    // readers ignore the torn record
        // The next writer repairs the files and continues the timeline.
        let session = try IngestSession(manifestPath: pp, virtualPath: "Streams(s)")
        try session.feed(Array(Self.smooth.prefix(try #require(Self.find("moof", in: Self.smooth, after: 0)))))   // header only: opens the tracks
        try session.finish(complete: false)
        #expect(Self.file(pp, "s", "1.index").count == good.count * FragmentRecord.size)
        #expect(UInt64(Self.file(pp, "s", "1.media").count) == good.last?.mediaEnd)
    }

    @Test func readersInAnotherThreadSeeOnlyWholeFragments() throws {
        let pp = try Self.publishingPoint()
        let dir = LiveStoreLayout.streamDirectory(manifestPath: pp, stream: "s")
        let done = Atomic(false)
        let reader = Thread {
            var seen = 0
            while !done.load(ordering: .relaxed) {
                guard let index = try? FragmentIndexReader(path: "\(dir)/1.index") else { continue }
                #expect(index.count >= seen)
                seen = index.count
                let media = (try? LocalFile.contents(of: "\(dir)/1.media", limit: 1 << 24)) ?? []
                for i in 0..<index.count {
                    guard let r = try? index.record(at: i) else { Issue.record("record \(i)"); break }
                    // The media file holds every byte of each visible fragment, starting with its moof.
                    #expect(r.mediaEnd <= UInt64(media.count))
                    if r.mediaEnd <= UInt64(media.count) { #expect(Array(media[Int(r.offset) + 4..<Int(r.offset) + 8]) == Array("moof".utf8)) }
                }
            }
        }
        reader.start()
        _ = try Self.ingest(pp, "s", Self.smooth, chunks: [333])
        done.store(true, ordering: .relaxed)
        while !reader.isFinished { usleep(1000) }
        #expect(try Self.records(pp, "s", 1).count == 4)
    }

    @Test func lookupByTime() throws {
        let pp = try Self.publishingPoint()
        _ = try Self.ingest(pp, "s", Self.smooth)
        let index = try FragmentIndexReader(path: LiveStoreLayout.streamDirectory(manifestPath: pp, stream: "s") + "/1.index")
        #expect(try index.lastStarting(atOrBefore: -1) == nil)
        #expect(try index.lastStarting(atOrBefore: 0) == 0)
        #expect(try index.lastStarting(atOrBefore: 19_999_999) == 1)
        #expect(try index.lastStarting(atOrBefore: 20_000_000) == 2)
        #expect(try index.lastStarting(atOrBefore: .max) == 3)
    }

    @Test func recordRoundTripAndChecksum() {
        let r = FragmentRecord(time: -5, duration: 20_000_000, offset: 1 << 40, size: 77, sampleCount: 50,
                               ingestMillis: 1_765_000_000_000, flags: 1)
        let bytes = r.encoded()
        #expect(bytes.count == 48)
        #expect(FragmentRecord(bytes[...]) == r)
        for i in 0..<48 {
            var flipped = bytes
            flipped[i] ^= 0x10
            #expect(FragmentRecord(flipped[...]) == nil)
        }
    }

    static func find(_ type: String, in bytes: [UInt8], after: Int) -> Int? {
        let t = Array(type.utf8)
        var i = max(after, 4)
        while i + 4 <= bytes.count {
            if Array(bytes[i..<i + 4]) == t { return i - 4 }
            i += 1
        }
        return nil
    }

    static func append(_ bytes: [UInt8], to path: String) throws {
        let file = try #require(fopen(path, "ab"))
        defer { fclose(file) }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    }
}

/// The DVR window over a track's index and where a requested time stands in it.
@Suite struct LiveWindowTests {
    /// An index of 2 s fragments (timescale 1000) at these start times.
    static func index(_ starts: [Int64]) throws -> String {
        let path = try IndexMP4EngineTests.temporaryDirectory() + "/1.index"
        var bytes: [UInt8] = []
        var offset: UInt64 = 0
        for t in starts {
            bytes += FragmentRecord(time: t, duration: 2000, offset: offset, size: 100, sampleCount: 50,
                                    ingestMillis: 0, flags: 1).encoded()
            offset += 100
        }
        try IndexMP4EngineTests.write(bytes, to: path)
        return path
    }

    @Test func windowSlidesWithTheNewestFragment() throws {
        let path = try Self.index(stride(from: 0, to: 60_000, by: 2000).map { Int64($0) })   // 30 fragments, 0-60 s
        let reader = try FragmentIndexReader(path: path)
        let window = try LiveWindow(index: reader, dvrWindow: 10_000)
        #expect(window.firstIndex == 25)
        #expect(window.fragments.map(\.time) == [50_000, 52_000, 54_000, 56_000, 58_000])
        // A window that starts inside a fragment keeps that fragment.
        #expect(try LiveWindow(index: reader, dvrWindow: 9_000).firstIndex == 25)
        #expect(try LiveWindow(index: reader, dvrWindow: 11_000).firstIndex == 24)
        #expect(try LiveWindow(index: reader, dvrWindow: 0).fragments.count == 30)
        #expect(try LiveWindow(index: reader, dvrWindow: .max).firstIndex == 0)
    }

    @Test func lookupTellsOldMissingAndFutureApart() throws {
        // A gap from 6 s to 10 s (the encoder was away).
        let reader = try FragmentIndexReader(path: try Self.index([0, 2000, 4000, 10_000, 12_000]))
        let window = try LiveWindow(index: reader, dvrWindow: 12_000)
        #expect(window.firstIndex == 1)
        #expect(window.lookup(time: 0) == .notFound)
        if case .found(let i, let r) = window.lookup(time: 4000) { #expect(i == 2 && r.time == 4000) } else { Issue.record("4000") }
        if case .found(let i, _) = window.lookup(time: 5999) { #expect(i == 2) } else { Issue.record("5999") }
        #expect(window.lookup(time: 6000) == .missing)
        #expect(window.lookup(time: 9999) == .missing)
        if case .found(let i, _) = window.lookup(time: 12_000) { #expect(i == 4) } else { Issue.record("12000") }
        #expect(window.lookup(time: 14_000) == .notAvailable)
        #expect(window.lookup(time: .max) == .notAvailable)
        #expect(window.lookup(time: .min) == .notFound)
    }

    @Test func emptyStore() throws {
        let window = try LiveWindow(index: try FragmentIndexReader(path: try Self.index([])), dvrWindow: 30_000)
        #expect(window.fragments.isEmpty && window.lookup(time: 0) == .notAvailable)
    }
}

/// Live HLS (fMP4, sliding window) from what ffmpeg's Smooth ingest stored.
@Suite struct LivePlayoutTests {
    let engine = Engine()

    func get(_ manifest: String, _ path: String) -> EngineResponse {
        engine.handle(EngineRequest(method: "GET", manifestPath: manifest, virtualPath: path, query: nil))
    }

    func body(_ r: EngineResponse) throws -> [UInt8] { try EngineTests().body(r) }

    func ingested() throws -> String {
        let pp = try LiveIngestTests.publishingPoint()
        _ = try LiveIngestTests.ingest(pp, "channel1", LiveIngestTests.smooth)
        return pp
    }

    @Test func masterAndSlidingMediaPlaylists() throws {
        let pp = try ingested()
        let master = String(decoding: try body(get(pp, ".m3u8")), as: UTF8.self)
        #expect(master.contains("#EXT-X-STREAM-INF:BANDWIDTH=92000,CODECS=\"avc1."))
        #expect(master.contains("channel1-video=60000.m3u8") && master.contains("channel1-video=30000.m3u8"))
        #expect(master.contains("URI=\"channel1-audio=32000.m3u8\""))
        let media = get(pp, "channel1-video=60000.m3u8")
        #expect(media.status == 200 && media.lastModified == 1_800_000_000)
        let text = String(decoding: try body(media), as: UTF8.self)
        #expect(text.contains("#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-MAP:URI=\"channel1-video=60000.m4s\"\n"))
        #expect(text.contains("#EXT-X-PROGRAM-DATE-TIME:2027-01-15T07:59:59.000Z\n"))
        #expect(text.hasSuffix("#EXTINF:1.000,\nchannel1-video=60000-4.m4s\n") && !text.contains("ENDLIST"))
        // AAC's fragments run a little over 1 s: the target is the rounded duration (RFC 8216), as video's.
        #expect(try LiveIngestTests.records(pp, "channel1", 3).contains { $0.duration > 10_000_000 })
        let audio = String(decoding: try body(get(pp, "channel1-audio=32000.m3u8")), as: UTF8.self)
        #expect(audio.contains("#EXT-X-TARGETDURATION:1\n"))
        // A 2 s window of the 4 s stored: the last two fragments, numbered as in the store.
        var manifest = String(decoding: try LocalFile.contents(of: pp, limit: 1 << 20), as: UTF8.self)
        manifest = manifest.replacingOccurrences(of: "content=\"30\"", with: "content=\"2\"")
        try IndexMP4EngineTests.write(Array(manifest.utf8), to: pp)
        let slid = String(decoding: try body(get(pp, "channel1-video=60000.m3u8")), as: UTF8.self)
        #expect(slid.contains("#EXT-X-MEDIA-SEQUENCE:3\n"))
        #expect(slid.components(separatedBy: "#EXTINF").count == 3)
        #expect(get(pp, "channel1-video=60000-2.m4s").status == 404)
        #expect(get(pp, "channel1-video=60000-5.m4s").status == 404)
        #expect(get(pp, "channel1-video=60000-3.m4s").status == 200)
        #expect(get(pp, "Manifest").status == 200)
    }

    @Test func initAndSegmentsReadBackAsTheStoredSamples() throws {
        let pp = try ingested()
        for (token, id) in [("video=60000", UInt32(1)), ("audio=32000", UInt32(3))] {
            var file = try body(get(pp, "channel1-\(token).m4s"))
            for n in 1...4 {
                let segment = get(pp, "channel1-\(token)-\(n).m4s")
                #expect(segment.status == 200)
                file += try body(segment)
            }
            let track = try #require(try MP4Reader.read(MemoryReader(file), locator: "live").tracks.first)
            #expect(track.trackID == id)
            let stored = try LiveIngestTests.records(pp, "channel1", id)
            #expect(track.samples.count == stored.reduce(0) { $0 + Int($1.sampleCount) })
            // tfdt carries the stored times (Smooth ingest sent them in tfxd), moved so that audio's
            // encoder delay (a start at -1024 samples) is not negative; the edit list takes it out again.
            let offset = max(0, -(stored.first?.time ?? 0))
            #expect(offset == (id == 3 ? 213_333 : 0))
            // The init's edit list starts presentation there (MP4Reader itself never drops leading samples).
            let initSegment = try body(get(pp, "channel1-\(token).m4s"))
            let elst = LiveIngestTests.find("elst", in: initSegment, after: 0)
            #expect((elst != nil) == (offset > 0))
            if let elst {
                #expect(initSegment[(elst + 24)..<(elst + 32)].reduce(Int64(0)) { $0 << 8 | Int64($1) } == offset)
            }
            var first = 0
            for r in stored {
                #expect(track.samples.decodeTimes[first] == r.time + offset, "\(token) fragment at \(r.time)")
                first += Int(r.sampleCount)
            }
            // The samples are the stored mdats' bytes (the trun data offsets moved with the inserted tfdt).
            var samples: [UInt8] = []
            for i in 0..<track.samples.count {
                let at = Int(track.samples.offsets[i])
                samples += file[at..<at + Int(track.samples.sizes[i])]
            }
            let media = LiveIngestTests.file(pp, "channel1", "\(id).media")
            var mdats: [UInt8] = []
            for r in stored {
                let moofSize = Int(media[Int(r.offset)..<Int(r.offset) + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                mdats += media[(Int(r.offset) + moofSize + 8)..<Int(r.mediaEnd)]
            }
            #expect(samples == mdats)
        }
    }
}

/// Catch-up: vbegin/vend in UTC cut a VOD playlist out of the archive.
@Suite struct LiveCatchupTests {
    let playout = LivePlayoutTests()

    func get(_ pp: String, _ path: String, _ query: String) -> EngineResponse {
        playout.engine.handle(EngineRequest(method: "GET", manifestPath: pp, virtualPath: path, query: query))
    }

    @Test func utcForms() throws {
        #expect(try LiveCatchup.parseUTC("1800000000", what: "t") == 1_800_000_000_000)
        #expect(try LiveCatchup.parseUTC("1800000000.25", what: "t") == 1_800_000_000_250)
        #expect(try LiveCatchup.parseUTC("2027-01-15T08:00:00Z", what: "t") == 1_800_000_000_000)
        #expect(try LiveCatchup.parseUTC("2027-01-15T08:00:00.5Z", what: "t") == 1_800_000_000_500)
        #expect(try LiveCatchup.parseUTC("2027-01-15T09:00:00+01:00", what: "t") == 1_800_000_000_000)
        #expect(try LiveCatchup.parseUTC("1970-01-01T00:00:00Z", what: "t") == 0)
        #expect(try LiveCatchup.parseUTC("2024-02-29T12:00:00Z", what: "t") == 1_709_208_000_000)
        for bad in ["", "abc", "2027-01-15T08:00:00", "2027-13-15T08:00:00Z", "2027-01-15 08:00:00Z", "1.", "-5",
                    "2027-01-15T08:00:00Zjunk", String(repeating: "9", count: 41), "1800000000.1234567890"] {
            #expect(throws: (any Error).self, "\(bad)") { try LiveCatchup.parseUTC(bad, what: "t") }
        }
    }

    @Test func catchupPlaylistIsVODOfTheFragmentsInTheRange() throws {
        let pp = try playout.ingested()   // four 1 s fragments; media time 0 is 1_799_999_999 s UTC
        for query in ["vbegin=1800000000&vend=1800000002", "vbegin=2027-01-15T08:00:00Z&vend=2027-01-15T08:00:02Z"] {
            let text = String(decoding: try playout.body(get(pp, "channel1-video=60000.m3u8", query)), as: UTF8.self)
            #expect(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n") && text.hasSuffix("#EXT-X-ENDLIST\n"))
            #expect(text.contains("#EXT-X-MEDIA-SEQUENCE:2\n"))
            #expect(text.contains("channel1-video=60000-2.m4s?\(query)\n") && text.contains("channel1-video=60000-3.m4s?\(query)\n"))
            #expect(text.components(separatedBy: "#EXTINF:1.000,").count == 3)
            #expect(get(pp, "channel1-video=60000-2.m4s", query).status == 200)
            #expect(get(pp, "channel1-video=60000-4.m4s", query).status == 404)
            let master = String(decoding: try playout.body(get(pp, ".m3u8", query)), as: UTF8.self)
            #expect(master.contains("channel1-video=60000.m3u8?\(query)\n"))
        }
        // Open ends: from the start, to the end.
        let all = String(decoding: try playout.body(get(pp, "channel1-video=60000.m3u8", "vend=1800000010")), as: UTF8.self)
        #expect(all.components(separatedBy: "#EXTINF").count == 5)
        #expect(get(pp, "channel1-video=60000.m3u8", "vbegin=1800000002&vend=1800000001").status == 400)
        #expect(get(pp, "channel1-video=60000.m3u8", "vbegin=yesterday").status == 400)
        #expect(get(pp, ".mpd", "vbegin=1800000000").status == 501)
    }
}

/// The read-only publishing-point API documents (not wired to a server yet).
@Suite struct LiveAPITests {
    @Test func stateArchiveAndStatistics() throws {
        let pp = try LiveIngestTests.publishingPoint()
        let (header, fragments) = LiveIngestTests.split(LiveIngestTests.smooth)
        // Fragments 0-1, then a reconnect that lost fragment 2: two archived ranges per track.
        _ = try LiveIngestTests.ingest(pp, "channel1", header + fragments[0..<6].flatMap { $0 }, complete: false)
        let session = try IngestSession(manifestPath: pp, virtualPath: "Streams(channel1)", clock: { 1_800_000_000_000 })
        try session.feed(header + fragments[9...].flatMap { $0 })
        let live = try #require(try LivePresentation.load(manifestPath: pp))
        #expect(LiveAPI.state(live, manifestPath: pp) == .started)
        try session.finish(complete: true)
        #expect(LiveAPI.state(live, manifestPath: pp) == .stopped)
        let state = String(decoding: LiveAPI.stateDocument(.stopped), as: UTF8.self)
        #expect(state.contains("<meta name=\"state\" content=\"stopped\"/>"))
        let archive = String(decoding: try LiveAPI.archiveDocument(live), as: UTF8.self)
        // Media time 0 is 2027-01-15T07:59:59Z (the first fragment ended at 1 s and arrived at 08:00:00).
        #expect(archive.contains("<video src=\"video=60000\" systemBitrate=\"60000\"><c start=\"2027-01-15T07:59:59.000Z\" end=\"2027-01-15T08:00:01.000Z\"/><c start=\"2027-01-15T08:00:02.000Z\" end=\"2027-01-15T08:00:03.000Z\"/></video>")
                || archive.replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: "  ", with: "")
                    .contains("<c start=\"2027-01-15T07:59:59.000Z\" end=\"2027-01-15T08:00:01.000Z\"/><c start=\"2027-01-15T08:00:02.000Z\" end=\"2027-01-15T08:00:03.000Z\"/>"))
        #expect(archive.components(separatedBy: "<c ").count == 7)
        let statistics = String(decoding: try LiveAPI.statisticsDocument(live, manifestPath: pp), as: UTF8.self)
        #expect(statistics.contains("fragments=\"3\" purged=\"0\" lastFragmentIngest=\"2027-01-15T08:00:00.000Z\""))
    }

    @Test func idleBeforeAnyFragment() throws {
        let pp = try LiveIngestTests.publishingPoint()
        let (header, _) = LiveIngestTests.split(LiveIngestTests.smooth)
        _ = try LiveIngestTests.ingest(pp, "channel1", header)
        let live = try #require(try LivePresentation.load(manifestPath: pp))
        #expect(LiveAPI.state(live, manifestPath: pp) == .idle)
        #expect(String(decoding: try LiveAPI.archiveDocument(live), as: UTF8.self).contains("<c ") == false)
    }
}

/// Dynamic DASH from the same store.
@Suite struct LiveDASHTests {
    let playout = LivePlayoutTests()

    @Test func dynamicMPDWithTimelinesOfTheWindow() throws {
        let pp = try playout.ingested()
        let mpd = String(decoding: try playout.body(playout.get(pp, ".mpd")), as: UTF8.self)
        #expect(mpd.contains("type=\"dynamic\""))
        #expect(mpd.contains("availabilityStartTime=\"2027-01-15T07:59:59.000Z\""))
        #expect(mpd.contains("timeShiftBufferDepth=\"PT30S\"") && mpd.contains("minimumUpdatePeriod=\"PT1.0"))
        #expect(mpd.contains("<UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\""))
        #expect(mpd.contains("media=\"channel1-$RepresentationID$-$Time$.dash\""))
        // Video: four 1 s fragments from 0. Audio: moved by its encoder delay, which the
        // presentationTimeOffset takes out again.
        #expect(mpd.components(separatedBy: "<S t=\"0\" d=\"10000000\" r=\"3\"/>").count == 3)
        #expect(mpd.contains("<Representation id=\"audio=32000\" bandwidth=\"32000\" codecs=\"mp4a.40.2\">"))
        let audio = try LiveIngestTests.records(pp, "channel1", 3)
        #expect(audio[0].time == -213_333)
        #expect(mpd.contains("presentationTimeOffset=\"213333\""))
        #expect(mpd.contains("<S t=\"0\" d=\"\(audio[0].duration)\"/>"))
        // Segments by time: present, gone from the window (410), in the future (404), not a start (404).
        #expect(playout.get(pp, "channel1-video=60000-10000000.dash").status == 200)
        #expect(playout.get(pp, "channel1-audio=32000-0.dash").status == 200)
        #expect(playout.get(pp, "channel1-audio=32000-\(audio[1].time + 213_333).dash").status == 200)
        #expect(playout.get(pp, "channel1-audio=32000-\(audio[1].time).dash").status == 404)
        #expect(playout.get(pp, "channel1-video=60000-40000000.dash").status == 404)
        #expect(playout.get(pp, "channel1-video=60000-5000000.dash").status == 404)
        #expect(playout.get(pp, "channel1-video=60000.dash").status == 200)
        var manifest = String(decoding: try LocalFile.contents(of: pp, limit: 1 << 20), as: UTF8.self)
        manifest = manifest.replacingOccurrences(of: "content=\"30\"", with: "content=\"2\"")
        try IndexMP4EngineTests.write(Array(manifest.utf8), to: pp)
        #expect(playout.get(pp, "channel1-video=60000-0.dash").status == 410)
        let slid = String(decoding: try playout.body(playout.get(pp, ".mpd")), as: UTF8.self)
        #expect(slid.contains("<S t=\"20000000\" d=\"10000000\" r=\"1\"/>"))
    }

    @Test func timelineRunsAndGaps() {
        func record(_ t: Int64, _ d: UInt64) -> FragmentRecord {
            FragmentRecord(time: t, duration: d, offset: 0, size: 0, sampleCount: 1, ingestMillis: 0, flags: 1)
        }
        var w = XMLWriter()
        LiveDASH.writeTimeline(&w, [record(0, 2), record(2, 2), record(4, 3), record(10, 2), record(12, 2)])
        let text = String(decoding: w.finish(), as: UTF8.self)
        #expect(text.contains("<S t=\"0\" d=\"2\" r=\"1\"/><S d=\"3\"/><S t=\"10\" d=\"2\" r=\"1\"/>")
                || text.replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: " ", with: "")
                    .contains("<St=\"0\"d=\"2\"r=\"1\"/><Sd=\"3\"/><St=\"10\"d=\"2\"r=\"1\"/>"))
        #expect(LiveDASH.duration(2500) == "PT2.500S" && LiveDASH.duration(30_000) == "PT30S")
    }
}
