import ByteIO
import CEngineAPI
import Encryption
import ISOBMFF
import MediaModel
import MPEGTS
import HLS
import IndexStore
import PlayerURL
import ServerManifest
import Storage
import Subtitles
#if canImport(Glibc)
import Glibc
#endif

/// A loaded presentation plus what it was built from, so a changed file is noticed.
final class LoadedPresentation: @unchecked Sendable {
    let manifest: FileIdentity
    let sources: [FileIdentity]
    /// The whole presentation, as the server manifest describes it.
    let whole: PresentationView
    /// Presentations derived by a ``Selection`` (filter, max_bitrate, subclip), by ``Selection/key``.
    private let views: BoundedCache<String, PresentationView>

    /// Monotonic seconds when it was built; presentations with upstream parts expire after
    /// ``PresentationLoader/remoteTTL`` and are then revalidated.
    let loadedAt: Int64
    /// Whether the manifest or any source lives upstream.
    let hasRemote: Bool
    /// The version of every source as indexed, by path: upstream reads check it.
    let versions: [String: RemoteVersion]
    /// The local sources as indexed, by path (what TS segments may read through mappings).
    let localFiles: [String: FileIdentity]
    /// Local sources every request checks: index files that point to other files, sidecar text
    /// files, anything no track reads its samples from.
    let checkedAlways: [FileIdentity]
    /// Local files tracks read samples from (self-contained MP4s, the media behind index files): a
    /// request that names its tracks checks only theirs.
    let checkedWhenRead: [String: FileIdentity]
    /// The hash of what it was built from (paths, sizes, mtimes, ETags): segment ETags start here.
    let identityHash: FNV1a
    /// The content keys of a CPIX document the server manifest names, read when it was loaded.
    let keys: CPIX?
    /// When all of ``checkedWhenRead`` were last found unchanged (at first: when they were read
    /// to build it).
    let allSampleFilesChecked: RecentCheck

    /// Everything it may hold, for the presentation cache's bound: its sample tables, the bound
    /// of its manifest cache and the bound of its derived views (each view's tables and manifests).
    let cost: Int

    /// `indexFiles`: the sources whose index describes tracks of other files (data references).
    /// `keys`: the CPIX document the server manifest names (`cpix`), read with it.
    init(manifest: FileIdentity, sources: [FileIdentity], presentation: Presentation, loadedAt: Int64 = 0,
         indexFiles: Set<String> = [], keys: CPIX? = nil) {
        self.manifest = manifest
        self.sources = sources
        self.keys = keys
        let tables = PresentationView.tablesCost(presentation)
        self.whole = PresentationView(presentation: presentation, manifestBytes: PresentationView.manifestBytes(tables: tables),
                                      keys: keys)
        self.loadedAt = loadedAt
        self.hasRemote = ([manifest] + sources).contains { RemoteURL.isRemote($0.path) }
        self.versions = Dictionary(sources.map { ($0.path, RemoteVersion($0)) }, uniquingKeysWith: { a, _ in a })
        let local = sources.filter { !RemoteURL.isRemote($0.path) }
        self.localFiles = Dictionary(local.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let sampleFiles = Set(presentation.tracks.map(\.track.dataSource)).subtracting(indexFiles)
        self.checkedAlways = local.filter { !sampleFiles.contains($0.path) && $0 != manifest }
        self.checkedWhenRead = localFiles.filter { sampleFiles.contains($0.key) }
        var hash = FNV1a()
        for source in [manifest] + sources {
            hash.add(source.path)
            hash.add(Int64(clamping: source.size))
            hash.add(source.mtimeSeconds)
            hash.add(source.mtimeNanoseconds)
            hash.add(source.etag)
        }
        self.identityHash = hash
        self.allSampleFilesChecked = RecentCheck(passedAt: FileCheckInterval.monotonicMilliseconds())
        // Room for a few subclips' sliced tables and their manifests.
        let viewBytes = 2 &* tables &+ (4 << 20)
        self.views = BoundedCache(capacity: viewBytes)
        self.cost = tables &+ whole.manifests.capacity &+ whole.textCues.capacity &+ viewBytes
    }

    /// The whole presentation (no selection).
    var presentation: Presentation { whole.presentation }

    /// The presentation a request with `selection` sees, derived once per canonical selection and
    /// kept with its own cuts, TS continuity counters and manifests: requests that differ only in
    /// options the selection does not consume (`session_id`) share it.
    /// Without `building`, a view not derived yet is ``Engine/WouldBlock`` (a no-wait request).
    func view(for selection: Selection, building: Bool = true) throws -> PresentationView {
        let key = selection.key
        guard !key.isEmpty else { return whole }
        if let cached = views.value(for: key) { return cached }
        guard building else { throw Engine.WouldBlock() }
        let derived = try whole.presentation.selecting(selection)
        let sliced = selection.subclip != nil
        // A filtered view shares the whole presentation's tables; a subclip has sliced copies.
        let tables = sliced ? PresentationView.tablesCost(derived) : 1024 &+ derived.tracks.count &* 256
        let view = PresentationView(presentation: derived, manifestBytes: PresentationView.manifestBytes(tables: tables),
                                    keys: keys)
        views.insert(view, for: key, cost: tables &+ view.manifests.capacity &+ view.textCues.capacity &+ key.utf8.count)
        return view
    }
}

/// One presentation as requests see it (the whole one or a selection of it) with what is
/// computed from it once: cuts per segmentation option, TS continuity counters, finished manifests.
/// Nothing here is shared between views: a cut of the whole presentation is never used for a subclip.
final class PresentationView: @unchecked Sendable {
    let presentation: Presentation
    /// The names of its tracks, which virtual paths may use as tokens.
    let trackNames: Set<String>
    /// The format options of the server manifest alone (a request without `hls.`, `mpd.`, `iss.`
    /// or `hds.` options in its query uses these), or the error they raise.
    let defaultOptions: Result<PlayoutOptions, EngineError>
    /// The server manifest's encryption settings, or the error they raise.
    let protection: Result<Protection, EngineError>
    private let cuts: BoundedCache<CutKey, Cut>
    /// TS continuity counters at the start of every segment, per cut and muxed track combination.
    private let continuities: BoundedCache<String, [TSContinuity]>
    /// Finished manifests by virtual path and format options, with the query left open (bounded
    /// by their bytes).
    let manifests: BoundedCache<String, ManifestTemplate>
    /// Cues of text tracks by token, read once from their samples (see `TextResponses.swift`).
    let textCues: BoundedCache<String, [Cue]>

    init(presentation: Presentation, manifestBytes: Int, keys: CPIX? = nil) {
        self.presentation = presentation
        self.trackNames = Set(presentation.tracks.map(\.name))
        do {
            self.defaultOptions = .success(try PlayoutOptions(query: QueryOptions(), presentation: presentation))
        } catch {
            self.defaultOptions = .failure(error)
        }
        do {
            self.protection = .success(try Protection(presentation: presentation, keyDocument: keys))
        } catch {
            self.protection = .failure(error)
        }
        self.cuts = BoundedCache(capacity: 16)
        self.continuities = BoundedCache(capacity: 1 << 20)
        self.manifests = BoundedCache(capacity: manifestBytes)
        self.textCues = BoundedCache(capacity: manifestBytes)
    }

    /// Bytes the presentation's sample tables hold (text held in memory included).
    static func tablesCost(_ presentation: Presentation) -> Int {
        presentation.tracks.reduce(4096) { $0 &+ $1.track.memoryFootprint }
    }

    /// The bound of a view's manifest cache (and of its text cue cache): playlists grow with the
    /// number of segments, and so do the tables (a 2-hour presentation: about 8 MB).
    static func manifestBytes(tables: Int) -> Int {
        min(8 << 20, (1 << 20) &+ tables / 2)
    }

    /// Continuity counters at the start of TS segment `index`, so counters run on across segments.
    /// Computed once for all segments of a track combination (from sample sizes, no media reads).
    func continuity(before index: Int, tracks: [PresentationTrack], key: CutKey, cut: Cut) -> TSContinuity {
        let cacheKey = "\(key.minimumLength.map { "\($0.numerator)/\($0.denominator)" } ?? "-")/\(key.fallbackLength.numerator)/\(key.fallbackLength.denominator)|"
            + tracks.map(\.token).joined(separator: "-")
        let states: [TSContinuity]
        if let cached = continuities.value(for: cacheKey) {
            states = cached
        } else {
            var all: [TSContinuity] = [.zero]
            all.reserveCapacity(cut.segmentation.count)
            let ranges = tracks.map { cut.ranges($0.token) ?? [] }
            var state = TSContinuity.zero
            for k in 0..<cut.segmentation.count {
                let inputs = tracks.indices.map { TSInput(track: tracks[$0].track, samples: k < ranges[$0].count ? ranges[$0][k] : 0..<0) }
                // Unknown sizes (NAL length size other than 4): counters restart at each segment.
                state = TransportStreamWriter.continuityAfter(inputs: inputs, start: state) ?? .zero
                all.append(state)
            }
            continuities.insert(all, for: cacheKey, cost: all.count)
            states = all
        }
        return index >= 0 && index < states.count ? states[index] : .zero
    }

    /// Continuity counters at the start of I-frame TS segment `number` (from 1) of `track`: every
    /// I-frame segment holds one key frame, and the counters run on from one to the next as they
    /// would in the playlist's concatenation. Computed once per cut and track.
    func iFrameContinuity(before number: Int, track: PresentationTrack, keyFrames: KeyFrames, key: CutKey) -> TSContinuity {
        let cacheKey = "\(key.minimumLength.map { "\($0.numerator)/\($0.denominator)" } ?? "-")/\(key.fallbackLength.numerator)/\(key.fallbackLength.denominator)|keyframes|"
            + track.token
        let states: [TSContinuity]
        if let cached = continuities.value(for: cacheKey) {
            states = cached
        } else {
            var all: [TSContinuity] = [.zero]
            all.reserveCapacity(keyFrames.count &+ 1)
            var state = TSContinuity.zero
            for sample in keyFrames.samples {
                let inputs = [TSInput(track: track.track, samples: sample..<(sample &+ 1))]
                state = TransportStreamWriter.continuityAfter(inputs: inputs, start: state) ?? .zero
                all.append(state)
            }
            continuities.insert(all, for: cacheKey, cost: all.count)
            states = all
        }
        let index = number - 1
        return index >= 0 && index < states.count ? states[index] : .zero
    }

    /// The segmentation for one set of options, computed once and kept with the presentation.
    func cut(_ key: CutKey) throws(EngineError) -> Cut {
        if let cut = cuts.value(for: key) { return cut }
        guard let segmentation = Segmentation.make(tracks: presentation.tracks.map(\.track),
                                                   minimumLength: key.minimumLength,
                                                   fallbackLength: key.fallbackLength) else {
            throw .notFound("presentation has no samples to segment")
        }
        let cut = Cut(segmentation: segmentation, tracks: presentation.tracks)
        cuts.insert(cut, for: key, cost: 1)
        return cut
    }
}

struct CutKey: Hashable, Sendable {
    var minimumLength: FragmentLength?
    var fallbackLength: FragmentLength
}


/// A segmentation and, per track, its sample ranges and segment durations and sizes. Each track's
/// are computed when first asked for: a segment request reads one track's, and a fresh process
/// (its indexes from the index store) would otherwise spend most of its first segment's time
/// cutting every other track of the presentation (docs/INDEX-STORE.md, "What should follow").
final class Cut: @unchecked Sendable {
    let segmentation: Segmentation
    private let tracks: [String: Track]
    private let order: [String]
    private let lock = Lock()
    private var computed: [String: SegmentStats] = [:]

    init(segmentation: Segmentation, tracks: [PresentationTrack]) {
        self.segmentation = segmentation
        self.tracks = Dictionary(tracks.map { ($0.token, $0.track) }, uniquingKeysWith: { a, _ in a })
        self.order = tracks.map(\.token)
    }

    /// Durations and sizes of the segments of the track with `token` (nil: no such track).
    func stats(_ token: String) -> SegmentStats? {
        if let known = lock.locked({ computed[token] }) { return known }
        guard let track = tracks[token] else { return nil }
        // Computed outside the lock: two requests may both compute it, the same result.
        let stats = SegmentStats(track: track, segmentation: segmentation)
        lock.locked { computed[token] = stats }
        return stats
    }

    /// Sample ranges of the track with `token`, one per segment.
    func ranges(_ token: String) -> [Range<Int>]? { stats(token)?.ranges }

    /// Every track's stats (manifests describe them all).
    var allStats: [String: SegmentStats] {
        var out: [String: SegmentStats] = [:]
        for token in order { out[token] = stats(token) }
        return out
    }

    var allRanges: [String: [Range<Int>]] { allStats.mapValues(\.ranges) }
}

/// Builds presentations from server manifests and media files, with two bounded caches: parsed
/// media indexes per object version, and assembled presentations per server manifest.
///
/// Local files are checked with `stat` on every request: the server manifest (or the server's
/// own stat of it is used), index, sidecar and key files always, the files samples are read from
/// when the request reads them (a segment checks its own tracks' files). A manifest reads no
/// samples: it checks all of them, but trusts a check younger than the request's
/// ``FileCheckInterval`` (a warm manifest then costs no `stat`). Upstream objects are keyed by URL plus
/// size, ETag and Last-Modified, and a presentation with upstream parts is trusted for
/// ``remoteTTL`` seconds; after that the manifest is fetched again and every source probed with a
/// one-byte ranged GET, and only sources whose version changed are parsed again.
final class PresentationLoader: @unchecked Sendable {
    static let maxServerManifestBytes = 4 << 20
    static let defaultMaxIndexBytes: UInt64 = 256 << 20

    private let indexes: BoundedCache<FileIdentity, MP4Index>
    private let presentations: BoundedCache<String, LoadedPresentation>
    /// Parsed sidecar subtitle files per file version (see `SidecarText.swift`).
    let sidecars: BoundedCache<FileIdentity, [Cue]>
    /// Seconds a presentation with upstream parts is used without asking upstream again.
    let remoteTTL: Int64
    /// Recent failures to load a remote presentation, answered again without asking upstream.
    let failures: RecentFailures
    /// Monotonic clock in seconds (injectable for tests).
    private let now: @Sendable () -> Int64
    private let counters: SharedCounters
    private let storeLock = Lock()
    private var storeSetting: IndexStore?
    /// The host's shared index store (`OrigoIndexCacheDir`), or nil.
    var store: IndexStore? {
        get { storeLock.locked { storeSetting } }
        set { storeLock.locked { storeSetting = newValue } }
    }

    init(indexCacheBytes: Int, presentationCacheBytes: Int, remoteTTL: Int64 = 60, failureTTL: Int64 = 5,
         counters: SharedCounters = SharedCounters(),
         now: @escaping @Sendable () -> Int64 = PresentationLoader.monotonicSeconds) {
        indexes = BoundedCache(capacity: indexCacheBytes, observer: counters.indexCache)
        presentations = BoundedCache(capacity: presentationCacheBytes, observer: counters.presentationCache)
        sidecars = BoundedCache(capacity: max(indexCacheBytes / 8, 1 << 20))
        self.remoteTTL = remoteTTL
        self.failures = RecentFailures(seconds: failureTTL)
        self.now = now
        self.counters = counters
    }

    /// Changes both cache bounds; entries beyond them are evicted.
    func setCacheBounds(indexBytes: Int, presentationBytes: Int) {
        indexes.setCapacity(indexBytes)
        presentations.setCapacity(presentationBytes)
    }

    /// Tells the shared counters about everything the two caches hold, as arriving (after the
    /// counters were attached) or leaving (before they are detached).
    func announceCacheContents(arriving: Bool) {
        indexes.announceContents(arriving: arriving)
        presentations.announceContents(arriving: arriving)
    }

    /// Current bounds and use of the two caches (for tests and diagnostics).
    var cacheBounds: (indexBytes: Int, presentationBytes: Int) { (indexes.capacity, presentations.capacity) }
    var cacheUse: (indexBytes: Int, presentationBytes: Int) { (indexes.cost, presentations.cost) }

    static func monotonicSeconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec)
    }

    /// The URL a remote server manifest is fetched from: with the client's query (a CMS may
    /// answer every query differently). The query goes nowhere else: not to media reads, and not
    /// to an MP4 addressed directly, whose reads it could otherwise steer (`?versionId=` on S3).
    static func fetchURL(manifestPath: String, query: String?) -> String {
        guard RemoteURL.isRemote(manifestPath), isServerManifest(manifestPath) else { return manifestPath }
        return RemoteURL.appendingQuery(manifestPath, query)
    }

    /// The presentation cache key: the fetch URL, plus the upstream's access scope when any part
    /// may be remote (a presentation built where a host is allowed must not be served elsewhere).
    static func key(manifestPath: String, query: String?, upstream: (any Upstream)?) -> String {
        let url = fetchURL(manifestPath: manifestPath, query: query)
        guard let upstream else { return url }
        return upstream.scope + "\n" + url
    }

    /// Forgets a presentation (an upstream object changed under it).
    func invalidate(manifestPath: String, query: String?, upstream: (any Upstream)?) {
        let key = Self.key(manifestPath: manifestPath, query: query, upstream: upstream)
        presentations.remove(key)
        failures.forget(key)
    }

    /// The presentation of `manifestPath`, from the cache when the server manifest and the files
    /// it checks are unchanged. With `checkingSampleFiles` false, the files tracks read samples
    /// from are left to the caller (``unchanged(_:reading:)``, for the tracks a request reads).
    /// With `noWait`, whatever is not cached and unchanged is ``Engine/WouldBlock``: files are
    /// only checked with `stat`, never read. `manifestIdentity`: what the server found at
    /// `manifestPath` (else it is stat'ed); the sample files, when checked, are trusted if found
    /// unchanged less than `fileCheckInterval` ago.
    func load(manifestPath: String, query: String? = nil, upstream: (any Upstream)? = nil,
              maxIndexBytes: UInt64, checkingSampleFiles: Bool = true, noWait: Bool = false,
              manifestIdentity: FileIdentity? = nil,
              fileCheckInterval: FileCheckInterval = .everyRequest) throws -> LoadedPresentation {
        let limits = Self.limits(maxIndexBytes: maxIndexBytes)
        let key = Self.key(manifestPath: manifestPath, query: query, upstream: upstream)
        let url = Self.fetchURL(manifestPath: manifestPath, query: query)
        let cached = presentations.value(for: key)
        let fresh = { (p: LoadedPresentation) in !p.hasRemote || self.now() &- p.loadedAt < self.remoteTTL }
        let context = LoadContext(upstream: upstream, limits: limits, revalidating: cached != nil, now: now())
        let loaded: LoadedPresentation
        if RemoteURL.isRemote(manifestPath) {
            if let cached, fresh(cached) { return cached }
            if noWait { throw Engine.WouldBlock() }
            guard upstream != nil else { throw UpstreamError(.notConfigured, url: manifestPath) }
            loaded = try failures.remembering(key, now: context.now) {
                guard Self.isServerManifest(manifestPath) else {
                    // A media file addressed directly is read like any source: by ranges.
                    return try loadMediaFile(url, context)
                }
                let (identity, body) = try Self.remoteWhole(url, limit: Self.maxServerManifestBytes, what: "server manifest", context)
                return try loadServerManifest(identity, bytes: body, base: .remote(manifestPath), context)
            }
        } else {
            // Microseconds: all Apache's stat tells (apr_finfo_t), so every server names a
            // presentation (and its ETags) alike.
            let identity = try (manifestIdentity ?? LocalFile.identity(of: manifestPath)).inMicroseconds
            if let cached, cached.manifest.inMicroseconds == identity, fresh(cached), try Self.unchanged(cached.checkedAlways),
               try !checkingSampleFiles || unchanged(cached, reading: nil, within: fileCheckInterval) {
                return cached
            }
            if noWait { throw Engine.WouldBlock() }
            if Self.isServerManifest(manifestPath) {
                let bytes = try LocalFile.contents(of: identity.path, limit: Self.maxServerManifestBytes)
                loaded = try loadServerManifest(identity, bytes: bytes,
                                                base: .local(Self.directory(of: identity.path)), context)
            } else {
                loaded = try loadMediaFile(manifestPath, context)
            }
        }
        presentations.insert(loaded, for: key, cost: loaded.cost)
        return loaded
    }

    /// Whether the local files `tracks` read samples from (the paths of their data sources) are
    /// still what `loaded` indexed: checked every time, as their bytes are about to be sent. Nil:
    /// every track's, for a request that reads none of them (a manifest), which trusts a check
    /// younger than `interval`.
    func unchanged(_ loaded: LoadedPresentation, reading dataSources: [String]?,
                   within interval: FileCheckInterval = .everyRequest) throws -> Bool {
        guard let dataSources else {
            return try loaded.allSampleFilesChecked.passes(now: FileCheckInterval.monotonicMilliseconds(),
                                                           within: interval) {
                try Self.unchanged(loaded.checkedWhenRead.values)
            }
        }
        return try Self.unchanged(dataSources.compactMap { loaded.checkedWhenRead[$0] })
    }

    private static func unchanged(_ files: some Sequence<FileIdentity>) throws -> Bool {
        try files.allSatisfy { try LocalFile.identity(of: $0.path) == $0 }
    }

    /// What one load needs besides the locator.
    struct LoadContext {
        var upstream: (any Upstream)?
        var limits: ReadLimits
        /// A previous version is cached: probe upstream sources before reading them.
        var revalidating: Bool
        var now: Int64
    }

    /// Where relative `src` attributes are resolved.
    enum SourceBase {
        case local(String)   // directory
        case remote(String)  // manifest URL without query
    }

    /// Read limits for one file. Sample counts follow the index size the operator allows
    /// (`OrigoMaxIndexSize`): a real table spends at least 4 bytes per sample (`stsz` or `trun`
    /// sizes), so a file claiming more samples than a quarter of its allowed index bytes is refused
    /// before anything is allocated for them. Memory per file is then about 6 × the index bytes.
    static func limits(maxIndexBytes: UInt64) -> ReadLimits {
        let indexBytes = maxIndexBytes > 0 ? maxIndexBytes : defaultMaxIndexBytes
        let perFile = min(ReadLimits.default.maxSamplesPerFile, Int(clamping: indexBytes / 4))
        return ReadLimits(maxIndexBytes: indexBytes,
                          maxSamplesPerTrack: min(ReadLimits.default.maxSamplesPerTrack, perFile),
                          maxBoxDepth: ReadLimits.default.maxBoxDepth,
                          maxSamplesPerFile: perFile)
    }

    private static func isServerManifest(_ path: String) -> Bool {
        ManifestPath.kind(of: RemoteURL.withoutQuery(path)) == .serverManifest
    }

    /// The index of one source, from the cache when its version is unchanged, else from the
    /// host's index store (``IndexStore``) when one is configured, else parsed (and then stored).
    private func index(_ locator: String, _ context: LoadContext) throws -> (FileIdentity, MP4Index) {
        guard RemoteURL.isRemote(locator) else {
            let identity = try LocalFile.identity(of: locator)
            if let cached = indexes.value(for: identity) { return (identity, cached) }
            if let stored = fromStore(identity, context) { return (identity, stored) }
            let reader = try LocalFileReader(path: identity.path)
            return (identity, try parse(reader, identity: identity, context))
        }
        guard let upstream = context.upstream else { throw UpstreamError(.notConfigured, url: locator) }
        if context.revalidating || store != nil {
            // One byte tells size and version; the index is usually still cached or stored.
            let probe = try upstream.fetchChecked(locator, offset: 0, length: 1)
            let size = probe.totalSize ?? (probe.status == 200 ? UInt64(probe.body.count) : 0)
            let identity = RemoteVersion(etag: probe.etag, size: size, lastModified: probe.lastModified)
                .identity(url: locator)
            if let cached = indexes.value(for: identity) { return (identity, cached) }
            if let stored = fromStore(identity, context) { return (identity, stored) }
        }
        let reader = try RemoteReader(url: locator, upstream: upstream)
        let identity = reader.identity
        if let cached = indexes.value(for: identity) { return (identity, cached) }
        return (identity, try parse(reader, identity: identity, context))
    }

    private func parse(_ reader: some RandomAccessReader, identity: FileIdentity, _ context: LoadContext) throws -> MP4Index {
        let index = try MP4Reader.read(reader, locator: identity.path, limits: context.limits,
                                       resolver: Self.dataReferenceResolver(for: identity.path))
        counters.add(ORIGO_COUNTER_INDEX_PARSES, 1)
        cacheIndex(index, identity)
        if let store {
            let key = Self.storeKey(identity, context.limits)
            if let evicted = store.save(index, key: key) {
                counters.add(ORIGO_COUNTER_INDEX_STORE_WRITES, 1)
                if evicted > 0 { counters.add(ORIGO_COUNTER_INDEX_STORE_EVICTIONS, evicted) }
            }
        }
        return index
    }

    private func cacheIndex(_ index: MP4Index, _ identity: FileIdentity) {
        let cost = index.tracks.reduce(1024) { $0 &+ $1.memoryFootprint }
        indexes.insert(index, for: identity, cost: cost)
    }

    /// The index of `identity` from the host's store, put into this process's cache; nil when
    /// there is no store, no file for it, or a file that fails a check (the caller then parses
    /// and writes a new file over it).
    private func fromStore(_ identity: FileIdentity, _ context: LoadContext) -> MP4Index? {
        guard let store else { return nil }
        let resolve = Self.dataReferenceResolver(for: identity.path)
        let outcome = store.load(key: Self.storeKey(identity, context.limits),
                                 maxSamplesPerTrack: context.limits.maxSamplesPerTrack,
                                 maxSamplesPerFile: context.limits.maxSamplesPerFile) { reference in
            guard let reference else { return identity.path }
            return try resolve(reference).locator
        }
        switch outcome {
        case .hit(let index):
            counters.add(ORIGO_COUNTER_INDEX_STORE_HITS, 1)
            cacheIndex(index, identity)
            return index
        case .miss:
            return nil
        case .rejected:
            counters.add(ORIGO_COUNTER_INDEX_STORE_REJECTS, 1)
            return nil
        }
    }

    /// What a stored index is filed under: the source's version and the limits it was read
    /// with (a store shared by servers with different `OrigoMaxIndexSize` never lends an index one
    /// of them would refuse). ``storeGeneration`` changes when the MP4 reader's output does.
    static func storeKey(_ identity: FileIdentity, _ limits: ReadLimits) -> String {
        "origo-index \(storeGeneration)\n\(identity.path)\n\(identity.size)\n\(identity.mtimeSeconds).\(identity.mtimeNanoseconds)\n"
            + "\(identity.etag)\n\(limits.maxIndexBytes)"
    }

    /// Bump when `MP4Reader` reads the same file into a different index: older stored files then
    /// no longer match any key and age out.
    static let storeGeneration = 1

    /// Resolves an index MP4's data references against the index file's locator: a local target
    /// must exist (its size bounds the samples), a remote one is fetched when samples are needed.
    static func dataReferenceResolver(for indexLocator: String) -> DataReferenceResolver {
        { reference in
            guard let target = Locator.resolve(reference, against: indexLocator) else {
                throw ISOBMFFError.unsupported("data reference \(Sanitized.text(reference)) of "
                    + "\(RemoteURL.withoutQuery(indexLocator)) cannot be resolved")
            }
            if RemoteURL.isRemote(target) { return ResolvedDataReference(locator: target, size: nil) }
            return ResolvedDataReference(locator: target, size: try LocalFile.identity(of: target).size)
        }
    }

    /// Local files an index MP4's tracks point at: part of what a presentation is built from, so
    /// a replaced media file is noticed like a replaced manifest.
    static func referencedFiles(_ index: MP4Index, of identity: FileIdentity) throws -> [FileIdentity] {
        var out: [FileIdentity] = []
        for track in index.tracks where track.dataSource != identity.path && !RemoteURL.isRemote(track.dataSource) {
            let file = try LocalFile.identity(of: track.dataSource)
            if !out.contains(file) { out.append(file) }
        }
        return out
    }

    private func loadMediaFile(_ locator: String, _ context: LoadContext) throws -> LoadedPresentation {
        let (identity, index) = try index(locator, context)
        let tracks = index.tracks.filter(Self.isServable).map { track in
            PresentationTrack(track: track, name: Self.defaultName(track.kind, track.language),
                              bitrate: max(track.averageBitrate, 1), language: track.language)
        }
        guard !tracks.isEmpty else { throw EngineError.notFound("no playable tracks in \(RemoteURL.withoutQuery(locator))") }
        let referenced = try Self.referencedFiles(index, of: identity)
        let sources = [identity] + referenced
        return LoadedPresentation(manifest: identity, sources: sources,
                                  presentation: Presentation(tracks: Self.uniqueTokens(cutMP4TextTracks(tracks, sources: sources, context))),
                                  loadedAt: context.now, indexFiles: referenced.isEmpty ? [] : [identity.path])
    }

    private func loadServerManifest(_ identity: FileIdentity, bytes: [UInt8], base: SourceBase,
                                    _ context: LoadContext) throws -> LoadedPresentation {
        let manifest = try ServerManifest.parse(bytes)
        var sources: [FileIdentity] = []
        var indexFiles: Set<String> = []
        var tracks: [PresentationTrack] = []
        var indexes: [String: MP4Index] = [:]
        // Entries without a trackID take the next unused track of their kind in their file.
        var used: [String: Set<UInt32>] = [:]
        // Sidecar text tracks wait for the media tracks: they are cut on the reference track.
        var sidecarEntries: [(position: Int, cues: [Cue], entry: ManifestTrack)] = []
        for entry in manifest.tracks {
            let path = try Self.resolve(entry.src, base: base)
            if entry.kind == .textstream, let format = SidecarFormat(path: path) {
                let (fileIdentity, cues) = try sidecarCues(path, format: format, context)
                if !sources.contains(fileIdentity) { sources.append(fileIdentity) }
                sidecarEntries.append((tracks.count + sidecarEntries.count, cues, entry))
                continue
            }
            let index: MP4Index
            if let known = indexes[path] {
                index = known
            } else {
                let (fileIdentity, loaded) = try self.index(path, context)
                let referenced = try Self.referencedFiles(loaded, of: fileIdentity)
                if !referenced.isEmpty { indexFiles.insert(fileIdentity.path) }
                for file in [fileIdentity] + referenced where !sources.contains(file) {
                    sources.append(file)
                }
                indexes[path] = loaded
                index = loaded
            }
            let kind: TrackKind = switch entry.kind {
            case .video: .video
            case .audio: .audio
            case .textstream: .text
            }
            let candidates = index.tracks.filter { $0.kind == kind }
            let chosen: Track?
            if let id = entry.trackID {
                chosen = candidates.first { $0.trackID == id }
            } else {
                chosen = candidates.first { !(used[path]?.contains($0.trackID) ?? false) }
            }
            guard let track = chosen else {
                throw EngineError.serverManifest("server manifest names a \(entry.kind.rawValue) track"
                    + (entry.trackID.map { " with trackID \($0)" } ?? "") + " that \(entry.src) does not have")
            }
            guard Self.isServable(track) else {
                throw EngineError.notImplemented("track \(track.trackID) of \(entry.src): unsupported codec "
                    + Sanitized.text(track.sampleEntryType, limit: 8))
            }
            used[path, default: []].insert(track.trackID)
            let language = entry.systemLanguage ?? track.language
            tracks.append(PresentationTrack(
                track: track, name: entry.trackName ?? Self.defaultName(kind, language),
                bitrate: entry.systemBitrate ?? max(track.averageBitrate, 1), language: language))
        }
        tracks = cutMP4TextTracks(tracks, sources: sources, context)
        let media = tracks.map(\.track)
        for (position, cues, entry) in sidecarEntries {
            let language = entry.systemLanguage ?? "und"
            let name = entry.trackName ?? Self.defaultName(.text, language)
            let track = try Self.sidecarTrack(cues: cues, language: language, name: entry.src, tracks: media)
            tracks.insert(PresentationTrack(track: track, name: name, bitrate: entry.systemBitrate ?? 1000,
                                            language: language), at: min(position, tracks.count))
        }
        var keys: CPIX? = nil
        if let name = manifest.options["cpix"] {
            let (fileIdentity, document) = try keyDocument(try Self.resolve(name, base: base), context)
            sources.append(fileIdentity)  // a changed document makes a new presentation
            keys = document
        }
        return LoadedPresentation(manifest: identity, sources: sources,
                                  presentation: Presentation(tracks: Self.uniqueTokens(tracks), options: manifest.options),
                                  loadedAt: context.now, indexFiles: indexFiles, keys: keys)
    }

    /// A small upstream object read whole (a sidecar file, a key document), at most `limit` bytes,
    /// with an identity that changes with its bytes (a storage's ETag may not).
    static func remoteWhole(_ locator: String, limit: Int, what: String, _ context: LoadContext) throws -> (FileIdentity, [UInt8]) {
        guard let upstream = context.upstream else { throw UpstreamError(.notConfigured, url: locator) }
        let answer = try upstream.fetchChecked(locator, offset: 0, length: 0)
        guard answer.body.count <= limit else {
            throw UpstreamError(.tooLarge, url: locator, detail: "\(what) larger than \(limit) bytes")
        }
        var hash = FNV1a()
        hash.add(answer.body)
        let identity = FileIdentity(path: locator, size: UInt64(answer.body.count), mtimeSeconds: answer.lastModified,
                                    mtimeNanoseconds: 0, etag: (answer.etag ?? "") + "|" + hash.etag)
        return (identity, answer.body)
    }

    /// The CPIX document at `locator` (the server manifest's `cpix` option), read whole like a
    /// server manifest (at most ``CPIX/maxBytes``), from local disk or through the storage path.
    private func keyDocument(_ locator: String, _ context: LoadContext) throws -> (FileIdentity, CPIX) {
        let identity: FileIdentity
        let bytes: [UInt8]
        if RemoteURL.isRemote(locator) {
            (identity, bytes) = try Self.remoteWhole(locator, limit: CPIX.maxBytes, what: "CPIX document", context)
        } else {
            identity = try LocalFile.identity(of: locator)
            bytes = try LocalFile.contents(of: identity.path, limit: CPIX.maxBytes)
        }
        do {
            return (identity, try CPIX(parsing: bytes))
        } catch {
            throw EngineError(httpStatus: 400, logReason: "server manifest option cpix: \(error.reason)")
        }
    }

    /// Audio and video need a codec the writers understand (an unknown sample entry, or an `avc1`
    /// without `avcC`, would give players segments they cannot decode); text is carried as is.
    static func isServable(_ track: Track) -> Bool {
        if case .other = track.codec { return track.kind == .text }
        return true
    }

    /// `video`, `audio_eng`, `textstream_fra`: the reference origin's track names.
    static func defaultName(_ kind: TrackKind, _ language: String) -> String {
        let base = kind == .text ? "textstream" : kind.rawValue
        return Language.isUndetermined(language) ? base : base + "_" + language
    }

    /// Makes every `name=bitrate` token unique by raising later duplicates' bitrates by 1 (from
    /// `Int.max`, a `systemBitrate` the server manifest may state, on from 0 instead of overflowing).
    static func uniqueTokens(_ tracks: [PresentationTrack]) -> [PresentationTrack] {
        var seen = Set<String>()
        return tracks.map { t in
            var t = t
            while seen.contains(t.token) { t.bitrate = t.bitrate < Int.max ? t.bitrate + 1 : 0 }
            seen.insert(t.token)
            return t
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    /// Resolves a server manifest's `src`: absolute http(s) URLs as they are; otherwise relative to
    /// the manifest's directory (local) or URL (remote).
    static func resolve(_ src: String, base: SourceBase) throws -> String {
        if RemoteURL.isRemote(src) {
            guard let url = RemoteURL.resolve(src, against: src) else {
                throw EngineError.serverManifest("cannot resolve src \(Sanitized.text(src))")
            }
            return url
        }
        switch base {
        case .local(let directory):
            return try resolve(src, relativeTo: directory)
        case .remote(let manifestURL):
            guard src.lowercased().hasPrefix("s3://") == false, let url = RemoteURL.resolve(src, against: manifestURL) else {
                throw EngineError.serverManifest("cannot resolve src \(Sanitized.text(src)) against the manifest URL")
            }
            return url
        }
    }

    /// Resolves a local server manifest's `src` against its directory.
    static func resolve(_ src: String, relativeTo directory: String) throws -> String {
        let lower = src.lowercased()
        if lower.hasPrefix("s3://") {
            throw EngineError.notImplemented("remote source \(src) needs S3 support, not supported yet")
        }
        let decoded = src.hasPrefix("file://") ? String(src.dropFirst(7)) : src
        guard !decoded.isEmpty, !decoded.contains("\0") else { throw EngineError.serverManifest("empty src in server manifest") }
        return decoded.hasPrefix("/") ? decoded : directory + "/" + decoded
    }
}
