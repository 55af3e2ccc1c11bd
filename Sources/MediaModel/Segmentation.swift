/// Where a presentation is cut into segments. Boundaries are chosen once, on the reference
/// track (the first video track, else the first track), and every other track is cut at the
/// same presentation times, so segments line up across renditions and formats.
public struct Segmentation: Sendable, Equatable {
    /// Timescale of ``starts`` and ``end`` (the reference track's).
    public let timescale: UInt32
    /// Presentation start time of each segment; segment `k` spans `starts[k] ..< starts[k+1]`.
    public let starts: [Int64]
    /// Presentation end time of the last segment.
    public let end: Int64

    public var count: Int { starts.count }

    public init(timescale: UInt32, starts: [Int64], end: Int64) {
        self.timescale = timescale
        self.starts = starts
        self.end = end
    }

    /// Cuts `tracks` into segments at sync samples of the reference track. With a
    /// `minimumLength`, a segment runs until the first sync sample at least that long after its
    /// start; without one, every sync sample (every GOP) starts a segment. Audio-only or text-only
    /// presentations, whose samples are all sync samples, need a `minimumLength` to avoid one
    /// segment per sample: `fallbackLength` is used then.
    public static func make(tracks: [Track], minimumLength: FragmentLength?,
                            fallbackLength: FragmentLength = .seconds(2)) -> Segmentation? {
        guard let reference = tracks.first(where: { $0.kind == .video && !$0.samples.isEmpty })
                ?? tracks.first(where: { !$0.samples.isEmpty }),
              reference.timescale > 0 else { return nil }
        let samples = reference.samples
        let allSync = samples.syncFlags.isEmpty
        let length = minimumLength ?? (allSync ? fallbackLength : nil)
        let minimumUnits = length.map { $0.units(timescale: reference.timescale) } ?? 0

        var starts: [Int64] = []
        var current = reference.presentationTime(of: 0)
        starts.append(current)
        for i in 1..<samples.count where samples.isSync(i) {
            let t = reference.presentationTime(of: i)
            guard t > current else { continue }
            if t &- current >= minimumUnits || minimumUnits == 0 {
                starts.append(t)
                current = t
            }
        }
        var end = Int64.min
        for track in tracks where track.timescale > 0 && !track.samples.isEmpty {
            end = max(end, MediaTime.rescale(track.endTime, from: track.timescale, to: reference.timescale))
        }
        // A trailing segment shorter than a tenth of the minimum is merged into the previous one.
        if starts.count > 1, minimumUnits > 0, let last = starts.last, end &- last < minimumUnits / 10 {
            starts.removeLast()
        }
        return Segmentation(timescale: reference.timescale, starts: starts, end: max(end, current))
    }

    /// The samples of `track` in each segment (`count` ranges, in order, covering every sample;
    /// a range may be empty when the track has nothing in that segment). Tracks with sync flags
    /// (video) are only ever cut at a sync sample; other tracks at the sample starting nearest to
    /// the boundary.
    public func sampleRanges(for track: Track) -> [Range<Int>] {
        let samples = track.samples
        var splits: [Int] = [0]
        splits.reserveCapacity(count + 1)
        var j = 0
        for k in 1..<max(count, 1) {
            let boundary = MediaTime.rescale(starts[k], from: timescale, to: track.timescale)
            while j < samples.count {
                let t = track.presentationTime(of: j)
                let half = Int64(samples.durations[j] / 2)
                if samples.syncFlags.isEmpty {
                    if t &+ half > boundary { break }
                } else if samples.isSync(j) && t &+ half >= boundary {
                    break
                }
                j += 1
            }
            splits.append(j)
        }
        splits.append(samples.count)
        return (0..<count).map { splits[$0]..<max(splits[$0], splits[$0 + 1]) }
    }

    /// The segment of one track whose first sample starts at `time`, by binary search over its
    /// sample ranges (``sampleRanges(for:)``); `start` maps a sample index to its time on whatever
    /// timeline the caller addresses (a DASH `$Time$`, a Smooth fragment time) and must be
    /// non-decreasing. Empty ranges are skipped (they share their start with the next range).
    public static func segment(startingAt time: Int64, ranges: [Range<Int>], start: (Int) -> Int64) -> Int? {
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if start(ranges[mid].lowerBound) < time { lo = mid + 1 } else { hi = mid }
        }
        while lo < ranges.count, ranges[lo].isEmpty { lo += 1 }
        guard lo < ranges.count, start(ranges[lo].lowerBound) == time else { return nil }
        return lo
    }

    /// The segment whose start equals `time` (reference timescale), by binary search.
    public func index(ofStart time: Int64) -> Int? {
        var lo = 0, hi = starts.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if starts[mid] < time { lo = mid + 1 } else { hi = mid }
        }
        return lo < starts.count && starts[lo] == time ? lo : nil
    }
}

extension Track {
    /// Presentation time at which the last sample ends.
    public var endTime: Int64 {
        guard let lastDecode = samples.decodeTimes.last, let lastDuration = samples.durations.last else { return 0 }
        return lastDecode &+ Int64(lastDuration) &- presentationOffset
    }
}
