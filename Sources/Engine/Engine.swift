import ByteIO
import DASH
import HDS
import HLS
import IndexStore
import ISOBMFF
import MPEGTS
import MediaModel
import PlayerURL
import Smooth
import Storage

/// The engine: one instance per process, shared by all worker threads.
public final class Engine: Sendable {
    public static let shared = Engine()

    static let defaultIndexCacheBytes: UInt64 = 512 << 20

    let loader: PresentationLoader
    /// The status counters shared with the server's other processes (``configure(counters:)``).
    let counters: SharedCounters

    /// Buffers for output that is copied (TS segments and their PES scratch), reused across
    /// requests. Bounded: about one per worker thread (`ThreadsPerChild` is 64 in the recommended
    /// pool) and 64 MiB in all (a 4-second TS segment is about 1.3 MB at 2.5 Mbit/s).
    public let buffers = ByteBufferPool(maxBuffers: 128, maxRetainedBytes: 64 << 20)

    public convenience init() {
        let counters = SharedCounters()
        self.init(loader: PresentationLoader(indexCacheBytes: Int(Self.defaultIndexCacheBytes),
                                             presentationCacheBytes: Int(Self.defaultIndexCacheBytes / 2),
                                             counters: counters),
                  counters: counters)
    }

    init(loader: PresentationLoader, counters: SharedCounters = SharedCounters()) {
        self.loader = loader
        self.counters = counters
    }

    /// Takes back the buffers of a response that has been sent (or dropped). Only responses marked
    /// ``EngineResponse/bodyIsPooled`` have any; call it after the last use of the body's bytes.
    public func recycle(_ response: consuming EngineResponse) {
        let pooled = response.bodyIsPooled
        var pieces = (consume response).body
        guard pooled else { return }
        while let piece = pieces.popLast() {
            if case .bytes(let bytes) = consume piece { buffers.give(bytes) }
        }
    }

    /// Sets the process-wide cache bounds (`OrigoIndexCacheSize`); 0 keeps the default. The
    /// presentation cache defaults to half the index cache.
    public func configure(indexCacheBytes: UInt64, presentationCacheBytes: UInt64 = 0) {
        let index = indexCacheBytes > 0 ? indexCacheBytes : Self.defaultIndexCacheBytes
        let presentations = presentationCacheBytes > 0 ? presentationCacheBytes : index / 2
        loader.setCacheBounds(indexBytes: Int(clamping: index), presentationBytes: Int(clamping: presentations))
    }

    static let defaultIndexStoreBytes: UInt64 = 1 << 30

    /// Uses the host's shared index store in `directory` (`OrigoIndexCacheDir`), bounded to `bytes`
    /// (0: 1 GiB); nil or empty turns it off.
    public func configure(indexStore directory: String?, bytes: UInt64) {
        guard let directory, !directory.isEmpty else {
            loader.store = nil
            return
        }
        loader.store = IndexStore(directory: directory, capacityBytes: bytes > 0 ? bytes : Self.defaultIndexStoreBytes)
    }

    /// Starts adding to the status counters at `array` (`ORIGO_ENGINE_COUNTERS` of them, shared
    /// with the server's other processes), or stops with nil. What the caches hold is added to the
    /// gauges on attaching and taken away on detaching, so the gauges sum what live processes hold.
    /// Call it when no request is being answered (before the first, after the last).
    public func configure(counters array: UnsafeMutablePointer<UInt64>?) {
        guard array != nil || counters.isAttached else { return }
        loader.announceCacheContents(arriving: false)
        counters.attach(array)
        loader.announceCacheContents(arriving: true)
    }

    /// Answers one request. Never throws: every error becomes a status and a log line.
    public func handle(_ request: EngineRequest) -> EngineResponse {
        MappedFile.sweepIfDue()
        do {
            return try respond(request)
        } catch is WouldBlock {
            return .wouldBlock
        } catch let error as UpstreamError where error.code == .changed {
            // The cached index no longer describes the object: rebuild it and answer once more.
            loader.invalidate(manifestPath: request.manifestPath, query: request.query, upstream: request.upstream)
            do {
                return try respond(request)
            } catch {
                return Self.errorResponse(error, request)
            }
        } catch {
            return Self.errorResponse(error, request)
        }
    }

    private static func errorResponse(_ error: any Error, _ request: EngineRequest) -> EngineResponse {
        var response: EngineResponse = (error as? any StatusCodedError).map { .error($0.httpStatus, $0.logReason) }
            ?? .error(500, "unexpected error: \(error)")
        response.format = OutputFormat(virtualPath: request.virtualPath)
        return response
    }

    /// The presentation is taken from the cache once the server manifest and index files are
    /// unchanged; the files samples are read from are checked by ``answer`` for the tracks the
    /// request reads. Should that check, or anything else, fail while another file of the
    /// presentation has changed, the request starts over on the presentation as it is now.
    private func respond(_ request: EngineRequest) throws -> EngineResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            throw EngineError.methodNotAllowed(Sanitized.text(request.method, limit: 20))
        }
        // A live publishing point (an .isml with a store next to it) is answered from the store,
        // which is read on every request: never from memory alone.
        if request.noWait, request.manifestPath.lowercased().hasSuffix(".isml") { throw WouldBlock() }
        if let live = try LiveAnswer.respond(request) { return live }
        let query = try QueryOptions(raw: request.query)
        // The consumed options (filter, max_bitrate, subclip) are checked before anything is loaded.
        let selection = try Selection(query: query)
        func load(checkingAll: Bool) throws -> LoadedPresentation {
            try loader.load(manifestPath: request.manifestPath, query: request.query, upstream: request.upstream,
                            maxIndexBytes: request.maxIndexBytes, checkingSampleFiles: checkingAll, noWait: request.noWait,
                            manifestIdentity: request.manifestIdentity,
                            fileCheckInterval: checkingAll ? .everyRequest : request.fileCheckInterval)
        }
        let cached = try load(checkingAll: false)
        do {
            return try answer(request, query: query, selection: selection, loaded: cached, checkingReads: true)
        } catch let error as WouldBlock {
            throw error
        } catch {
            // Another file changed (a stale track name or segment number may be why it failed).
            let current = try load(checkingAll: true)
            guard current !== cached else { throw error }
            return try answer(request, query: query, selection: selection, loaded: current, checkingReads: false)
        }
    }

    /// A ``EngineRequest/noWait`` request reached something it would have to read or build.
    struct WouldBlock: Error {}

    /// A sample file a request reads has changed since its presentation was loaded (answered as
    /// such only if it changes back before the presentation is reloaded).
    private struct SampleFileChanged: StatusCodedError {
        var httpStatus: Int { 503 }
        var logReason: String { "a media file changed while the request was answered" }
    }

    private func answer(_ request: EngineRequest, query: QueryOptions, selection: Selection, loaded: LoadedPresentation,
                        checkingReads: Bool) throws -> EngineResponse {
        // The one selection step: every format below sees only the selected presentation.
        let view = try loaded.view(for: selection, building: !request.noWait)
        let route = try VirtualPath.parse(request.virtualPath, trackNames: view.trackNames)
        if checkingReads {
            let read = try route.tokensRead.map { tokens in
                try tokens.map { try AnswerContext.track($0, in: view.presentation).track.dataSource }
            }
            // A manifest reads no samples: a recent check of their files will do. Whatever sends
            // samples checks their files now.
            let interval = route.isManifest ? request.fileCheckInterval : .everyRequest
            guard try loader.unchanged(loaded, reading: read, within: interval) else {
                throw SampleFileChanged()
            }
        }
        let formatOptions = PlayoutOptions.formatOptions(query)
        let options = formatOptions.isEmpty ? try view.defaultOptions.get()
            : try PlayoutOptions(query: query, presentation: view.presentation)
        // Manifests are built once per presentation view, virtual path and format options, as
        // templates whose child URLs leave the query open: requests that differ only in what the
        // origin does not consume (session ids) share one build. A changed file makes a new
        // LoadedPresentation and so drops them.
        let base = Self.baseName(request.manifestPath)
        let urls = route.isManifest ? ChildURL.template(base: base) : ChildURL(base: base, query: query.raw)
        let manifestKey = route.isManifest ? request.virtualPath + "?" + formatOptions : nil
        let protection = try view.protection.get()
        try protection.check(route, hlsContainer: options.hlsContainer)
        if let key = manifestKey, let cached = view.manifests.value(for: key) {
            var response = cached.response(query: query.raw)
            response.format = route.format
            return response
        }
        if manifestKey != nil, request.noWait { throw WouldBlock() }

        let media = MediaBytes(upstream: request.upstream, versions: loaded.versions, localFiles: loaded.localFiles,
                               mapsFiles: request.mapFiles, noWait: request.noWait)
        let context = AnswerContext(view: view, options: options, urls: urls, media: media, buffers: buffers,
                                    protection: protection)
        var response = try context.answer(route)
        response.lastModified = loaded.manifest.mtimeSeconds
        response.format = route.format
        // Manifests: kept as a template; their ETag hashes the bytes plus the query (ManifestTemplate).
        if let key = manifestKey, case .bytes(let bytes)? = response.body.first, response.body.count == 1 {
            let type = response.contentType ?? ""
            let template = ManifestTemplate(bytes: bytes, contentType: type, isXML: type.hasSuffix("xml"),
                                            lastModified: response.lastModified)
            view.manifests.insert(template, for: key, cost: template.cost &+ key.utf8.count)
            var response = template.response(query: query.raw)
            response.format = route.format
            return response
        }
        if response.etag == nil {
            // Segments: identified by what they are cut from, not hashed byte by byte.
            var hash = loaded.identityHash
            hash.add(request.virtualPath)
            hash.add(query.raw)
            if protection.isConfigured { hash.add(protection.fingerprint) }
            response.etag = hash.etag
        }
        return response
    }

    // MARK: - Helpers

    /// The file name of `path` without its extension (`/a/b/movie.ism` → `movie`), in UTF-8 bytes:
    /// this runs for every request.
    static func baseName(_ path: String) -> String {
        let slash = UInt8(ascii: "/")
        var whole = Array(path.utf8)[...]
        while whole.count > 1, whole.last == slash { whole = whole.dropLast() }
        let file = whole.lastIndex(of: slash).map { whole[($0 + 1)...] } ?? whole
        guard let dot = file.lastIndex(of: UInt8(ascii: ".")), dot != file.startIndex else {
            return String(decoding: file, as: UTF8.self)
        }
        return String(decoding: file[..<dot], as: UTF8.self)
    }
}

extension PlayerRequest {
    /// Playlists and manifests: small, derived from the index only, worth caching whole.
    var isManifest: Bool {
        switch self {
        case .hlsMaster, .hlsMediaPlaylist, .hlsIFramePlaylist, .dashManifest, .smoothManifest, .hdsManifest: true
        default: false
        }
    }
}
