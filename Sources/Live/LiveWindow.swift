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

    /// The window of `dvrWindow` track-timescale units ending at the newest fragment's end;
    /// a window of 0 or less means the whole store. Reads O(log n + fragments in the window) records.
    public init(index: borrowing FragmentIndexReader, dvrWindow: Int64) throws(LiveIngestError) {
        guard index.count > 0 else {
            firstIndex = 0
            fragments = []
            return
        }
        let newest = try index.record(at: index.count - 1)
        var first = 0
        if dvrWindow > 0 {
            let (start, overflow) = newest.end.subtractingReportingOverflow(dvrWindow)
            // The first fragment still ending after the window's start: the one starting at or
            // before it (if it reaches into the window), else the next.
            if !overflow, let at = try index.lastStarting(atOrBefore: start) {
                first = try index.record(at: at).end > start ? at : at + 1
            }
        }
        // Nothing before what the archive still holds.
        first = min(max(first, index.firstKept), index.count)
        var fragments: [FragmentRecord] = []
        fragments.reserveCapacity(index.count - first)
        for i in first..<index.count { fragments.append(try index.record(at: i)) }
        firstIndex = first
        self.fragments = fragments
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
}
