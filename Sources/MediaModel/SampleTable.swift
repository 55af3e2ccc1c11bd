/// The sample index of a track as parallel arrays (struct of arrays): compact, and searchable by time.
/// Invariant (checked by ``validate()``): every array has ``count`` entries, except
/// `compositionOffsets` and `syncFlags`, which may be empty (meaning "all zero" and "all sync").
public struct SampleTable: Sendable, Equatable {
    /// Decode time of each sample in the track timescale, non-decreasing.
    public var decodeTimes: [Int64]
    public var durations: [UInt32]
    /// Composition offsets (signed); empty when the track has none.
    public var compositionOffsets: [Int32]
    public var sizes: [UInt32]
    /// Absolute byte offset of each sample in the track's data source.
    public var offsets: [UInt64]
    /// Sync (random access) flags; empty when every sample is a sync sample.
    public var syncFlags: [Bool]

    public init(decodeTimes: [Int64] = [], durations: [UInt32] = [], compositionOffsets: [Int32] = [],
                sizes: [UInt32] = [], offsets: [UInt64] = [], syncFlags: [Bool] = []) {
        self.decodeTimes = decodeTimes
        self.durations = durations
        self.compositionOffsets = compositionOffsets
        self.sizes = sizes
        self.offsets = offsets
        self.syncFlags = syncFlags
    }

    public var count: Int { sizes.count }
    public var isEmpty: Bool { sizes.isEmpty }

    @inline(__always) public func compositionOffset(_ i: Int) -> Int32 {
        compositionOffsets.isEmpty ? 0 : compositionOffsets[i]
    }
    @inline(__always) public func isSync(_ i: Int) -> Bool {
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
        var lo = 0, hi = decodeTimes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if decodeTimes[mid] < time { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Checks the structural invariants; parsers call this before handing a table out.
    public func validate() throws(MediaModelError) {
        let n = sizes.count
        guard decodeTimes.count == n, durations.count == n, offsets.count == n,
              compositionOffsets.isEmpty || compositionOffsets.count == n,
              syncFlags.isEmpty || syncFlags.count == n else {
            throw .inconsistentSampleTable("array lengths differ")
        }
        for i in 1..<max(n, 1) where decodeTimes[i] < decodeTimes[i - 1] {
            throw .inconsistentSampleTable("decode times go backwards at sample \(i)")
        }
    }

    public mutating func append(decodeTime: Int64, duration: UInt32, compositionOffset: Int32,
                                size: UInt32, offset: UInt64, isSync: Bool) {
        let index = sizes.count
        // The optional arrays stay empty until the first non-default value, then are filled up.
        if compositionOffset != 0 || !compositionOffsets.isEmpty {
            if compositionOffsets.count < index {
                compositionOffsets.append(contentsOf: repeatElement(0, count: index - compositionOffsets.count))
            }
            compositionOffsets.append(compositionOffset)
        }
        if !isSync || !syncFlags.isEmpty {
            if syncFlags.count < index {
                syncFlags.append(contentsOf: repeatElement(true, count: index - syncFlags.count))
            }
            syncFlags.append(isSync)
        }
        decodeTimes.append(decodeTime)
        durations.append(duration)
        sizes.append(size)
        offsets.append(offset)
    }
}

public enum MediaModelError: Error, Equatable, Sendable {
    case inconsistentSampleTable(String)
    case noTracks
    case invalidTimescale
}
