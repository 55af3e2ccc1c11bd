/// The raw columns of a ``SampleTable`` (see `SampleColumns.swift` for what each holds), for code
/// that keeps tables outside the process (the shared index store) and hands them back. A table
/// made from columns is checked shape by shape first: columns read from a file are untrusted.
public struct SampleTableColumns: Sendable, Equatable {
    public var sampleCount: Int
    /// Timing runs: first sample, decode time of that sample, duration of each sample in the run.
    public var runFirst: [Int]
    public var runStart: [Int64]
    public var runDuration: [UInt32]
    public var sizes: [UInt32]
    /// Offsets: a base per block of 64 samples and a delta per sample, or every offset whole.
    public var offsetBases: [UInt64]
    public var offsetDeltas: [UInt32]
    public var wideOffsets: [UInt64]
    public var offsetsAreWide: Bool
    /// Empty, or one per sample.
    public var compositionOffsets: [Int32]
    /// Sync bitset: 0 flags (all sync) or one per sample, 64 to a word.
    public var syncFlagCount: Int
    public var syncWords: [UInt64]

    public init(sampleCount: Int, runFirst: [Int], runStart: [Int64], runDuration: [UInt32], sizes: [UInt32],
                offsetBases: [UInt64], offsetDeltas: [UInt32], wideOffsets: [UInt64], offsetsAreWide: Bool,
                compositionOffsets: [Int32], syncFlagCount: Int, syncWords: [UInt64]) {
        self.sampleCount = sampleCount
        self.runFirst = runFirst
        self.runStart = runStart
        self.runDuration = runDuration
        self.sizes = sizes
        self.offsetBases = offsetBases
        self.offsetDeltas = offsetDeltas
        self.wideOffsets = wideOffsets
        self.offsetsAreWide = offsetsAreWide
        self.compositionOffsets = compositionOffsets
        self.syncFlagCount = syncFlagCount
        self.syncWords = syncWords
    }

    /// Whether the columns have the shapes the table's accessors rely on (no index can go out of
    /// any column): equal run columns starting at sample 0 and rising, one size per sample, a base
    /// per 64 deltas, full optional columns.
    var isWellFormed: Bool {
        let n = sampleCount
        guard n >= 0, runFirst.count == runStart.count, runFirst.count == runDuration.count, sizes.count == n else { return false }
        if n == 0 {
            guard runFirst.isEmpty else { return false }
        } else {
            guard runFirst.first == 0 else { return false }
            for r in runFirst.indices.dropFirst() where !(runFirst[r &- 1] < runFirst[r] && runFirst[r] < n) { return false }
        }
        let blocks = (n &+ 63) >> 6
        if offsetsAreWide {
            guard wideOffsets.count == n, offsetBases.isEmpty, offsetDeltas.isEmpty else { return false }
        } else {
            guard offsetDeltas.count == n, offsetBases.count == blocks, wideOffsets.isEmpty else { return false }
        }
        guard compositionOffsets.isEmpty || compositionOffsets.count == n else { return false }
        guard syncFlagCount == 0 || syncFlagCount == n, syncWords.count == (syncFlagCount &+ 63) >> 6 else { return false }
        return true
    }
}

extension SampleTable {
    /// The table's columns as they are held.
    public var columns: SampleTableColumns {
        SampleTableColumns(sampleCount: timing.count, runFirst: timing.runFirst, runStart: timing.runStart,
                           runDuration: timing.runDuration, sizes: sizes, offsetBases: offsets.bases,
                           offsetDeltas: offsets.deltas, wideOffsets: offsets.wide, offsetsAreWide: offsets.isWide,
                           compositionOffsets: compositionOffsets, syncFlagCount: syncFlags.count_,
                           syncWords: syncFlags.words)
    }

    /// A table from columns, after checking their shapes and the table's invariants.
    public init(columns c: SampleTableColumns) throws(MediaModelError) {
        guard c.isWellFormed else { throw .inconsistentSampleTable("columns of the wrong shape") }
        var timing = SampleTiming()
        timing.runFirst = c.runFirst
        timing.runStart = c.runStart
        timing.runDuration = c.runDuration
        timing.count = c.sampleCount
        var offsets = SampleOffsets()
        offsets.bases = c.offsetBases
        offsets.deltas = c.offsetDeltas
        offsets.wide = c.wideOffsets
        offsets.isWide = c.offsetsAreWide
        var sync = SyncFlags()
        sync.words = c.syncWords
        sync.count_ = c.syncFlagCount
        self.init(timing: timing, sizes: c.sizes, offsets: offsets, compositionOffsets: c.compositionOffsets, syncFlags: sync)
        try validate()
    }
}
