/// How a track's samples are timed when they are re-packaged as fragments (fMP4/CMAF, Smooth).
///
/// Fragments carry decode times (`tfdt`) that may not be negative and, to please every player,
/// non-negative composition offsets (`trun` version 0). With B-frames the first frame's
/// presentation time then lies after its decode time, so fragment media time runs `mediaTimeOffset`
/// units ahead of presentation time. An edit list in the init segment (for players that honour it)
/// and DASH's `presentationTimeOffset` (for MSE players, which ignore edit lists) take it back out.
///
///     fragment decode time        = decode time + decodeShift
///     fragment composition offset = composition offset - compositionBase   (never negative)
///     fragment media time         = presentation time + mediaTimeOffset
public struct FragmentTiming: Sendable, Equatable {
    public var decodeShift: Int64
    public var compositionBase: Int32
    public var mediaTimeOffset: Int64

    public init(track: Track) {
        let s = track.samples
        guard !s.isEmpty else {
            self.init(decodeShift: 0, compositionBase: 0, mediaTimeOffset: 0)
            return
        }
        let base = track.minimumCompositionOffset
        // The smallest shift that keeps decode times non-negative and media time >= presentation time.
        let shift = max(-s.decodeTimes[0], Int64(base) &- track.presentationOffset)
        self.init(decodeShift: shift, compositionBase: base,
                  mediaTimeOffset: shift &- Int64(base) &+ track.presentationOffset)
    }

    public init(decodeShift: Int64, compositionBase: Int32, mediaTimeOffset: Int64) {
        self.decodeShift = decodeShift
        self.compositionBase = compositionBase
        self.mediaTimeOffset = mediaTimeOffset
    }
}
