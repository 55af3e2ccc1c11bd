import MediaModel

/// The key frames of one video track that an I-frame playlist lists: every sync sample inside the
/// track's segments, in decode order, numbered from 1 in URLs.
///
/// Each key frame lasts until the next one; the last one lasts until the end of the track's last
/// segment, so the durations add up to the media playlist's (from the first key frame on).
public struct KeyFrames: Sendable {
    /// Sample index of each key frame.
    public let samples: [Int]
    /// Presentation time of each key frame, track timescale.
    public let times: [Int64]
    /// Time to the next key frame (to the end of the track for the last), track timescale, never negative.
    public let durations: [Int64]
    public let timescale: UInt32

    /// `ranges` are the track's sample ranges per segment (``SegmentStats/ranges``).
    public init(track: Track, ranges: [Range<Int>]) {
        let table = track.samples
        var samples: [Int] = [], times: [Int64] = []
        var end: Int64? = nil
        for range in ranges where !range.isEmpty {
            guard range.lowerBound >= 0, range.upperBound <= table.count else { continue }
            for i in range where table.isSync(i) {
                samples.append(i)
                times.append(track.presentationTime(of: i))
            }
            // The segment's end: its first sample's start plus the sum of its sample durations.
            var d: Int64 = 0
            for i in range { d &+= Int64(table.durations[i]) }
            end = track.presentationTime(of: range.lowerBound) &+ d
        }
        var durations: [Int64] = []
        durations.reserveCapacity(times.count)
        for k in times.indices {
            let next = k + 1 < times.count ? times[k + 1] : (end ?? times[k])
            durations.append(max(next &- times[k], 0))
        }
        self.samples = samples
        self.times = times
        self.durations = durations
        self.timescale = track.timescale
    }

    public var count: Int { samples.count }

    /// The sample index of key frame `number` (from 1), or nil when there is no such key frame.
    public func sample(number: Int) -> Int? {
        number >= 1 && number <= samples.count ? samples[number - 1] : nil
    }
}
