import ISOBMFF
#if canImport(Glibc)
import Glibc
#endif

/// Where a publishing point keeps its streams: `ch1.isml` → `ch1.live/`, next to it.
public enum LiveStoreLayout {
    public static func storeDirectory(manifestPath: String) -> String {
        let name = manifestPath.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? manifestPath
        let base = name.lastIndex(of: ".").map { String(name[..<$0]) } ?? name
        let parent = manifestPath.contains("/") ? manifestPath.parentDirectory + "/" : ""
        return parent + base + ".live"
    }

    public static func streamDirectory(manifestPath: String, stream: String) -> String {
        storeDirectory(manifestPath: manifestPath) + "/" + stream
    }
}

/// One stream of a publishing point, open for writing: holds the stream's lock for as long as it
/// lives (one writer per stream; the kernel releases the lock when the process dies).
final class StreamStore {
    let directory: String
    let name: String
    private let lockFile: PosixFile
    private var tracks: [UInt32: TrackLog] = [:]

    init(manifestPath: String, stream: String) throws(LiveIngestError) {
        try makeDirectory(LiveStoreLayout.storeDirectory(manifestPath: manifestPath))
        directory = LiveStoreLayout.streamDirectory(manifestPath: manifestPath, stream: stream)
        name = stream
        try makeDirectory(directory)
        lockFile = try PosixFile(path: directory + "/lock", flags: O_RDWR | O_CREAT)
        guard lockFile.tryLock() else { throw .streamBusy(stream) }
    }

    var headerPath: String { directory + "/header" }

    /// The header stored by an earlier connection, if any.
    func storedHeader() throws(LiveIngestError) -> [UInt8]? {
        try readWholeFile(headerPath, limit: 4 << 20)
    }

    func storeHeader(_ bytes: [UInt8]) throws(LiveIngestError) {
        try replaceFile(headerPath, with: bytes)
    }

    func track(_ id: UInt32) throws(LiveIngestError) -> TrackLog {
        if let log = tracks[id] { return log }
        let log = try TrackLog(directory: directory, trackID: id)
        tracks[id] = log
        return log
    }
}
