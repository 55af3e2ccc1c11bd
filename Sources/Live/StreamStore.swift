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

/// One stream of a publishing point, open for writing by one connection. Several connections may
/// write a stream at once (an encoder reconnecting before its old connection timed out, redundant
/// encoders): each holds `<stream>/lock` shared for its whole life (so the API can tell a stream
/// is being fed, and who feeds it), and takes `<stream>/append.lock` exclusively around each commit.
final class StreamStore {
    let directory: String
    let name: String
    private let lockFile: PosixFile
    private let appendLock: PosixFile
    private var tracks: [UInt32: TrackLog] = [:]

    init(manifestPath: String, stream: String) throws(LiveIngestError) {
        try makeDirectory(LiveStoreLayout.storeDirectory(manifestPath: manifestPath))
        directory = LiveStoreLayout.streamDirectory(manifestPath: manifestPath, stream: stream)
        name = stream
        try makeDirectory(directory)
        lockFile = try PosixFile(path: directory + "/lock", flags: O_RDWR | O_CREAT)
        appendLock = try PosixFile(path: directory + "/append.lock", flags: O_RDWR | O_CREAT)
        guard lockFile.lock(shared: true) else { throw .storage("cannot lock \(directory)/lock: \(PosixFile.errorText())") }
    }

    var headerPath: String { directory + "/header" }

    /// Runs `body` as the stream's only committer (other connections' commits wait).
    func committing<T>(_ body: () throws(LiveIngestError) -> T) throws(LiveIngestError) -> T {
        guard appendLock.lock() else { throw .storage("cannot lock \(directory)/append.lock: \(PosixFile.errorText())") }
        defer { appendLock.unlock() }
        return try body()
    }

    /// The header stored by an earlier connection, if any.
    func storedHeader() throws(LiveIngestError) -> [UInt8]? {
        try readWholeFile(headerPath, limit: 4 << 20)
    }

    func storeHeader(_ bytes: [UInt8]) throws(LiveIngestError) {
        try replaceFile(headerPath, with: bytes)
    }

    /// The track's log, opened on first use. Call inside `committing`.
    func track(_ id: UInt32) throws(LiveIngestError) -> TrackLog {
        if let log = tracks[id] { return log }
        let log = try TrackLog(directory: directory, trackID: id)
        tracks[id] = log
        return log
    }
}
