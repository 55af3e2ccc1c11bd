import Live

/// Where a track's window breaks into periods (HLS discontinuities, DASH Periods): the store's
/// period marks (`PeriodMarks`, written when an encoder reconnects with `restart_on_encoder_reconnect`)
/// as seen from one window.
struct LivePeriods: Equatable {
    /// Periods begun at or before the window's first fragment (the discontinuity sequence of HLS,
    /// the number of the window's first Period).
    var before: Int
    /// Store indexes inside the window whose fragment starts a period.
    var inside: [Int]

    init(track: LivePresentation.Track, index: borrowing FragmentIndexReader, window: LiveWindow) throws {
        let marks = try PeriodMarks.read(periodsPath: track.periodsPath, index: index)
        (before, inside) = PeriodMarks.split(marks, windowFirst: window.firstIndex)
    }

    init(before: Int, inside: [Int]) {
        self.before = before
        self.inside = inside
    }

    /// The window's fragments in periods: (period number, store index of the first, fragments).
    func split(_ window: LiveWindow) -> [(number: Int, first: Int, fragments: ArraySlice<FragmentRecord>)] {
        var out: [(Int, Int, ArraySlice<FragmentRecord>)] = []
        var start = 0
        var number = before
        for mark in inside + [window.firstIndex + window.fragments.count] {
            let end = mark - window.firstIndex
            guard end > start, end <= window.fragments.count else { continue }
            out.append((number, window.firstIndex + start, window.fragments[start..<end]))
            start = end
            number += 1
        }
        return out
    }
}
