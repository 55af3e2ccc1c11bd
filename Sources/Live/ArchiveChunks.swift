#if canImport(Glibc)
import Glibc
#endif

/// How a track's media is kept when the publishing point rolls its archive: in chunk files of
/// `archive_segment_length` seconds (`<trackID>.media` is chunk 0, then `<trackID>.media.1`, …), so
/// purging what left the archive is deleting whole files. A record's offset says where its fragment
/// is: the chunk in the top 24 bits, the byte offset inside it in the low 40 (a store written before
/// chunks existed has only chunk 0: its records read as before).
public enum ArchiveChunks {
    static let offsetBits: UInt64 = 40
    static let offsetMask: UInt64 = (1 << 40) - 1
    /// The most one chunk file holds (1 TiB); a fragment that would pass it starts a new chunk.
    static let chunkLimit: UInt64 = 1 << 40

    public static func chunk(of offset: UInt64) -> UInt64 { offset >> offsetBits }
    public static func within(_ offset: UInt64) -> UInt64 { offset & offsetMask }
    static func offset(chunk: UInt64, within: UInt64) -> UInt64 { chunk << offsetBits | within }

    /// The media file of `chunk` for a track whose chunk 0 is `mediaPath` (`…/<trackID>.media`).
    public static func path(mediaPath: String, chunk: UInt64) -> String {
        chunk == 0 ? mediaPath : "\(mediaPath).\(chunk)"
    }

    /// `<trackID>.purged`: how many of the track's first fragments left the archive (their chunk files
    /// are deleted, or about to be). Written (renamed into place) before any file is deleted, so a
    /// reader that honours it never looks for a deleted chunk. Absent: nothing purged.
    public static func purgedCount(indexPath: String) -> Int {
        let path = String(indexPath.dropLast(".index".count)) + ".purged"
        guard let bytes = try? readWholeFile(path, limit: 64), bytes.count == 8 else { return 0 }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(bytes[k]) << (8 * k) }
        return Int(clamping: v)
    }

    static func writePurgedCount(_ n: Int, indexPath: String) throws(LiveIngestError) {
        let path = String(indexPath.dropLast(".index".count)) + ".purged"
        try replaceFile(path, with: withUnsafeBytes(of: UInt64(n).littleEndian) { Array($0) })
    }
}

/// What a publishing point keeps, in one track's timescale (from the `.isml`: `archiving`,
/// `archive_length`, `archive_segment_length`, `dvr_window_length`).
public struct ArchivePolicy: Sendable, Equatable {
    /// Start a new chunk when the current one's first fragment is this much older; 0: never roll.
    public var chunkLength: Int64
    /// Keep fragments that end within this much of the newest end; 0: keep everything.
    public var keep: Int64

    public init(chunkLength: Int64 = 0, keep: Int64 = 0) {
        self.chunkLength = chunkLength
        self.keep = keep
    }

    /// The policy of the `.isml` options for a track of `timescale`: with `archiving` on, keep
    /// `archive_length` (0: all); with it off, keep the DVR window. Only a rolled store (an
    /// `archive_segment_length` above 0) is ever purged: deleting whole chunks is the purge.
    public init(archiving: Bool, archiveLength: Int, segmentLength: Int, dvrWindow: Int, timescale: UInt32) {
        let scale = Int64(timescale)
        chunkLength = Int64(max(0, segmentLength)) &* scale
        let keepSeconds = archiving ? max(0, archiveLength) : max(0, dvrWindow)
        keep = chunkLength > 0 ? Int64(keepSeconds) &* scale : 0
    }
}
