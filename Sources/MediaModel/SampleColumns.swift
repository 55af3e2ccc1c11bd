/// Compact columns of a ``SampleTable``: decode times and durations as runs of equally spaced
/// samples (like `stts`), byte offsets as a base per block plus a 32-bit delta per sample, sync
/// flags as a bitset. Each is read through a small `RandomAccessCollection`, so `x[i]`, `first`,
/// `last` and `count` work as they did on arrays; random access is O(1) (or O(log runs) for times).

/// Decode times and durations of a track, stored as runs: a run is a stretch of consecutive samples
/// with the same duration, each starting where the previous one ends. Most tracks have one run.
public struct SampleTiming: Sendable, Equatable {
    /// First sample of each run.
    @usableFromInline var runFirst: [Int] = []
    /// Decode time of the first sample of each run.
    @usableFromInline var runStart: [Int64] = []
    /// Duration of every sample of each run.
    @usableFromInline var runDuration: [UInt32] = []
    /// Number of samples.
    @usableFromInline var count: Int = 0

    /// An empty column; fill it with ``append(decodeTime:duration:)``.
    public init() {}

    /// Number of samples.
    public var sampleCount: Int { count }

    /// Index of the run holding sample `i` (0 ≤ i < count).
    @inlinable @inline(__always) func run(containing i: Int) -> Int {
        var lo = 0, hi = runFirst.count
        while hi &- lo > 1 {
            let mid = (lo &+ hi) >> 1
            if runFirst[mid] <= i { lo = mid } else { hi = mid }
        }
        return lo
    }

    @inlinable func decodeTime(_ i: Int) -> Int64 {
        precondition(i >= 0 && i < count, "sample index out of range")
        let r = run(containing: i)
        // Exact: append only extends a run when this very product and sum did not overflow.
        return runStart[r] &+ Int64(i &- runFirst[r]) &* Int64(runDuration[r])
    }

    @inlinable func duration(_ i: Int) -> UInt32 {
        precondition(i >= 0 && i < count, "sample index out of range")
        return runDuration[run(containing: i)]
    }

    /// Appends one sample; it extends the last run when it has the same duration and starts where
    /// the previous sample ends.
    public mutating func append(decodeTime: Int64, duration: UInt32) {
        if let r = runFirst.indices.last, runDuration[r] == duration {
            let (step, o1) = Int64(count &- runFirst[r]).multipliedReportingOverflow(by: Int64(duration))
            let (expected, o2) = runStart[r].addingReportingOverflow(step)
            if !o1, !o2, expected == decodeTime {
                count &+= 1
                return
            }
        }
        runFirst.append(count)
        runStart.append(decodeTime)
        runDuration.append(duration)
        count &+= 1
    }

    /// Index of the first sample whose decode time is >= `time`, or `count`.
    func firstIndex(decodeTimeAtLeast time: Int64) -> Int {
        // The last run starting before `time`; runs are ordered by start (times never go back).
        var lo = 0, hi = runFirst.count
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if runStart[mid] < time { lo = mid &+ 1 } else { hi = mid }
        }
        guard lo > 0 else { return 0 }
        let r = lo &- 1
        let end = r &+ 1 < runFirst.count ? runFirst[r &+ 1] : count
        let d = Int64(runDuration[r])
        guard d > 0 else { return end }
        // Smallest k with start + k·d >= time; k ≥ 1 because start < time.
        let gap = time &- runStart[r]
        let k = gap / d &+ (gap % d == 0 ? 0 : 1)
        let length = Int64(end &- runFirst[r])
        return k >= length ? end : runFirst[r] &+ Int(k)
    }

    /// Checks that decode times never go backwards from one run to the next.
    func firstBackwardSample() -> Int? {
        for r in runFirst.indices.dropFirst() {
            let previousLast = runStart[r &- 1] &+ Int64(runFirst[r] &- 1 &- runFirst[r &- 1]) &* Int64(runDuration[r &- 1])
            if runStart[r] < previousLast { return runFirst[r] }
        }
        return nil
    }

    mutating func reserveRuns(_ n: Int) {
        runFirst.reserveCapacity(n)
        runStart.reserveCapacity(n)
        runDuration.reserveCapacity(n)
    }
}

/// The decode times of a track's samples (a view of ``SampleTiming``).
public struct DecodeTimes: RandomAccessCollection, Sendable, Equatable {
    @usableFromInline let timing: SampleTiming
    @inlinable init(_ timing: SampleTiming) { self.timing = timing }
    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { timing.count }
    @inlinable public subscript(i: Int) -> Int64 { timing.decodeTime(i) }
    public static func == (a: DecodeTimes, b: DecodeTimes) -> Bool { a.elementsEqual(b) }
}

/// The durations of a track's samples (a view of ``SampleTiming``).
public struct SampleDurations: RandomAccessCollection, Sendable, Equatable {
    @usableFromInline let timing: SampleTiming
    @inlinable init(_ timing: SampleTiming) { self.timing = timing }
    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { timing.count }
    @inlinable public subscript(i: Int) -> UInt32 { timing.duration(i) }
    public static func == (a: SampleDurations, b: SampleDurations) -> Bool { a.elementsEqual(b) }
}

/// Absolute byte offsets of a track's samples: one 64-bit base per block of 64 samples and a
/// 32-bit delta per sample. A table whose offsets do not fit that shape (a sample before its
/// block's first sample, or more than 4 GiB after it) keeps plain 64-bit offsets instead.
public struct SampleOffsets: RandomAccessCollection, Sendable, Equatable {
    @usableFromInline static var blockShift: Int { 6 }
    @usableFromInline var bases: [UInt64] = []
    @usableFromInline var deltas: [UInt32] = []
    /// Every offset, when the compact form does not fit; otherwise empty.
    @usableFromInline var wide: [UInt64] = []
    @usableFromInline var isWide = false

    /// An empty column; fill it with ``append(_:)``.
    public init() {}

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { isWide ? wide.count : deltas.count }
    @inlinable public subscript(i: Int) -> UInt64 {
        if isWide { return wide[i] }
        return bases[i >> Self.blockShift] &+ UInt64(deltas[i])
    }

    /// Appends the offset of the next sample.
    public mutating func append(_ offset: UInt64) {
        if isWide {
            wide.append(offset)
            return
        }
        let i = deltas.count
        if i & ((1 << Self.blockShift) &- 1) == 0 {
            bases.append(offset)
            deltas.append(0)
            return
        }
        let base = bases[bases.count &- 1]
        if offset >= base, offset &- base <= UInt64(UInt32.max) {
            deltas.append(UInt32(truncatingIfNeeded: offset &- base))
            return
        }
        // Widen once; later appends go straight to `wide`.
        var all = [UInt64]()
        all.reserveCapacity(Swift.max(deltas.capacity, i &+ 1))
        for j in 0..<i { all.append(self[j]) }
        all.append(offset)
        wide = all
        isWide = true
        bases = []
        deltas = []
    }

    /// Reserves room for `n` offsets.
    public mutating func reserveCapacity(_ n: Int) {
        if isWide {
            wide.reserveCapacity(n)
        } else {
            deltas.reserveCapacity(n)
            bases.reserveCapacity((n >> Self.blockShift) &+ 1)
        }
    }

    public static func == (a: SampleOffsets, b: SampleOffsets) -> Bool { a.elementsEqual(b) }
}

/// Sync flags as a bitset; empty when every sample is a sync sample.
public struct SyncFlags: RandomAccessCollection, Sendable, Equatable {
    @usableFromInline var words: [UInt64] = []
    @usableFromInline var count_: Int = 0

    /// An empty column; fill it with ``append(_:)``.
    public init() {}

    /// `count` flags, all equal to `flag`.
    public init(repeating flag: Bool, count n: Int) {
        append(repeating: flag, count: n)
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { count_ }
    @inlinable public subscript(i: Int) -> Bool {
        precondition(i >= 0 && i < count_, "sample index out of range")
        return words[i >> 6] & (1 << UInt64(i & 63)) != 0
    }

    /// Appends the flag of the next sample.
    public mutating func append(_ flag: Bool) {
        if count_ & 63 == 0 { words.append(0) }
        if flag { words[words.count &- 1] |= 1 << UInt64(count_ & 63) }
        count_ &+= 1
    }

    /// Appends `n` equal flags.
    public mutating func append(repeating flag: Bool, count n: Int) {
        for _ in 0..<Swift.max(n, 0) { append(flag) }
    }

    /// Sets the flag of sample `i`; an index outside the column is ignored.
    public mutating func set(_ i: Int, to flag: Bool) {
        guard i >= 0, i < count_ else { return }
        let bit: UInt64 = 1 << UInt64(i & 63)
        if flag { words[i >> 6] |= bit } else { words[i >> 6] &= ~bit }
    }

    /// True when every flag is set.
    public var allSet: Bool {
        for (k, w) in words.enumerated() {
            let bits = Swift.min(count_ &- k &* 64, 64)
            let mask: UInt64 = bits == 64 ? ~0 : (1 << UInt64(bits)) &- 1
            if w & mask != mask { return false }
        }
        return true
    }
}

// MARK: - Memory accounting

extension SampleTiming {
    var byteCount: Int { runFirst.count &* 8 &+ runStart.count &* 8 &+ runDuration.count &* 4 }
}

extension SampleOffsets {
    var byteCount: Int { bases.count &* 8 &+ deltas.count &* 4 &+ wide.count &* 8 }
}

extension SyncFlags {
    var byteCount: Int { words.count &* 8 }
}
