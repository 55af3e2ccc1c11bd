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
    private let mediaPath: String
    private let indexPath: String
    /// The chunk being appended to (`ArchiveChunks`), and its file.
    private var chunk: UInt64 = 0
    private var media: PosixFile
    private let index: PosixFile
    private let periods: PosixFile
    private(set) var count = 0
    /// The record offset (chunk and byte) where the next fragment goes.
    private(set) var mediaEnd: UInt64 = 0
    /// Store time of the first fragment of the current chunk, nil before the first.
    private var chunkStart: Int64?
    /// Where the last committed fragment ended in time, nil before the first.
    private(set) var end: Int64?
    private var periodCount = 0

    /// Opens (creates) the track's files. Call with the stream's append lock held.
    init(directory: String, trackID: UInt32) throws(LiveIngestError) {
        self.trackID = trackID
        mediaPath = "\(directory)/\(trackID).media"
        indexPath = "\(directory)/\(trackID).index"
        media = try PosixFile(path: mediaPath, flags: O_RDWR | O_CREAT)
        index = try PosixFile(path: indexPath, flags: O_RDWR | O_CREAT)
        periods = try PosixFile(path: "\(directory)/\(trackID).periods", flags: O_RDWR | O_CREAT)
        try refresh()
    }

    /// Re-reads what is committed (another writer may have appended since the last call) and
    /// repairs a dead writer's leftovers: keeps the records that checksum and whose media is there,
    /// and the period marks that point at such records; cuts the rest. Call with the append lock held.
    func refresh() throws(LiveIngestError) {
        var n = try index.size() / UInt64(FragmentRecord.size)
        var last: FragmentRecord?
        while n > 0 {
            if let r = try FragmentIndexReader.read(index, Int(n) - 1) {
                try open(chunk: ArchiveChunks.chunk(of: r.offset), truncating: false)
                if ArchiveChunks.within(r.mediaEnd) <= (try media.size()) { last = r; break }
            }
            n -= 1
        }
        if last == nil { try open(chunk: 0, truncating: false) }
        count = Int(n)
        mediaEnd = last?.mediaEnd ?? 0
        end = last?.end
        if try index.size() != n * UInt64(FragmentRecord.size) { try index.truncate(to: n * UInt64(FragmentRecord.size)) }
        if try media.size() != ArchiveChunks.within(mediaEnd) { try media.truncate(to: ArchiveChunks.within(mediaEnd)) }
        chunkStart = try firstTime(inChunk: chunk)
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
    func append(_ bytes: [UInt8], fragment: IngestFragment, ingestMillis: UInt64, archive: ArchivePolicy = ArchivePolicy(),
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
        // A new chunk when the current one spans the archive segment length (or would pass its size bound).
        if let chunkStart, count > 0,
           archive.chunkLength > 0 && fragment.decodeTime &- chunkStart >= archive.chunkLength
            || ArchiveChunks.within(mediaEnd) &+ UInt64(size) >= ArchiveChunks.chunkLimit {
            try open(chunk: chunk + 1, truncating: true)
            mediaEnd = ArchiveChunks.offset(chunk: chunk, within: 0)
        }
        let newPeriod = count > 0 && startsPeriod(end)
        var flags = fragment.startsWithSync ? FragmentRecord.startsWithSync : 0
        if newPeriod { flags |= FragmentRecord.startsPeriod }
        let record = FragmentRecord(time: fragment.decodeTime, duration: fragment.duration, offset: mediaEnd, size: size,
                                    sampleCount: samples, ingestMillis: ingestMillis, flags: flags)
        try media.write(bytes, at: ArchiveChunks.within(mediaEnd))
        if newPeriod {
            try periods.write(PeriodMarks.encode(count), at: UInt64(periodCount * PeriodMarks.size))
            periodCount += 1
        }
        try index.write(record.encoded(), at: UInt64(count) * UInt64(FragmentRecord.size))
        count += 1
        mediaEnd = record.mediaEnd
        end = record.end
        if chunkStart == nil || ArchiveChunks.within(record.offset) == 0 { chunkStart = record.time }
        if archive.keep > 0 { try purge(before: record.end &- archive.keep) }
        return true
    }

    /// Deletes the chunks whose fragments all end at or before `cutoff`: the purged count first
    /// (readers stop offering those fragments), then the files.
    private func purge(before cutoff: Int64) throws(LiveIngestError) {
        let purged = ArchiveChunks.purgedCount(indexPath: indexPath)
        guard purged < count, let r = try FragmentIndexReader.read(index, purged), r.end <= cutoff else { return }
        // The first fragment still ending after the cutoff, and the first of its chunk.
        var lo = purged, hi = count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if let m = try FragmentIndexReader.read(index, mid), m.end <= cutoff { lo = mid + 1 } else { hi = mid }
        }
        guard lo < count, let kept = try FragmentIndexReader.read(index, lo) else { return }
        let keptChunk = ArchiveChunks.chunk(of: kept.offset)
        let firstKept = try firstIndex(inChunk: keptChunk)
        guard firstKept > purged else { return }
        try ArchiveChunks.writePurgedCount(firstKept, indexPath: indexPath)
        var c = ArchiveChunks.chunk(of: r.offset)
        while c < keptChunk {
            unlink(ArchiveChunks.path(mediaPath: mediaPath, chunk: c))
            c += 1
        }
    }

    /// Opens chunk `c` as the one appended to (a new chunk starts empty).
    private func open(chunk c: UInt64, truncating: Bool) throws(LiveIngestError) {
        guard c != chunk || truncating else { return }
        media = try PosixFile(path: ArchiveChunks.path(mediaPath: mediaPath, chunk: c),
                              flags: O_RDWR | O_CREAT | (truncating ? O_TRUNC : 0))
        chunk = c
    }

    /// The store index of the first fragment in chunk `c` (records' chunks only grow), `count` if none.
    private func firstIndex(inChunk c: UInt64) throws(LiveIngestError) -> Int {
        var lo = 0, hi = count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if let m = try FragmentIndexReader.read(index, mid), ArchiveChunks.chunk(of: m.offset) < c { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    private func firstTime(inChunk c: UInt64) throws(LiveIngestError) -> Int64? {
        let i = try firstIndex(inChunk: c)
        return i < count ? try FragmentIndexReader.read(index, i)?.time : nil
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
