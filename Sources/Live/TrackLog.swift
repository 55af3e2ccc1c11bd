import ISOBMFF
#if canImport(Glibc)
import Glibc
#endif

/// The writer's side of one track's store: `<trackID>.media` (fragments appended),
/// `<trackID>.index` (a record per committed fragment) and `<trackID>.periods` (the indexes of
/// fragments that start a new period). Several connections may write one stream (a reconnecting
/// or redundant encoder), each through its own TrackLog, one commit at a time under the stream's
/// append lock: every commit first re-reads the committed tail, which also cuts what a writer
/// that died mid-append left.
final class TrackLog {
    let trackID: UInt32
    private let media: PosixFile
    private let index: PosixFile
    private let periods: PosixFile
    private(set) var count = 0
    private(set) var mediaEnd: UInt64 = 0
    /// Where the last committed fragment ended in time, nil before the first.
    private(set) var end: Int64?
    private var periodCount = 0

    /// Opens (creates) the track's files. Call with the stream's append lock held.
    init(directory: String, trackID: UInt32) throws(LiveIngestError) {
        self.trackID = trackID
        media = try PosixFile(path: "\(directory)/\(trackID).media", flags: O_RDWR | O_CREAT)
        index = try PosixFile(path: "\(directory)/\(trackID).index", flags: O_RDWR | O_CREAT)
        periods = try PosixFile(path: "\(directory)/\(trackID).periods", flags: O_RDWR | O_CREAT)
        try refresh()
    }

    /// Re-reads what is committed (another writer may have appended since the last call) and
    /// repairs a dead writer's leftovers: keeps the records that checksum and whose media is there,
    /// and the period marks that point at such records; cuts the rest. Call with the append lock held.
    func refresh() throws(LiveIngestError) {
        let mediaSize = try media.size()
        var n = try index.size() / UInt64(FragmentRecord.size)
        var last: FragmentRecord?
        while n > 0 {
            if let r = try FragmentIndexReader.read(index, Int(n) - 1), r.mediaEnd <= mediaSize { last = r; break }
            n -= 1
        }
        count = Int(n)
        mediaEnd = last?.mediaEnd ?? 0
        end = last?.end
        if try index.size() != n * UInt64(FragmentRecord.size) { try index.truncate(to: n * UInt64(FragmentRecord.size)) }
        if mediaSize != mediaEnd { try media.truncate(to: mediaEnd) }
        let marks = try PeriodMarks.read(periods, fragmentCount: count) { i throws(LiveIngestError) in
            try FragmentIndexReader.read(index, i).map { $0.flags & FragmentRecord.startsPeriod != 0 } ?? false
        }
        periodCount = marks.count
        if try periods.size() != UInt64(marks.count * PeriodMarks.size) { try periods.truncate(to: UInt64(marks.count * PeriodMarks.size)) }
    }

    /// Commits one whole fragment after re-reading the tail: media first, then (for a fragment that
    /// starts a period) its mark, then its record, so a reader never finds a record whose bytes are
    /// not there. A fragment that another connection already stored (same time and duration) is
    /// skipped: false. One that overlaps stored fragments otherwise is refused.
    /// `startsPeriod` is asked only when the fragment is appended, with the stored end before it.
    func append(_ bytes: [UInt8], fragment: IngestFragment, ingestMillis: UInt64,
                startsPeriod: (_ storedEnd: Int64?) -> Bool) throws(LiveIngestError) -> Bool {
        try refresh()
        if let end, fragment.decodeTime < end {
            if try isStored(fragment) { return false }
            throw .timeWentBackwards(trackID: trackID, time: fragment.decodeTime, previousEnd: end)
        }
        guard let size = UInt32(exactly: bytes.count), let samples = UInt32(exactly: fragment.sampleCount),
              let duration = Int64(exactly: fragment.duration), fragment.decodeTime <= Int64.max - duration else {
            throw .tooLarge("fragment of track \(trackID)")
        }
        let newPeriod = count > 0 && startsPeriod(end)
        var flags = fragment.startsWithSync ? FragmentRecord.startsWithSync : 0
        if newPeriod { flags |= FragmentRecord.startsPeriod }
        let record = FragmentRecord(time: fragment.decodeTime, duration: fragment.duration, offset: mediaEnd, size: size,
                                    sampleCount: samples, ingestMillis: ingestMillis, flags: flags)
        try media.write(bytes, at: mediaEnd)
        if newPeriod {
            try periods.write(PeriodMarks.encode(count), at: UInt64(periodCount * PeriodMarks.size))
            periodCount += 1
        }
        try index.write(record.encoded(), at: UInt64(count) * UInt64(FragmentRecord.size))
        count += 1
        mediaEnd = record.mediaEnd
        end = record.end
        return true
    }

    /// Whether a stored fragment has this one's time and duration (a binary search of the index).
    private func isStored(_ fragment: IngestFragment) throws(LiveIngestError) -> Bool {
        var lo = 0, hi = count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            guard let r = try FragmentIndexReader.read(index, mid) else { return false }
            if r.time == fragment.decodeTime { return r.duration == fragment.duration }
            if r.time < fragment.decodeTime { lo = mid + 1 } else { hi = mid }
        }
        return false
    }
}
