#if canImport(Glibc)
import Glibc
#endif

/// One committed fragment of one track: 48 bytes, little-endian, in `<trackID>.index`
/// (docs/LIVE.md has the layout). The checksum lets readers and recovery ignore a torn last record.
public struct FragmentRecord: Sendable, Equatable {
    public static let size = 48

    /// Decode time of the first sample, track timescale.
    public var time: Int64
    public var duration: UInt64
    /// Where the fragment's `moof` starts in `<trackID>.media`.
    public var offset: UInt64
    /// Bytes of `moof` + `mdat`.
    public var size: UInt32
    public var sampleCount: UInt32
    /// When it was committed, milliseconds since the epoch.
    public var ingestMillis: UInt64
    public var flags: UInt32

    public static let startsWithSync: UInt32 = 1
    /// The first fragment after an encoder reconnected with `restart_on_encoder_reconnect` (and a
    /// break in its timeline): a new DASH Period, an HLS discontinuity. `<trackID>.periods` lists them.
    public static let startsPeriod: UInt32 = 2

    public init(time: Int64, duration: UInt64, offset: UInt64, size: UInt32, sampleCount: UInt32,
                ingestMillis: UInt64, flags: UInt32) {
        self.time = time
        self.duration = duration
        self.offset = offset
        self.size = size
        self.sampleCount = sampleCount
        self.ingestMillis = ingestMillis
        self.flags = flags
    }

    /// The time just after the fragment (its duration is checked against Int64 when committed).
    public var end: Int64 { time &+ Int64(clamping: duration) }
    public var mediaEnd: UInt64 { offset &+ UInt64(size) }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.size)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(time); put(duration); put(offset); put(size); put(sampleCount); put(ingestMillis); put(flags)
        put(Self.checksum(out[...]))
        return out
    }

    /// Decodes a record; nil when the checksum does not match (a torn or foreign record).
    public init?(_ bytes: ArraySlice<UInt8>) {
        guard bytes.count == Self.size else { return nil }
        let b = Array(bytes)
        func get<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            var v: T = 0
            for i in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: b[at + i]) << (8 * i) }
            return v
        }
        guard get(44, UInt32.self) == Self.checksum(b[0..<44]) else { return nil }
        self.init(time: get(0, Int64.self), duration: get(8, UInt64.self), offset: get(16, UInt64.self),
                  size: get(24, UInt32.self), sampleCount: get(28, UInt32.self), ingestMillis: get(32, UInt64.self),
                  flags: get(40, UInt32.self))
    }

    /// FNV-1a, 32 bits: enough to tell a whole record from a torn one.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in bytes { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }
}

/// Read access to a track's committed fragments, for any process: the count is the index file's
/// size over the record size (a last record that does not checksum is not counted), and a lookup
/// by time is a binary search of `pread`s.
public struct FragmentIndexReader: ~Copyable {
    private let file: PosixFile
    public let count: Int
    /// Fragments before this one left the archive (`ArchiveChunks.purgedCount`): their records stay
    /// (store indexes never move) but their media is gone.
    public let firstKept: Int

    public init(path: String) throws(LiveIngestError) {
        firstKept = ArchiveChunks.purgedCount(indexPath: path)
        let opened = try PosixFile(path: path, flags: O_RDONLY)
        var n = try opened.size() / UInt64(FragmentRecord.size)
        // Only the tail can be torn: records are appended, never rewritten.
        while n > 0, try Self.read(opened, Int(n) - 1) == nil { n -= 1 }
        count = Int(n)
        file = opened
    }

    public func record(at i: Int) throws(LiveIngestError) -> FragmentRecord {
        guard i >= 0, i < count else { throw .storage("fragment \(i) outside 0..<\(count)") }
        guard let r = try Self.read(file, i) else { throw .storage("fragment record \(i) does not checksum") }
        return r
    }

    /// The index of the last fragment starting at or before `time`, nil when every fragment starts later.
    public func lastStarting(atOrBefore time: Int64) throws(LiveIngestError) -> Int? {
        var lo = 0, hi = count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if try record(at: mid).time <= time { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 ? lo - 1 : nil
    }

    static func read(_ file: borrowing PosixFile, _ i: Int) throws(LiveIngestError) -> FragmentRecord? {
        let bytes = try file.read(at: UInt64(i) &* UInt64(FragmentRecord.size), count: FragmentRecord.size)
        return FragmentRecord(bytes[...])
    }
}
