import MediaModel

/// The HDS timeline: milliseconds, as FLV tag timestamps and the bootstrap count them.
///
/// Every time is a presentation time rescaled to milliseconds plus one ``offset`` for the whole
/// presentation (the same for the manifest and every fragment): FLV timestamps are decode times
/// and may not be negative, so with B-frames, whose first decode time precedes its first
/// presentation time, the offset lifts the earliest decode time of any track to zero without
/// moving the tracks against each other. Each time is computed from absolute sample times, never
/// by summing durations, so nothing drifts.
///
/// - A tag's timestamp is the sample's decode time on this timeline (shifted by the track's
///   smallest composition offset, see ``RescaledTimeline``), its composition time
///   offset the rest up to the sample's presentation time.
/// - Fragment `n` (from 1) starts at the presentation time of segment `n - 1` of the segmentation
///   and lasts until the next one starts; the last ends where the presentation ends.
public struct HDSTimeline: Sendable, Equatable {
    /// Units per second of every HDS time.
    public static let timescale: UInt32 = 1000

    public let offset: Int64
    /// Start of each fragment, milliseconds.
    public let starts: [Int64]
    /// End of the last fragment, milliseconds.
    public let end: Int64

    /// The timeline of `presentation` cut by `segmentation` (the tracks FLV can carry set the offset).
    public init(presentation: Presentation, segmentation: Segmentation) {
        let tracks = presentation.tracks.filter { FLVCodec(track: $0.track) != nil }.map(\.track)
        let offset = RescaledTimeline.offset(lifting: tracks, timescale: Self.timescale)
        self.offset = offset
        let scale = segmentation.timescale
        starts = segmentation.starts.map { MediaTime.rescale($0, from: scale, to: Self.timescale) &+ offset }
        end = MediaTime.rescale(segmentation.end, from: scale, to: Self.timescale) &+ offset
    }

    public var count: Int { starts.count }
    /// Start of the first fragment (0 when there are none).
    public var start: Int64 { starts.first ?? 0 }
    /// From the start of the first fragment to the end of the last, milliseconds.
    public var duration: Int64 { max(end &- start, 0) }

    /// Sample times on this timeline.
    public var samples: RescaledTimeline {
        RescaledTimeline(timescale: Self.timescale, offset: offset)
    }

    /// The bootstrap describing these fragments.
    public func bootstrap(movieIdentifier: String) -> Bootstrap {
        Bootstrap(starts: starts.map { UInt64(clamping: $0) }, end: UInt64(clamping: end),
                  timescale: Self.timescale, movieIdentifier: movieIdentifier)
    }
}
