/// A timeline for fragments that no init segment describes (Smooth Streaming): presentation
/// time in `timescale` units plus `offset`, the same for every track of a presentation.
///
/// A sample starts at `rescale(decode time + compositionBase - presentationOffset) + offset`
/// (its presentation time when it has the smallest composition offset) and its composition
/// offset is the rescaled presentation time minus that, never negative (`trun` version 0).
/// Durations are differences of rescaled start times, so nothing drifts however the
/// timescales divide. With B-frames the first decode time would fall before zero: the caller
/// picks one `offset` for the whole presentation that lifts every track to zero or later
/// (``offset(lifting:timescale:)``), which keeps the tracks in sync.
public struct RescaledTimeline: Sendable, Equatable {
    public var timescale: UInt32
    public var offset: Int64
    public init(timescale: UInt32, offset: Int64) {
        self.timescale = timescale
        self.offset = offset
    }

    /// The smallest offset that puts the first sample of every track at zero or later.
    public static func offset(lifting tracks: [Track], timescale: UInt32) -> Int64 {
        var offset: Int64 = 0
        for track in tracks where !track.samples.isEmpty {
            let start = RescaledTimeline(timescale: timescale, offset: 0).start(of: 0, in: track)
            offset = max(offset, 0 &- start)
        }
        return offset
    }

    /// Start of sample `index` of `track`; `index == count` is where the last sample ends.
    public func start(of index: Int, in track: Track) -> Int64 {
        let s = track.samples
        guard !s.isEmpty else { return offset }
        let base = Int64(track.minimumCompositionOffset) &- track.presentationOffset
        let t: Int64
        if index >= 0 && index < s.count {
            t = s.decodeTimes[index] &+ base
        } else {
            t = (s.decodeTimes.last ?? 0) &+ Int64(s.durations.last ?? 0) &+ base
        }
        return MediaTime.rescale(t, from: track.timescale, to: timescale) &+ offset
    }

    /// Composition offset of sample `index` (non-negative).
    public func compositionOffset(of index: Int, in track: Track, start: Int64) -> Int64 {
        let presented = track.presentationTime(of: index)
        return max(0, MediaTime.rescale(presented, from: track.timescale, to: timescale) &+ offset &- start)
    }
}
