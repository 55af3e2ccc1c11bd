/// A time range to cut a presentation to, in units of `timescale` of presentation time; nil
/// bounds are open (from the start, to the end).
public struct ClipRange: Sendable, Hashable {
    public var begin: Int64?
    public var end: Int64?
    public var timescale: UInt32

    public init(begin: Int64?, end: Int64?, timescale: UInt32) {
        self.begin = begin
        self.end = end
        self.timescale = timescale
    }
}

extension Presentation {
    /// The presentation cut to `range`, GOP-accurate and inclusive, on a rebased timeline.
    ///
    /// - The reference track (the first video track, else the first track with samples) starts
    ///   at the sync sample at or before `begin` and ends before the first sync sample at or after
    ///   `end` (or at its end): the clip rounds *out* to whole GOPs.
    /// - The clip runs from the reference's first presented frame (`clipStart`) to where its last
    ///   kept GOP ends (`clipEnd`). Every other track keeps the samples starting in
    ///   `[clipStart, clipEnd)`; other video tracks are only cut at their own sync samples.
    /// - Times are rebased so the clip starts at presentation time 0: each track's
    ///   ``Track/presentationOffset`` grows by `clipStart` (in its timescale) and its sample table
    ///   is sliced (decode times and byte offsets stay those of the source). No kept sample gets a
    ///   negative presentation time.
    /// - A `begin` at or after the end gives nil; an `end` beyond the end is clamped. Tracks left
    ///   without samples are dropped.
    public func clipped(to range: ClipRange) -> Presentation? {
        guard range.timescale > 0,
              let refIndex = tracks.firstIndex(where: { $0.kind == .video && !$0.track.samples.isEmpty })
                ?? tracks.firstIndex(where: { !$0.track.samples.isEmpty }) else { return nil }
        let ref = tracks[refIndex].track
        guard ref.timescale > 0 else { return nil }
        let s = ref.samples
        let begin = range.begin.map { MediaTime.rescale($0, from: range.timescale, to: ref.timescale) }
        let end = range.end.map { MediaTime.rescale($0, from: range.timescale, to: ref.timescale) }
        if let begin, begin >= ref.endTime { return nil }
        if let begin, let end, end <= begin { return nil }

        // First kept sample: the last sync sample presented at or before `begin`.
        var first = 0
        if let begin {
            var j = ref.firstCandidate(atLeast: begin &+ 1, syncOnly: true) &- 1
            while j >= 0, !(s.isSync(j) && ref.presentationTime(of: j) <= begin) { j &-= 1 }
            first = Swift.max(j, 0)
        }
        // End: the first sync sample after `first` presented at or after `end`.
        var last = s.count
        if let end {
            var j = first &+ 1
            while j < s.count, !(s.isSync(j) && ref.presentationTime(of: j) >= end) { j &+= 1 }
            last = j
        }
        guard first < last else { return nil }
        // Leading pictures of an open GOP may be presented before the sync sample.
        var clipStart = ref.presentationTime(of: first)
        for j in first..<Swift.min(last, first &+ 16) { clipStart = Swift.min(clipStart, ref.presentationTime(of: j)) }
        let toEnd = last == s.count
        let clipEnd = toEnd ? ref.endTime : ref.presentationTime(of: last)

        var out: [PresentationTrack] = []
        for (k, t) in tracks.enumerated() {
            let track = t.track
            let samples: Range<Int>
            if k == refIndex {
                samples = first..<last
            } else {
                guard track.timescale > 0, !track.samples.isEmpty else { continue }
                let start = MediaTime.rescale(clipStart, from: ref.timescale, to: track.timescale)
                let stop = MediaTime.rescale(clipEnd, from: ref.timescale, to: track.timescale)
                let video = !track.samples.syncFlags.isEmpty
                // One unit of slack for rounding between timescales on GOP-aligned renditions.
                let lo = track.firstCandidate(atLeast: video ? start &- 1 : start, syncOnly: video)
                let hi = toEnd ? track.samples.count
                    : Swift.max(lo, track.firstCandidate(atLeast: video ? stop &- 1 : stop, syncOnly: video))
                samples = lo..<hi
            }
            guard !samples.isEmpty else { continue }
            var clipped = t
            clipped.track = track.clipped(samples, rebasedTo: k == refIndex ? clipStart
                : MediaTime.rescale(clipStart, from: ref.timescale, to: track.timescale))
            out.append(clipped)
        }
        return Presentation(tracks: out, options: options)
    }
}

extension Track {
    /// Samples `range` only, with presentation time `start` moved to 0 (or less, so that no kept
    /// sample is presented before 0).
    public func clipped(_ range: Range<Int>, rebasedTo start: Int64) -> Track {
        var t = self
        t.samples = samples.slice(range)
        t.sourceSampleBase = sourceSampleBase &+ Swift.max(range.lowerBound, 0)
        // Auxiliary information that does not line up with the samples stays unusable when sliced.
        if let info = protection?.samples, info.count == samples.count {
            t.protection?.samples = info.slice(range)
        } else {
            t.protection?.samples = SampleAuxiliaryInfo()
        }
        var shift = start
        for j in 0..<Swift.min(t.samples.count, 16) { shift = Swift.min(shift, t.presentationTime(of: j)) }
        t.presentationOffset = presentationOffset &+ shift
        return t
    }

    /// The first sample (a sync sample when `syncOnly`) presented at or after `time`, or `count`.
    /// Starts from a binary search on decode times and steps back two sync samples so that
    /// composition offsets (B-frames) cannot hide an earlier match; sync samples are assumed to be
    /// presented in decode order.
    func firstCandidate(atLeast time: Int64, syncOnly: Bool) -> Int {
        let s = samples
        var j = Swift.min(s.firstIndex(decodeTimeAtLeast: time &+ presentationOffset &- Int64(minimumCompositionOffset)), s.count)
        var syncsPassed = 0
        while j > 0, syncsPassed < 2 {
            j &-= 1
            if s.isSync(j) { syncsPassed &+= 1 }
        }
        while j < s.count, !((!syncOnly || s.isSync(j)) && presentationTime(of: j) >= time) { j &+= 1 }
        return j
    }
}
