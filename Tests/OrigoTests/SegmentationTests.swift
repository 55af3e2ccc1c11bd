import Testing
@testable import MediaModel

/// A synthetic 25 fps video (timescale 12800, 512 per frame) with a keyframe every `gop` frames
/// and B-frame style composition offsets, plus 48 kHz AAC (1024 per frame).
func syntheticTracks(seconds: Int, gop: Int) -> (video: Track, audio: Track) {
    var v = SampleTable()
    let frames = seconds * 25
    for i in 0..<frames {
        // I P B B pattern after an edit of 1024: composition offsets 1024, 2048, 0, 512 ...
        let cto: Int32 = i % gop == 0 ? 1024 : [2048, 0, 512][(i % gop - 1) % 3]
        v.append(decodeTime: Int64(i * 512), duration: 512, compositionOffset: cto, size: 1000,
                 offset: UInt64(i * 1000), isSync: i % gop == 0)
    }
    var a = SampleTable()
    let audioFrames = seconds * 48000 / 1024 + 1
    for i in 0..<audioFrames {
        a.append(decodeTime: Int64(i * 1024), duration: 1024, compositionOffset: 0, size: 300,
                 offset: UInt64(1_000_000 + i * 300), isSync: true)
    }
    let video = Track(trackID: 1, kind: .video, timescale: 12800, language: "und", sampleEntryType: "avc1",
                      sampleEntry: [], codec: .other, width: 320, height: 180, samples: v,
                      presentationOffset: 1024, dataSource: "v.mp4")
    let audio = Track(trackID: 2, kind: .audio, timescale: 48000, language: "eng", sampleEntryType: "mp4a",
                      sampleEntry: [], codec: .other, sampleRate: 48000, channels: 2, samples: a,
                      presentationOffset: 0, dataSource: "a.mp4")
    return (video, audio)
}

@Suite struct SegmentationTests {
    @Test func gopSegmentsAlignAudioToVideo() throws {
        let (video, audio) = syntheticTracks(seconds: 10, gop: 50)
        let s = try #require(Segmentation.make(tracks: [video, audio], minimumLength: nil))
        #expect(s.starts == [0, 25600, 51200, 76800, 102400])
        let vr = s.sampleRanges(for: video)
        #expect(vr == [0..<50, 50..<100, 100..<150, 150..<200, 200..<250])
        let ar = s.sampleRanges(for: audio)
        #expect(ar.count == 5)
        // Audio cut at the frame nearest 2 s: 2 s = 93.75 frames → frame 94 starts closest (after rounding half up).
        #expect(ar[1].lowerBound == 94)
        // Ranges are contiguous and cover every sample.
        for k in 1..<ar.count { #expect(ar[k].lowerBound == ar[k - 1].upperBound) }
        #expect(ar.last?.upperBound == audio.samples.count)
    }

    @Test func minimumLengthGroupsGops() throws {
        let (video, audio) = syntheticTracks(seconds: 10, gop: 50)
        let s = try #require(Segmentation.make(tracks: [video, audio], minimumLength: .seconds(4)))
        #expect(s.starts == [0, 51200, 102400])
        #expect(s.sampleRanges(for: video) == [0..<100, 100..<200, 200..<250])
    }

    @Test func audioOnlyUsesFallbackLength() throws {
        let (_, audio) = syntheticTracks(seconds: 10, gop: 50)
        let s = try #require(Segmentation.make(tracks: [audio], minimumLength: nil, fallbackLength: .seconds(2)))
        #expect(s.count == 5)
        let durations = SegmentStats(track: audio, segmentation: s).durations
        #expect(durations.dropLast().allSatisfy { abs($0 - 96000) <= 1024 })
    }

    @Test func rescaleIsExactAndSaturates() {
        #expect(MediaTime.rescale(1001, from: 30000, to: 90000) == 3003)
        #expect(MediaTime.rescale(-1, from: 3, to: 2) == -1)
        #expect(MediaTime.rescale(Int64.max, from: 1, to: 90000) == Int64.max)
        #expect(MediaTime.decimal(1001, timescale: 30000, digits: 3) == "0.033")
        #expect(MediaTime.decimal(4004, timescale: 1000, digits: 3) == "4.004")
        #expect(FragmentLength(parsing: "48/25") == FragmentLength(numerator: 48, denominator: 25))
        #expect(FragmentLength(parsing: "2.5")?.units(timescale: 1000) == 2500)
        #expect(FragmentLength(parsing: "-1") == nil)
        #expect(FragmentLength(parsing: "1/0") == nil)
    }

    @Test func segmentLookupByStartTimeSkipsEmptyRanges() {
        // Samples start every 10 units; segment 1 is empty (shares its start with segment 2).
        let ranges = [0..<3, 3..<3, 3..<5, 5..<9, 9..<9]
        let start = { (i: Int) -> Int64 in i < 9 ? Int64(i) * 10 : Int64.max }
        #expect(Segmentation.segment(startingAt: 0, ranges: ranges, start: start) == 0)
        #expect(Segmentation.segment(startingAt: 30, ranges: ranges, start: start) == 2)
        #expect(Segmentation.segment(startingAt: 50, ranges: ranges, start: start) == 3)
        #expect(Segmentation.segment(startingAt: 10, ranges: ranges, start: start) == nil)
        #expect(Segmentation.segment(startingAt: 90, ranges: ranges, start: start) == nil)
        #expect(Segmentation.segment(startingAt: -5, ranges: [], start: start) == nil)
    }
}

@Suite struct PresentationTrackLookupTests {
    @Test func tokensFindTheirTracksAfterTheListChanges() {
        let (video, audio) = syntheticTracks(seconds: 2, gop: 1)
        var p = Presentation(tracks: [
            PresentationTrack(track: video, name: "video", bitrate: 800_000, language: "und"),
            PresentationTrack(track: audio, name: "audio", bitrate: 64_000, language: "eng"),
        ])
        #expect(p.track(token: "video=800000")?.name == "video")
        #expect(p.track(token: "audio=64000")?.bitrate == 64_000)
        #expect(p.track(token: "video=0800000") == nil)
        #expect(p.track(token: "video") == nil)
        // A selection replaces the list: the index follows.
        p.tracks = p.tracks.filter { $0.kind == .audio }
        #expect(p.track(token: "video=800000") == nil)
        #expect(p.track(token: "audio=64000")?.name == "audio")
    }
}
