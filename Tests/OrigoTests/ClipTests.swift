import Testing
@testable import MediaModel

@Suite struct ClipTests {
    static let ns: Int64 = 1_000_000_000

    func presentation(seconds: Int = 10) -> Presentation {
        let (video, audio) = syntheticTracks(seconds: seconds, gop: 50)
        return Presentation(tracks: [
            PresentationTrack(track: video, name: "video", bitrate: 400_000, language: "und"),
            PresentationTrack(track: audio, name: "audio_eng", bitrate: 64_000, language: "eng"),
        ])
    }

    func clip(_ p: Presentation, _ begin: Double?, _ end: Double?) -> Presentation? {
        p.clipped(to: ClipRange(begin: begin.map { Int64($0 * 1000) }, end: end.map { Int64($0 * 1000) }, timescale: 1000))
    }

    @Test func roundsOutToGOPsAndRebases() throws {
        // 2 s GOPs: [3.1, 6.5) → GOPs starting at 2 s and 4 s and 6 s → [2, 8).
        let c = try #require(clip(presentation(), 3.1, 6.5))
        let v = c.tracks[0].track
        #expect(v.samples.count == 150)
        #expect(v.samples.isSync(0))
        #expect(v.presentationTime(of: 0) == 0)
        #expect((0..<v.samples.count).map(v.presentationTime).min() == 0)
        // endTime is the decode end minus the edit (1024): the clip's decode timeline spans 6 s.
        #expect(v.endTime == 6 * 12800 - 1024)
        // Decode times and offsets stay those of the source (the GOP at 2 s starts at frame 50).
        #expect(v.samples.decodeTimes[0] == 50 * 512)
        #expect(v.samples.offsets[0] == 50 * 1000)
    }

    @Test func exactGOPBoundariesAreKept() throws {
        let c = try #require(clip(presentation(), 2, 4))
        #expect(c.tracks[0].track.samples.count == 50)
        let whole = try #require(clip(presentation(), nil, 4))
        #expect(whole.tracks[0].track.samples.count == 100)
        let tail = try #require(clip(presentation(), 9, nil))
        #expect(tail.tracks[0].track.samples.count == 50)
    }

    @Test func audioStartsWithinTheClip() throws {
        let c = try #require(clip(presentation(), 3.1, 6.5))
        let a = c.tracks[1].track
        // 2 s = 93.75 AAC frames: the first frame starting at or after 2 s is frame 94.
        #expect(a.samples.decodeTimes[0] == 94 * 1024)
        #expect(a.presentationTime(of: 0) >= 0)
        #expect(a.presentationTime(of: 0) < 1024)
        // The last kept frame starts before 8 s (384 000): frame 374 (374·1024 = 382 976).
        let last = a.samples.count - 1
        #expect(a.samples.decodeTimes[last] == 374 * 1024)
        #expect(a.samples.count == 374 - 94 + 1)
    }

    @Test func beyondTheEnd() throws {
        #expect(clip(presentation(), 10, nil) == nil)
        #expect(clip(presentation(), 50, 60) == nil)
        let clamped = try #require(clip(presentation(), 8.5, 500))
        #expect(clamped.tracks[0].track.samples.count == 50)
        #expect(clamped.tracks[1].track.samples.count > 0)
    }

    @Test func segmentationOfAClipStartsAtZero() throws {
        let c = try #require(clip(presentation(), 3.1, 6.5))
        let s = try #require(Segmentation.make(tracks: c.tracks.map(\.track), minimumLength: nil))
        #expect(s.starts == [0, 25600, 51200])
        #expect(s.end == 6 * 12800)
        // Fragment timing: tfdt starts at 0 and media time equals presentation time.
        let t = FragmentTiming(track: c.tracks[0].track)
        #expect(c.tracks[0].track.samples.decodeTimes[0] &+ t.decodeShift == 0)
    }
}

@Suite struct SampleSliceTests {
    func reference(_ n: Int, wide: Bool) -> (SampleTable, [Int64], [UInt32], [Int32], [UInt32], [UInt64], [Bool]) {
        var t = SampleTable()
        var dts: [Int64] = [], dur: [UInt32] = [], cto: [Int32] = [], sz: [UInt32] = [], off: [UInt64] = [], sync: [Bool] = []
        var time: Int64 = 7, offset: UInt64 = 100
        for i in 0..<n {
            let d: UInt32 = i % 97 < 50 ? 512 : 1001
            if i % 31 == 0 { time += 3 }
            let c: Int32 = Int32(i % 4) * 512
            let s = UInt32(i * 7 % 5000)
            if wide && i == n / 2 { offset += 10_000_000_000 }
            dts.append(time); dur.append(d); cto.append(c); sz.append(s); off.append(offset); sync.append(i % 13 == 0)
            t.append(decodeTime: time, duration: d, compositionOffset: c, size: s, offset: offset, isSync: i % 13 == 0)
            time += Int64(d)
            offset += UInt64(s)
        }
        return (t, dts, dur, cto, sz, off, sync)
    }

    @Test(arguments: [false, true]) func sliceEqualsSliceOfArrays(wide: Bool) {
        let n = 1000
        let (t, dts, dur, cto, sz, off, sync) = reference(n, wide: wide)
        for r in [0..<0, 0..<n, 1..<2, 13..<500, 499..<501, 64..<128, 63..<129, 950..<1000, 700..<1000] {
            let expected = SampleTable(decodeTimes: Array(dts[r]), durations: Array(dur[r]), compositionOffsets: Array(cto[r]),
                                       sizes: Array(sz[r]), offsets: Array(off[r]), syncFlags: Array(sync[r]))
            let got = t.slice(r)
            #expect(got.count == r.count)
            #expect(Array(got.decodeTimes) == Array(dts[r]), "\(r)")
            #expect(Array(got.durations) == Array(dur[r]), "\(r)")
            #expect(Array(got.offsets) == Array(off[r]), "\(r)")
            #expect(Array(got.sizes) == Array(sz[r]))
            #expect((0..<r.count).map(got.compositionOffset) == Array(cto[r]))
            #expect((0..<r.count).map(got.isSync) == Array(sync[r]))
            #expect(got.firstIndex(decodeTimeAtLeast: dts[r.lowerBound < n ? r.lowerBound : 0] + 1) == expected.firstIndex(decodeTimeAtLeast: dts[r.lowerBound < n ? r.lowerBound : 0] + 1))
            #expect((try? got.validate()) != nil)
        }
        // Out-of-range requests are clamped, never trap.
        #expect(t.slice(900..<5000).count == 100)
        #expect(t.slice(5000..<6000).count == 0)
    }
}
