/// The sample index of a track in compact columns (see `SampleColumns.swift`): decode times and
/// durations as runs, sizes as 32-bit integers, offsets as block bases plus 32-bit deltas,
/// composition offsets as 32-bit integers (only when the track has any) and sync flags as a bitset
/// (only when some sample is not a sync sample). Every column is read by sample index in O(1)
/// (decode times and durations in O(log runs); most tracks have a single run).
/// Invariant (checked by ``validate()``): every column has ``count`` entries, except
/// `compositionOffsets` and `syncFlags`, which may be empty (meaning "all zero" and "all sync").
public struct SampleTable: Sendable, Equatable {
    @usableFromInline var timing = SampleTiming()
    /// Byte size of each sample.
    public private(set) var sizes: [UInt32] = []
    /// Absolute byte offset of each sample in the track's data source.
    public private(set) var offsets = SampleOffsets()
    /// Composition offsets (signed); empty when the track has none.
    public private(set) var compositionOffsets: [Int32] = []
    /// Sync (random access) flags; empty when every sample is a sync sample.
    public private(set) var syncFlags = SyncFlags()
    /// False when ``init(decodeTimes:durations:compositionOffsets:sizes:offsets:syncFlags:)`` got
    /// arrays of different lengths (the table then holds the common prefix; ``validate()`` throws).
    private var lengthsAgree = true

    /// Decode time of each sample in the track timescale, non-decreasing.
    @inlinable public var decodeTimes: DecodeTimes { DecodeTimes(timing) }
    /// Duration of each sample in the track timescale.
    @inlinable public var durations: SampleDurations { SampleDurations(timing) }

    public init() {}

    /// A table from per-sample arrays (empty `compositionOffsets` means all zero, empty
    /// `syncFlags` all sync). Arrays of different lengths make ``validate()`` throw.
    public init(decodeTimes: [Int64] = [], durations: [UInt32] = [], compositionOffsets: [Int32] = [],
                sizes: [UInt32] = [], offsets: [UInt64] = [], syncFlags: [Bool] = []) {
        var n = Swift.min(sizes.count, decodeTimes.count, durations.count, offsets.count)
        if !compositionOffsets.isEmpty { n = Swift.min(n, compositionOffsets.count) }
        if !syncFlags.isEmpty { n = Swift.min(n, syncFlags.count) }
        lengthsAgree = n == sizes.count && n == decodeTimes.count && n == durations.count && n == offsets.count
            && (compositionOffsets.isEmpty || compositionOffsets.count == n)
            && (syncFlags.isEmpty || syncFlags.count == n)
        reserveCapacity(n)
        for i in 0..<n {
            append(decodeTime: decodeTimes[i], duration: durations[i],
                   compositionOffset: compositionOffsets.isEmpty ? 0 : compositionOffsets[i],
                   size: sizes[i], offset: offsets[i], isSync: syncFlags.isEmpty ? true : syncFlags[i])
        }
        // Keep explicit all-zero / all-true columns as given, like the arrays did.
        if compositionOffsets.count == n, n > 0, self.compositionOffsets.isEmpty {
            self.compositionOffsets = Array(compositionOffsets.prefix(n))
        }
        if syncFlags.count == n, n > 0, self.syncFlags.isEmpty {
            self.syncFlags.append(repeating: true, count: n)
        }
    }

    /// A table from columns built by a parser. An all-zero `compositionOffsets` and an all-set
    /// `syncFlags` are dropped (stored empty); columns of different lengths make ``validate()`` throw.
    public init(timing: SampleTiming, sizes: [UInt32], offsets: SampleOffsets,
                compositionOffsets: [Int32], syncFlags: SyncFlags) {
        self.timing = timing
        self.sizes = sizes
        self.offsets = offsets
        self.compositionOffsets = compositionOffsets.contains { $0 != 0 } ? compositionOffsets : []
        self.syncFlags = syncFlags.allSet ? SyncFlags() : syncFlags
    }

    public var count: Int { sizes.count }
    public var isEmpty: Bool { sizes.isEmpty }

    @inlinable @inline(__always) public func compositionOffset(_ i: Int) -> Int32 {
        compositionOffsets.isEmpty ? 0 : compositionOffsets[i]
    }
    @inlinable @inline(__always) public func isSync(_ i: Int) -> Bool {
        syncFlags.isEmpty ? true : syncFlags[i]
    }
    public var hasCompositionOffsets: Bool { compositionOffsets.contains { $0 != 0 } }

    public var totalDuration: Int64 {
        guard let last = decodeTimes.last, let first = decodeTimes.first, let d = durations.last else { return 0 }
        return last &- first &+ Int64(d)
    }
    public var totalSize: UInt64 { sizes.reduce(0) { $0 &+ UInt64($1) } }

    /// Index of the first sample whose decode time is >= `time`, or `count`.
    public func firstIndex(decodeTimeAtLeast time: Int64) -> Int {
        timing.firstIndex(decodeTimeAtLeast: time)
    }

    /// Checks the structural invariants; parsers call this before handing a table out.
    public func validate() throws(MediaModelError) {
        let n = sizes.count
        guard lengthsAgree, timing.count == n, offsets.count == n,
              compositionOffsets.isEmpty || compositionOffsets.count == n,
              syncFlags.isEmpty || syncFlags.count == n else {
            throw .inconsistentSampleTable("array lengths differ")
        }
        if let i = timing.firstBackwardSample() {
            throw .inconsistentSampleTable("decode times go backwards at sample \(i)")
        }
    }

    public mutating func append(decodeTime: Int64, duration: UInt32, compositionOffset: Int32,
                                size: UInt32, offset: UInt64, isSync: Bool) {
        let index = sizes.count
        // The optional columns stay empty until the first non-default value, then are filled up.
        if compositionOffset != 0 || !compositionOffsets.isEmpty {
            if compositionOffsets.count < index {
                compositionOffsets.reserveCapacity(Swift.max(sizes.capacity, index &+ 1))
                compositionOffsets.append(contentsOf: repeatElement(0, count: index - compositionOffsets.count))
            }
            compositionOffsets.append(compositionOffset)
        }
        if !isSync || !syncFlags.isEmpty {
            if syncFlags.count < index {
                syncFlags.append(repeating: true, count: index - syncFlags.count)
            }
            syncFlags.append(isSync)
        }
        timing.append(decodeTime: decodeTime, duration: duration)
        sizes.append(size)
        offsets.append(offset)
    }

    /// Reserves room for `n` samples in the per-sample columns.
    public mutating func reserveCapacity(_ n: Int) {
        sizes.reserveCapacity(n)
        offsets.reserveCapacity(n)
    }

    /// Bytes the columns hold (element storage only): what caches charge for keeping the table.
    public var memoryFootprint: Int {
        timing.byteCount &+ sizes.count &* 4 &+ offsets.byteCount &+ compositionOffsets.count &* 4 &+ syncFlags.byteCount
    }

    public static func == (a: SampleTable, b: SampleTable) -> Bool {
        a.count == b.count && a.sizes == b.sizes && a.offsets == b.offsets
            && a.compositionOffsets == b.compositionOffsets && a.syncFlags == b.syncFlags
            && a.decodeTimes.elementsEqual(b.decodeTimes) && a.durations.elementsEqual(b.durations)
    }
}

public enum MediaModelError: Error, Equatable, Sendable {
    case inconsistentSampleTable(String)
    case noTracks
    case invalidTimescale
}
