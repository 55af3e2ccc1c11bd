import MediaModel

/// The fragments of one track on the Smooth timeline (10 MHz), one per non-empty segment.
///
/// Smooth fragments carry no init segment, so their times are those of a
/// ``RescaledTimeline``: presentation time in 10 MHz units plus one offset for the
/// whole presentation (``offset(for:)``), which lifts B-frame video whose first decode time precedes
/// its first presentation time to zero without moving it against the audio. A fragment starts
/// where its first sample starts (what its `tfdt` and `tfxd` say) and lasts until the next
/// fragment starts, so the chunk durations add up without drift.
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

    /// The timeline offset of a presentation: the same for its manifest and every fragment.
    public static func offset(for presentation: Presentation) -> Int64 {
        let tracks = presentation.tracks.filter { $0.track.fourCC != nil }.map(\.track)
        return RescaledTimeline.offset(lifting: tracks, timescale: timescale)
    }

    /// `ranges` are the track's sample ranges per segment (``Segmentation/sampleRanges(for:)``).
    public init(track: Track, ranges: [Range<Int>], offset: Int64) {
        let timeline = RescaledTimeline(timescale: Self.timescale, offset: offset)
        var fragments: [Fragment] = []
        fragments.reserveCapacity(ranges.count)
        for (k, range) in ranges.enumerated() where !range.isEmpty {
            let start = timeline.start(of: range.lowerBound, in: track)
            let end = timeline.start(of: range.upperBound, in: track)
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
    public static func segment(startingAt time: Int64, track: Track, ranges: [Range<Int>], offset: Int64) -> Int? {
        let timeline = RescaledTimeline(timescale: timescale, offset: offset)
        return Segmentation.segment(startingAt: time, ranges: ranges) { timeline.start(of: $0, in: track) }
    }
}
