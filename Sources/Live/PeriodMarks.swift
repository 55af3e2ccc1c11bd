#if canImport(Glibc)
import Glibc
#endif

/// `<trackID>.periods`: the store indexes (UInt64, little-endian, ascending) of the fragments that
/// start a new period, so playout finds a window's periods (and HLS's discontinuity sequence)
/// without reading every record before it. A mark counts only when its record exists and carries
/// `FragmentRecord.startsPeriod`: a mark written by a writer that died before its record is ignored.
public enum PeriodMarks {
    static let size = 8
    /// Marks read per track at most (a reconnect every minute for three months).
    static let limit = 131_072

    static func encode(_ index: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt64(index).littleEndian) { Array($0) }
    }

    /// The valid marks of an open periods file: the ascending prefix of entries below
    /// `fragmentCount` whose record says it starts a period.
    static func read(_ file: borrowing PosixFile, fragmentCount: Int,
                     flagged: (Int) throws(LiveIngestError) -> Bool) throws(LiveIngestError) -> [Int] {
        let entries = min(Int(clamping: try file.size()) / size, limit)
        guard entries > 0 else { return [] }
        let bytes = try file.read(at: 0, count: entries * size)
        var marks: [Int] = []
        for e in 0..<entries {
            var v: UInt64 = 0
            for k in 0..<size { v |= UInt64(bytes[e * size + k]) << (8 * k) }
            guard v < UInt64(fragmentCount), marks.last.map({ UInt64($0) < v }) ?? true, try flagged(Int(v)) else { break }
            marks.append(Int(v))
        }
        return marks
    }

    /// The marks of a track for a reader in any process (`periodsPath` next to the index).
    public static func read(periodsPath: String, index: borrowing FragmentIndexReader) throws(LiveIngestError) -> [Int] {
        let fd = open(periodsPath, O_RDONLY | O_CLOEXEC)
        if fd < 0 && errno == ENOENT { return [] }
        if fd >= 0 { close(fd) }
        let file = try PosixFile(path: periodsPath, flags: O_RDONLY)
        return try read(file, fragmentCount: index.count) { i throws(LiveIngestError) in
            try index.record(at: i).flags & FragmentRecord.startsPeriod != 0
        }
    }

    /// How many of `marks` lie at or before store index `first` (the periods or discontinuities
    /// that began before a window starting there), and the marks inside the window after it.
    public static func split(_ marks: [Int], windowFirst first: Int) -> (before: Int, inside: [Int]) {
        let before = marks.prefix { $0 <= first }.count
        return (before, Array(marks.dropFirst(before)))
    }
}
