import ByteIO
import ISOBMFF
import MediaModel
import Storage
import Testing

/// Fixtures: 2 s of 96x64 H.264 (25 fps, GOP 25, B-frames) + mono 48 kHz AAC tagged `fra`, made with
/// ffmpeg; `fragmented.mp4` is the same streams remuxed as CMAF (`-movflags +frag_keyframe+cmaf`);
/// `short.mp4` is 1 s of the same kind (testsrc 96x64, 25 fps, GOP 25, 440 Hz sine as AAC).
enum Fixtures {
    static var directory: String {
        let file = #filePath
        return String(file[..<(file.lastIndex(of: "/") ?? file.endIndex)]) + "/Fixtures"
    }
    static func path(_ name: String) -> String { directory + "/" + name }
    static func bytes(_ name: String) throws -> [UInt8] { try LocalFile.contents(of: path(name), limit: 1 << 24) }
    static func index(_ name: String) throws -> MP4Index {
        try MP4Reader.read(LocalFileReader(path: path(name)), locator: path(name))
    }
}

@Suite struct ISOBMFFReaderTests {
    @Test func progressiveTracks() throws {
        let index = try Fixtures.index("progressive.mp4")
        #expect(!index.isFragmented)
        #expect(index.tracks.count == 2)
        let video = try #require(index.tracks.first { $0.kind == .video })
        let audio = try #require(index.tracks.first { $0.kind == .audio })
        #expect(video.samples.count == 50)
        #expect(audio.samples.count == 95)
        #expect(video.timescale == 12800)
        #expect(video.width == 96 && video.height == 64)
        #expect((0..<50).filter { video.samples.isSync($0) } == [0, 25])
        #expect(video.samples.hasCompositionOffsets)
        // The edit list removes the B-frame delay: the first frame is presented at zero.
        #expect(video.presentationTime(of: 0) == 0)
        #expect(audio.language == "fra")
        #expect(audio.sampleRate == 48000 && audio.channels == 1)
        guard case .avc(let avc) = video.codec else { Issue.record("not avc"); return }
        #expect(avc.nalLengthSize == 4 && avc.sps.count == 1 && avc.pps.count == 1)
        guard case .aac(let aac) = audio.codec else { Issue.record("not aac"); return }
        #expect(aac.objectType == 2 && aac.sampleRate == 48000)
    }

    @Test func fragmentedMatchesProgressive() throws {
        let progressive = try Fixtures.index("progressive.mp4")
        let fragmented = try Fixtures.index("fragmented.mp4")
        #expect(fragmented.isFragmented)
        let p = try Fixtures.bytes("progressive.mp4"), f = try Fixtures.bytes("fragmented.mp4")
        for kind in [TrackKind.video, .audio] {
            let a = try #require(progressive.tracks.first { $0.kind == kind })
            let b = try #require(fragmented.tracks.first { $0.kind == kind })
            #expect(a.samples.count == b.samples.count)
            #expect(a.samples.sizes == b.samples.sizes)
            #expect(a.samples.durations == b.samples.durations)
            for i in 0..<min(a.samples.count, b.samples.count) {
                #expect(a.presentationTime(of: i) == b.presentationTime(of: i), "PT of \(kind) sample \(i)")
                #expect(a.samples.isSync(i) == b.samples.isSync(i))
                let sa = Int(a.samples.offsets[i]), sb = Int(b.samples.offsets[i]), n = Int(a.samples.sizes[i])
                #expect(p[sa..<sa + n] == f[sb..<sb + n], "bytes of \(kind) sample \(i)")
            }
        }
    }

    @Test func fragmentWriterRoundTrip() throws {
        let source = try Fixtures.index("progressive.mp4")
        let file = try Fixtures.bytes("progressive.mp4")
        for track in source.tracks {
            // Two segments cut at the second sync sample (video) or half-way (audio).
            let cut = track.kind == .video ? 25 : track.samples.count / 2
            var out = FragmentWriter.initSegment(for: track)
            for (n, range) in [0..<cut, cut..<track.samples.count].enumerated() {
                for piece in try FragmentWriter.mediaSegment(track: track, samples: range, sequenceNumber: UInt32(n + 1)) {
                    switch piece {
                    case .bytes(let b): out += b
                    case .file(_, let offset, let length): out += file[Int(offset)..<Int(offset + length)]
                    }
                }
            }
            let reread = try MP4Reader.read(MemoryReader(out), locator: "mem")
            let t = try #require(reread.tracks.first)
            #expect(t.samples.count == track.samples.count)
            for i in 0..<min(t.samples.count, track.samples.count) {
                #expect(t.presentationTime(of: i) == track.presentationTime(of: i), "PT of sample \(i)")
                #expect(t.samples.isSync(i) == track.samples.isSync(i))
                let a = Int(t.samples.offsets[i]), b = Int(track.samples.offsets[i]), n = Int(t.samples.sizes[i])
                #expect(out[a..<a + n] == file[b..<b + n])
            }
        }
    }
}

@Suite struct ISOBMFFHostileInputTests {
    @Test func truncatedFilesThrow() throws {
        let file = try Fixtures.bytes("progressive.mp4")
        for cut in stride(from: 0, to: file.count, by: 97) {
            // Any outcome but a trap is acceptable; most cuts must be reported as errors.
            _ = try? MP4Reader.read(MemoryReader(Array(file[0..<cut])), locator: "mem")
        }
    }

    @Test func corruptedBytesNeverTrap() throws {
        let file = try Fixtures.bytes("fragmented.mp4")
        var rng = SplitMix(seed: 42)
        for _ in 0..<400 {
            var copy = file
            for _ in 0..<8 {
                let i = Int(rng.next() % UInt64(min(copy.count, 4096)))
                copy[i] = UInt8(truncatingIfNeeded: rng.next())
            }
            _ = try? MP4Reader.read(MemoryReader(copy), locator: "mem")
        }
    }

    @Test func limitsAreEnforced() throws {
        let limits = ReadLimits(maxIndexBytes: 1000, maxSamplesPerTrack: 10, maxBoxDepth: 8)
        #expect(throws: ISOBMFFError.self) {
            try MP4Reader.read(LocalFileReader(path: Fixtures.path("progressive.mp4")), locator: "x", limits: limits)
        }
    }

    @Test func boxLargerThanFile() {
        let bytes: [UInt8] = [0, 0, 0x10, 0, 0x6d, 0x6f, 0x6f, 0x76, 0, 0, 0, 0]
        #expect(throws: ISOBMFFError.self) { try MP4Reader.read(MemoryReader(bytes), locator: "x") }
    }
}

/// Deterministic pseudo-random numbers for mutation tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
