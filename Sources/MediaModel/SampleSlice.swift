/// Slicing the compact columns: a consecutive range of samples as a table of its own, built in
/// time proportional to the range (plus O(log runs)), never by expanding the whole table.

extension SampleTable {
    /// Samples `range` (clamped to the table) as a new table, decode times and offsets unchanged.
    public func slice(_ range: Range<Int>) -> SampleTable {
        let lower = Swift.min(Swift.max(range.lowerBound, 0), count)
        let upper = Swift.min(Swift.max(range.upperBound, lower), count)
        let r = lower..<upper
        var sync = SyncFlags()
        if !syncFlags.isEmpty {
            sync.reserveCapacity(r.count)
            for i in r { sync.append(syncFlags[i]) }
        }
        return SampleTable(timing: timing.slice(r), sizes: Array(sizes[r]), offsets: offsets.slice(r),
                           compositionOffsets: compositionOffsets.isEmpty ? [] : Array(compositionOffsets[r]),
                           syncFlags: sync)
    }
}

extension SampleTiming {
    /// The runs covering samples `range` (a valid, clamped range), renumbered from 0.
    func slice(_ range: Range<Int>) -> SampleTiming {
        var out = SampleTiming()
        guard !range.isEmpty else { return out }
        let first = run(containing: range.lowerBound)
        let last = run(containing: range.upperBound &- 1)
        out.reserveRuns(last &- first &+ 1)
        for r in first...last {
            let from = Swift.max(runFirst[r], range.lowerBound)
            out.runFirst.append(from &- range.lowerBound)
            out.runStart.append(runStart[r] &+ Int64(from &- runFirst[r]) &* Int64(runDuration[r]))
            out.runDuration.append(runDuration[r])
        }
        out.count = range.count
        return out
    }
}

extension SampleOffsets {
    /// Offsets of samples `range` (a valid, clamped range), re-blocked from 0.
    func slice(_ range: Range<Int>) -> SampleOffsets {
        var out = SampleOffsets()
        if isWide {
            out.wide = Array(wide[range])
            out.isWide = true
            return out
        }
        out.reserveCapacity(range.count)
        for i in range { out.append(self[i]) }
        return out
    }
}

extension SyncFlags {
    /// Reserves room for `n` flags.
    public mutating func reserveCapacity(_ n: Int) {
        words.reserveCapacity((Swift.max(n, 0) &+ 63) >> 6)
    }
}
