import ISOBMFF
import MediaModel

/// The fragments of one track on the Smooth timeline (10 MHz), one per non-empty segment.
///
/// A fragment starts at the rescaled fragment-timeline decode time of its first sample (exactly
/// what its `tfdt` and `tfxd` say, see ``FragmentWriter/fragmentTime(_:sample:timescale:)``) and
/// lasts until the next fragment starts. Times are rescaled from cumulative positions, so the
/// chunk durations add up to the track's end without drift.
public struct SmoothTimeline: Sendable, Equatable {
    /// The `TimeScale` of every manifest and fragment time.
    public static let timescale: UInt32 = 10_000_000

    public struct Fragment: Sendable, Equatable {
        /// Start, 10 MHz: the `t` of the `<c>` element and the time in the fragment URL.
        public var time: Int64
        /// Length, 10 MHz: the `d` of the `<c>` element.
        public var duration: Int64
        /// Index of the segment (of the segmentation's sample ranges) the fragment holds.
        public var segment: Int
    }

    public let fragments: [Fragment]

    /// `ranges` are the track's sample ranges per segment (``Segmentation/sampleRanges(for:)``).
    public init(track: Track, ranges: [Range<Int>]) {
        var fragments: [Fragment] = []
        fragments.reserveCapacity(ranges.count)
        for (k, range) in ranges.enumerated() where !range.isEmpty {
            let start = FragmentWriter.fragmentTime(track, sample: range.lowerBound, timescale: Self.timescale)
            let end = FragmentWriter.fragmentTime(track, sample: range.upperBound, timescale: Self.timescale)
            fragments.append(Fragment(time: start, duration: max(end &- start, 0), segment: k))
        }
        self.fragments = fragments
    }

    /// Start of the first fragment (0 when there are none).
    public var start: Int64 { fragments.first?.time ?? 0 }
    /// End of the last fragment (0 when there are none).
    public var end: Int64 { fragments.last.map { $0.time &+ $0.duration } ?? 0 }

    /// Times and durations only: two tracks can share a `StreamIndex` when these are equal.
    public func sameChunks(as other: SmoothTimeline) -> Bool {
        fragments.count == other.fragments.count
            && zip(fragments, other.fragments).allSatisfy { $0.time == $1.time && $0.duration == $1.duration }
    }

    /// The segment whose fragment of `track` starts at `time` (10 MHz), by binary search over the
    /// sample ranges without building the whole timeline; nil when no fragment starts there.
    public static func segment(startingAt time: Int64, track: Track, ranges: [Range<Int>]) -> Int? {
        func key(_ k: Int) -> Int64 {
            FragmentWriter.fragmentTime(track, sample: ranges[k].lowerBound, timescale: timescale)
        }
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if key(mid) < time { lo = mid + 1 } else { hi = mid }
        }
        // An empty range shares its start with the next non-empty one.
        while lo < ranges.count, ranges[lo].isEmpty { lo += 1 }
        guard lo < ranges.count, key(lo) == time else { return nil }
        return lo
    }
}
