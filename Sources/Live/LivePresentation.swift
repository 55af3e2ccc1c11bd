import ByteIO
import ISOBMFF
import MediaModel
import ServerManifest
#if canImport(Glibc)
import Glibc
#endif

/// A publishing point as playout sees it: the `.isml`'s live tracks (those whose `src` names a
/// stream of its store) and its DVR window. Parsed once per version of the `.isml` (its inode,
/// size and mtime, checked with a stat on every request) and kept per process.
public struct LivePresentation: Sendable {
    public struct Track: Sendable, Equatable {
        /// `<trackName>=<systemBitrate>`, as in every player URL.
        public var token: String
        public var trackName: String
        public var kind: ManifestTrackKind
        public var bitrate: Int
        public var stream: String
        public var trackID: UInt32
        public var timescale: UInt32
        public var codecs: String
        public var width: Int
        public var height: Int
        /// The track's files: `<trackID>.index`, `.media`, and the stream's `header`.
        public var indexPath: String
        public var mediaPath: String
        public var headerPath: String
        /// `<trackID>.periods`: where the track's periods start (`PeriodMarks`).
        public var periodsPath: String { String(indexPath.dropLast(".index".count)) + ".periods" }
    }

    public let tracks: [Track]
    /// Seconds of the DVR window (`dvr_window_length`, default 30).
    public let dvrWindowSeconds: Int
    /// The `.isml`'s options (its `meta` elements), for format settings such as `mpd.segment_template`.
    public let options: [String: String]

    /// The `.isml` version a cached presentation was read from.
    private struct Version: Equatable {
        var inode: UInt64, size: Int64, seconds: Int, nanoseconds: Int
    }

    private static let lock = Lock()
    nonisolated(unsafe) private static var cache: [String: (Version, LivePresentation)] = [:]

    /// The live presentation of `manifestPath`, nil when it has no store (not a live publishing point).
    public static func load(manifestPath: String) throws(LiveIngestError) -> LivePresentation? {
        let store = LiveStoreLayout.storeDirectory(manifestPath: manifestPath)
        var st = stat()
        guard stat(store, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return nil }
        guard stat(manifestPath, &st) == 0 else { return nil }
        let version = Version(inode: UInt64(st.st_ino), size: Int64(st.st_size), seconds: st.st_mtim.tv_sec,
                              nanoseconds: st.st_mtim.tv_nsec)
        if let (cached, presentation) = lock.locked({ cache[manifestPath] }), cached == version { return presentation }
        guard let presentation = try read(manifestPath, store: store) else { return nil }
        lock.locked {
            // A few publishing points per server: a full table is simply started again.
            if cache.count >= 256 { cache.removeAll() }
            cache[manifestPath] = (version, presentation)
        }
        return presentation
    }

    private static func read(_ manifestPath: String, store: String) throws(LiveIngestError) -> LivePresentation? {
        guard let bytes = try readWholeFile(manifestPath, limit: 16 << 20) else { return nil }
        let manifest: ServerManifest
        do { manifest = try ServerManifest.parse(bytes) } catch {
            throw .storage("the publishing point \(manifestPath) cannot be read: \(error.logReason)")
        }
        let storeName = store.split(separator: "/").last.map(String.init) ?? store
        var tracks: [Track] = []
        for t in manifest.tracks {
            // src = <store>/<stream>/<trackID>, as PublishingPoint writes it.
            let parts = t.src.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == storeName, let id = UInt32(parts[2]),
                  (try? IngestPath(virtualPath: "Streams(\(parts[1]))")) != nil else { continue }
            let name = t.trackName ?? t.kind.rawValue
            let bitrate = t.systemBitrate ?? 0
            let directory = "\(store)/\(parts[1])"
            tracks.append(Track(token: "\(name)=\(bitrate)", trackName: name, kind: t.kind, bitrate: bitrate,
                                stream: String(parts[1]), trackID: id,
                                timescale: t.param("TimeScale").flatMap { UInt32($0) } ?? 10_000_000,
                                codecs: t.param("codecs") ?? "", width: t.param("MaxWidth").flatMap { Int($0) } ?? 0,
                                height: t.param("MaxHeight").flatMap { Int($0) } ?? 0,
                                indexPath: "\(directory)/\(id).index", mediaPath: "\(directory)/\(id).media",
                                headerPath: "\(directory)/header"))
        }
        let window = manifest.options["dvr_window_length"].flatMap { Int($0) } ?? 30
        return LivePresentation(tracks: tracks, dvrWindowSeconds: max(0, min(window, Self.longestWindow)),
                                options: manifest.options)
    }

    /// Ten days: window lengths are clamped to it so that they never overflow in a track timescale.
    public static let longestWindow = 10 * 86_400

    /// The DVR window in `track`'s timescale.
    public func windowUnits(_ track: Track) -> Int64 { Int64(dvrWindowSeconds) &* Int64(track.timescale) }

    public func track(token: String) -> Track? { tracks.first { $0.token == token } }

    /// The stream's announced tracks (its stored header's moov).
    public static func movie(headerPath: String) throws(LiveIngestError) -> IngestMovie {
        guard let header = try readWholeFile(headerPath, limit: 4 << 20), let movie = IngestSession.movie(inHeader: header) else {
            throw .storage("no readable header at \(headerPath)")
        }
        return movie
    }

    /// The stored bytes of one fragment: its moof, and where its mdat lies (the chunk file of the
    /// track's media that holds it, `ArchiveChunks`).
    public static func fragment(_ record: FragmentRecord, mediaPath: String) throws(LiveIngestError)
        -> (moof: [UInt8], mdatPath: String, mdatOffset: UInt64, mdatLength: UInt64) {
        let path = ArchiveChunks.path(mediaPath: mediaPath, chunk: ArchiveChunks.chunk(of: record.offset))
        let at = ArchiveChunks.within(record.offset)
        let file = try PosixFile(path: path, flags: O_RDONLY)
        let head = try file.read(at: at, count: 8)
        let moofSize = head[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard Array(head[4..<8]) == Array("moof".utf8), moofSize >= 8, moofSize < record.size else {
            throw .storage("fragment at \(at) of \(path) does not start with a moof")
        }
        let moof = try file.read(at: at, count: Int(moofSize))
        return (moof, path, at + UInt64(moofSize), UInt64(record.size - moofSize))
    }
}
