import ISOBMFF
#if canImport(Glibc)
import Glibc
#endif

/// The writer's side of one track's store: `<trackID>.media` (fragments appended) and
/// `<trackID>.index` (a record per committed fragment). Only the holder of the stream's lock
/// opens one, so it may repair what a crashed writer left.
final class TrackLog {
    let trackID: UInt32
    private let media: PosixFile
    private let index: PosixFile
    private(set) var count: Int
    private(set) var mediaEnd: UInt64
    /// Where the last committed fragment ended in time, nil before the first.
    private(set) var end: Int64?

    init(directory: String, trackID: UInt32) throws(LiveIngestError) {
        self.trackID = trackID
        media = try PosixFile(path: "\(directory)/\(trackID).media", flags: O_RDWR | O_CREAT)
        index = try PosixFile(path: "\(directory)/\(trackID).index", flags: O_RDWR | O_CREAT)
        // Recovery: keep the records that checksum and whose media is there; cut the rest (a
        // fragment in flight when the previous writer died).
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
        try index.truncate(to: n * UInt64(FragmentRecord.size))
        try media.truncate(to: mediaEnd)
    }

    /// Commits one whole fragment: media first, then its record, so a reader never finds a record
    /// whose bytes are not there.
    func append(_ bytes: [UInt8], fragment: IngestFragment, ingestMillis: UInt64) throws(LiveIngestError) {
        if let end, fragment.decodeTime < end {
            throw .timeWentBackwards(trackID: trackID, time: fragment.decodeTime, previousEnd: end)
        }
        guard let size = UInt32(exactly: bytes.count), let samples = UInt32(exactly: fragment.sampleCount),
              let duration = Int64(exactly: fragment.duration), fragment.decodeTime <= Int64.max - duration else {
            throw .tooLarge("fragment of track \(trackID)")
        }
        let record = FragmentRecord(time: fragment.decodeTime, duration: fragment.duration, offset: mediaEnd, size: size,
                                    sampleCount: samples, ingestMillis: ingestMillis,
                                    flags: fragment.startsWithSync ? FragmentRecord.startsWithSync : 0)
        try media.write(bytes, at: mediaEnd)
        try index.write(record.encoded(), at: UInt64(count) * UInt64(FragmentRecord.size))
        count += 1
        mediaEnd = record.mediaEnd
        end = record.end
    }
}
