/// The fragments of one track that a live presentation offers now: those that end within the
/// DVR window before the newest one's end. Built from the index alone (a binary search for the
/// window's start, then the records in it), for every playout format.
public struct LiveWindow: Sendable, Equatable {
    /// Index in the track's store of the first fragment in the window (HLS's media sequence).
    public let firstIndex: Int
    public let fragments: [FragmentRecord]

    /// Where a requested fragment time stands, in the terms of the live status directives
    /// (`Fmp4…FragmentNotFound`, `…Missing`, `…NotAvailable`).
    public enum Lookup: Sendable, Equatable {
        case found(index: Int, FragmentRecord)
        /// Older than the first fragment of the window.
        case notFound
        /// Inside the window, in a gap between fragments.
        case missing
        /// Later than the end of the newest fragment.
        case notAvailable
    }

    /// The window of `dvrWindow` track-timescale units ending at the newest fragment's end, or
    /// `timeShift` units before it (`time_shift=`: fragments ending later are left out); a window of
    /// 0 or less means the whole store. A shifted window never reaches further back than
    /// `served` units before the live point (the publishing point's window, which segment requests
    /// are judged by). Reads O(log n + fragments in the window) records.
    public init(index: borrowing FragmentIndexReader, dvrWindow: Int64, timeShift: Int64 = 0, served: Int64 = 0)
        throws(LiveIngestError) {
        (firstIndex, fragments) = try Self.select(index, dvrWindow: dvrWindow, timeShift: timeShift, served: served)
    }

    private static func select(_ index: borrowing FragmentIndexReader, dvrWindow: Int64, timeShift: Int64, served: Int64)
        throws(LiveIngestError) -> (Int, [FragmentRecord]) {
        guard index.count > 0 else { return (0, []) }
        var last = index.count - 1
        var newest = try index.record(at: last)
        var first = timeShift > 0 && served > 0 ? try firstInside(index, end: newest.end, window: served) : 0
        if timeShift > 0 {
            let (edge, overflow) = newest.end.subtractingReportingOverflow(timeShift)
            // The newest fragment ending at or before the shifted live point.
            guard !overflow, let at = try index.lastStarting(atOrBefore: edge) else { return (0, []) }
            last = at
            newest = try index.record(at: at)
            if newest.end > edge {
                guard at > 0 else { return (0, []) }
                last = at - 1
                newest = try index.record(at: last)
            }
        }
        if dvrWindow > 0 { first = max(first, try firstInside(index, end: newest.end, window: dvrWindow)) }
        // Nothing before what the archive still holds.
        first = min(max(first, index.firstKept), index.count)
        var fragments: [FragmentRecord] = []
        fragments.reserveCapacity(max(0, last + 1 - first))
        if first <= last {
            for i in first...last { fragments.append(try index.record(at: i)) }
        }
        return (first, fragments)
    }

    /// The first fragment still ending after `end - window`: the one starting at or before that
    /// (if it reaches past it), else the next.
    private static func firstInside(_ index: borrowing FragmentIndexReader, end: Int64, window: Int64) throws(LiveIngestError) -> Int {
        let (start, overflow) = end.subtractingReportingOverflow(window)
        guard !overflow, let at = try index.lastStarting(atOrBefore: start) else { return 0 }
        return try index.record(at: at).end > start ? at : at + 1
    }

    /// Typical fragment duration of the window (its median): the `@duration` of a `$Number$`
    /// template, 0 when the window is empty.
    public var nominalDuration: UInt64 {
        guard !fragments.isEmpty else { return 0 }
        let sorted = fragments.map(\.duration).sorted()
        return sorted[sorted.count / 2]
    }

    /// The kept fragments starting in `range` (a catch-up cut of the archive): two binary searches.
    public init(index: borrowing FragmentIndexReader, startingIn range: Range<Int64>) throws(LiveIngestError) {
        let before = range.lowerBound == .min ? 0 : try index.lastStarting(atOrBefore: range.lowerBound - 1).map { $0 + 1 } ?? 0
        let first = max(before, index.firstKept)
        let end = range.isEmpty ? 0 : try index.lastStarting(atOrBefore: range.upperBound - 1).map { $0 + 1 } ?? 0
        var fragments: [FragmentRecord] = []
        if first < end { for i in first..<end { fragments.append(try index.record(at: i)) } }
        firstIndex = first
        self.fragments = fragments
    }

    public func lookup(time: Int64) -> Lookup {
        guard let head = fragments.first, let tail = fragments.last else { return .notAvailable }
        if time < head.time { return .notFound }
        if time >= tail.end { return .notAvailable }
        // The last fragment starting at or before `time`.
        var lo = 0, hi = fragments.count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if fragments[mid].time <= time { lo = mid + 1 } else { hi = mid }
        }
        let candidate = fragments[lo - 1]
        return time < candidate.end ? .found(index: firstIndex + lo - 1, candidate) : .missing
    }

    /// Where the store's fragment number `index` stands (HLS media sequence numbers, DASH
    /// `$Number$`): numbers have no gaps, so it is found, older than the window or not there yet.
    public func lookup(index: Int) -> Lookup {
        if index < firstIndex { return .notFound }
        let at = index - firstIndex
        guard at < fragments.count else { return .notAvailable }
        return .found(index: index, fragments[at])
    }
}
