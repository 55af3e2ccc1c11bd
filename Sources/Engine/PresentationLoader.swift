import ByteIO
import ISOBMFF
import MediaModel
import MPEGTS
import PlayerURL
import ServerManifest
import Storage

/// A loaded presentation plus what it was built from, so a changed file is noticed.
final class LoadedPresentation: @unchecked Sendable {
    let manifest: FileIdentity
    let sources: [FileIdentity]
    let presentation: Presentation
    private let cuts: BoundedCache<CutKey, Cut>
    /// TS continuity counters at the start of every segment, per cut and muxed track combination.
    private let continuities: BoundedCache<String, [TSContinuity]>

    init(manifest: FileIdentity, sources: [FileIdentity], presentation: Presentation) {
        self.manifest = manifest
        self.sources = sources
        self.presentation = presentation
        self.cuts = BoundedCache(capacity: 16)
        self.continuities = BoundedCache(capacity: 1 << 20)
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
            var state = TSContinuity.zero
            for k in 0..<cut.segmentation.count {
                let inputs = tracks.map { TSInput(track: $0.track, samples: cut.ranges[$0.token]?[k] ?? 0..<0) }
                // Unknown sizes (NAL length size other than 4): counters restart at each segment.
                state = TransportStreamWriter.continuityAfter(inputs: inputs, start: state) ?? .zero
                all.append(state)
            }
            continuities.insert(all, for: cacheKey, cost: all.count)
            states = all
        }
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
        var ranges: [String: [Range<Int>]] = [:]
        for t in presentation.tracks { ranges[t.token] = segmentation.sampleRanges(for: t.track) }
        let cut = Cut(segmentation: segmentation, ranges: ranges)
        cuts.insert(cut, for: key, cost: 1)
        return cut
    }

    /// Approximate bytes held, for the cache bound: the sample tables dominate.
    var cost: Int {
        presentation.tracks.reduce(4096) { $0 + $1.track.samples.count * 33 + $1.track.sampleEntry.count }
    }
}

struct CutKey: Hashable, Sendable {
    var minimumLength: FragmentLength?
    var fallbackLength: FragmentLength
}


struct Cut: Sendable {
    let segmentation: Segmentation
    /// Sample ranges per track token, one per segment.
    let ranges: [String: [Range<Int>]]
}

/// Builds presentations from server manifests and media files, with two bounded caches: parsed
/// media indexes per file version, and assembled presentations per server manifest.
final class PresentationLoader: @unchecked Sendable {
    static let maxServerManifestBytes = 4 << 20
    static let defaultMaxIndexBytes: UInt64 = 256 << 20

    private let indexes: BoundedCache<FileIdentity, MP4Index>
    private let presentations: BoundedCache<String, LoadedPresentation>

    init(indexCacheBytes: Int, presentationCacheBytes: Int) {
        indexes = BoundedCache(capacity: indexCacheBytes)
        presentations = BoundedCache(capacity: presentationCacheBytes)
    }

    func load(manifestPath: String, maxIndexBytes: UInt64) throws -> LoadedPresentation {
        let identity = try LocalFile.identity(of: manifestPath)
        if let cached = presentations.value(for: manifestPath), cached.manifest == identity,
           try cached.sources.allSatisfy({ try LocalFile.identity(of: $0.path) == $0 }) {
            return cached
        }
        let limits = Self.limits(maxIndexBytes: maxIndexBytes)
        let loaded: LoadedPresentation
        if isServerManifest(manifestPath) {
            loaded = try loadServerManifest(identity, limits: limits)
        } else {
            loaded = try loadMediaFile(identity, limits: limits)
        }
        presentations.insert(loaded, for: manifestPath, cost: loaded.cost)
        return loaded
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

    private func isServerManifest(_ path: String) -> Bool {
        let lower = path.lowercased()
        return lower.hasSuffix(".ism") || lower.hasSuffix(".isml") || lower.hasSuffix(".smil")
    }

    private func index(_ identity: FileIdentity, limits: ReadLimits) throws -> MP4Index {
        if let cached = indexes.value(for: identity) { return cached }
        let reader = try LocalFileReader(path: identity.path)
        let index = try MP4Reader.read(reader, locator: identity.path, limits: limits)
        let cost = index.tracks.reduce(1024) { $0 + $1.samples.count * 33 + $1.sampleEntry.count }
        indexes.insert(index, for: identity, cost: cost)
        return index
    }

    private func loadMediaFile(_ identity: FileIdentity, limits: ReadLimits) throws -> LoadedPresentation {
        let index = try index(identity, limits: limits)
        let tracks = index.tracks.filter(Self.isServable).map { track in
            PresentationTrack(track: track, name: Self.defaultName(track.kind, track.language),
                              bitrate: max(track.averageBitrate, 1), language: track.language)
        }
        guard !tracks.isEmpty else { throw EngineError.notFound("no playable tracks in \(identity.path)") }
        return LoadedPresentation(manifest: identity, sources: [identity],
                                  presentation: Presentation(tracks: Self.uniqueTokens(tracks)))
    }

    private func loadServerManifest(_ identity: FileIdentity, limits: ReadLimits) throws -> LoadedPresentation {
        let bytes = try LocalFile.contents(of: identity.path, limit: Self.maxServerManifestBytes)
        let manifest = try ServerManifest.parse(bytes)
        let directory = Self.directory(of: identity.path)
        var sources: [FileIdentity] = []
        var tracks: [PresentationTrack] = []
        // Entries without a trackID take the next unused track of their kind in their file.
        var used: [String: Set<UInt32>] = [:]
        for entry in manifest.tracks {
            let path = try Self.resolve(entry.src, relativeTo: directory)
            let fileIdentity = try LocalFile.identity(of: path)
            if !sources.contains(fileIdentity) { sources.append(fileIdentity) }
            let index = try index(fileIdentity, limits: limits)
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
        return LoadedPresentation(manifest: identity, sources: sources,
                                  presentation: Presentation(tracks: Self.uniqueTokens(tracks), options: manifest.options))
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

    /// Makes every `name=bitrate` token unique by raising later duplicates' bitrates by 1.
    static func uniqueTokens(_ tracks: [PresentationTrack]) -> [PresentationTrack] {
        var seen = Set<String>()
        return tracks.map { t in
            var t = t
            while seen.contains(t.token) { t.bitrate += 1 }
            seen.insert(t.token)
            return t
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    /// Resolves a server manifest's `src` against its directory. Remote URLs need remote storage.
    static func resolve(_ src: String, relativeTo directory: String) throws -> String {
        let lower = src.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") || lower.hasPrefix("s3://") {
            throw EngineError.notImplemented("remote source \(src) needs IsmProxyPass/remote storage, not supported yet")
        }
        let decoded = src.hasPrefix("file://") ? String(src.dropFirst(7)) : src
        guard !decoded.isEmpty, !decoded.contains("\0") else { throw EngineError.serverManifest("empty src in server manifest") }
        return decoded.hasPrefix("/") ? decoded : directory + "/" + decoded
    }
}
