import ByteIO
import DASH
import HLS
import ISOBMFF
import MPEGTS
import MediaModel
import PlayerURL
import Smooth
import Storage

/// The engine: one instance per process, shared by all worker threads.
public final class Engine: Sendable {
    public static let shared = Engine()

    let loader = PresentationLoader(indexCacheBytes: 512 << 20, presentationCacheBytes: 256 << 20)

    public init() {}

    /// Answers one request. Never throws: every error becomes a status and a log line.
    public func handle(_ request: EngineRequest) -> EngineResponse {
        do {
            return try respond(request)
        } catch let error as UpstreamError where error.code == .changed {
            // The cached index no longer describes the object: rebuild on the next request.
            loader.invalidate(manifestPath: request.manifestPath, query: request.query, upstream: request.upstream)
            return .error(error.httpStatus, error.logReason)
        } catch let error as any StatusCodedError {
            return .error(error.httpStatus, error.logReason)
        } catch {
            return .error(500, "unexpected error: \(error)")
        }
    }

    private func respond(_ request: EngineRequest) throws -> EngineResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            throw EngineError.methodNotAllowed(Sanitized.text(request.method, limit: 20))
        }
        let query = try QueryOptions(raw: request.query)
        let loaded = try loader.load(manifestPath: request.manifestPath, query: request.query,
                                     upstream: request.upstream, maxIndexBytes: request.maxIndexBytes)
        let versions = Dictionary(loaded.sources.map { ($0.path, $0.etag) }, uniquingKeysWith: { a, _ in a })
        let media = MediaBytes(upstream: request.upstream, versions: versions)
        let presentation = loaded.presentation
        let route = try VirtualPath.parse(request.virtualPath, trackNames: Set(presentation.tracks.map(\.name)))
        let options = try PlayoutOptions(query: query, presentation: presentation)
        let urls = ChildURL(base: Self.baseName(request.manifestPath), query: query.raw)
        // Manifests are built once per presentation version and query; a changed file makes a new
        // LoadedPresentation and so drops them.
        let manifestKey = route.isManifest ? request.virtualPath + "?" + query.raw : nil
        if let key = manifestKey, let cached = loaded.manifests.value(for: key) { return cached }

        var response: EngineResponse
        switch route {
        case .hlsMaster:
            let cut = try loaded.cut(options.hlsCut)
            let writer = HLSPlaylistWriter(presentation: presentation, segmentation: cut.segmentation,
                                           container: options.hlsContainer, urls: urls, stats: cut.stats)
            response = manifest(writer.master(), type: "application/vnd.apple.mpegurl")
        case .hlsMediaPlaylist(let tokens):
            let cut = try loaded.cut(options.hlsCut)
            let writer = HLSPlaylistWriter(presentation: presentation, segmentation: cut.segmentation,
                                           container: options.hlsContainer, urls: urls, stats: cut.stats)
            let tracks = try Self.tracks(tokens, in: presentation)
            if tracks.count == 1, tracks[0].kind == .text {
                guard writer.subtitleTracks.contains(where: { $0.token == tracks[0].token }) else {
                    throw EngineError.notFound("no HLS subtitles for \(tokens[0])")
                }
                response = manifest(writer.subtitlePlaylist(track: tracks[0]), type: "application/vnd.apple.mpegurl")
                break
            }
            guard writer.layout.offers(tokens) || HLSLayout(presentation: presentation, container: .transportStream).offers(tokens)
                    || HLSLayout(presentation: presentation, container: .fragmentedMP4).offers(tokens) else {
                throw EngineError.notFound("no HLS playlist for \(tokens.joined(separator: "-"))")
            }
            response = manifest(writer.media(tracks: tracks), type: "application/vnd.apple.mpegurl")
        case .hlsTSSegment(let tokens, let number):
            let cut = try loaded.cut(options.hlsCut)
            let tracks = try Self.tracks(tokens, in: presentation)
            guard tracks.count <= 2, Set(tracks.map(\.kind)).count == tracks.count else {
                throw EngineError.notFound("no TS segment muxes \(tokens.joined(separator: "-"))")
            }
            let index = try Self.segmentIndex(number, cut)
            let inputs = tracks.map { TSInput(track: $0.track, samples: cut.ranges[$0.token]?[index] ?? 0..<0) }
            guard inputs.contains(where: { !$0.samples.isEmpty }) else {
                throw EngineError.notFound("segment \(number) of \(tokens.joined(separator: "-")) is empty")
            }
            let continuity = loaded.continuity(before: index, tracks: tracks, key: options.hlsCut, cut: cut)
            // Upstream samples: one coalesced ranged read per track before muxing.
            var reads = try media.prefetch(inputs.map { ($0.track, $0.samples) })
            let bytes = try TransportStreamWriter.segment(inputs: inputs, continuity: continuity) { locator, offset, count in
                try media.read(locator, at: offset, count: count, reads: &reads)
            }
            response = segment([.bytes(bytes)], type: "video/MP2T")
        case .hlsInit(let token), .dashInit(let token):
            let track = try Self.track(token, in: presentation)
            response = segment([.bytes(FragmentWriter.initSegment(for: track.track))], type: Self.mp4Type(track.kind))
        case .hlsFMP4Segment(let token, let number):
            let cut = try loaded.cut(options.hlsCut)
            let track = try Self.track(token, in: presentation)
            let index = try Self.segmentIndex(number, cut)
            response = try fragment(track, cut: cut, index: index, number: number, media: media)
        case .hlsWebVTTSegment(let token, let number):
            let cut = try loaded.cut(options.hlsCut)
            let writer = HLSPlaylistWriter(presentation: presentation, segmentation: cut.segmentation,
                                           container: options.hlsContainer, urls: urls, stats: cut.stats)
            let track = try Self.track(token, in: presentation)
            guard writer.subtitleTracks.contains(where: { $0.token == track.token }) else {
                throw EngineError.notFound("\(token) is not a subtitle track")
            }
            response = try webVTTSegment(track, index: try Self.segmentIndex(number, cut), writer: writer,
                                         container: options.hlsContainer, loaded: loaded, media: media)
        case .dashManifest:
            let cut = try loaded.cut(options.dashCut)
            let writer = MPDWriter(presentation: presentation, segmentation: cut.segmentation, urls: urls,
                                   addressing: options.dashAddressing, stats: cut.stats)
            response = manifest(writer.mpd(), type: "application/dash+xml")
        case .dashSegmentAtTime(let token, let time):
            let cut = try loaded.cut(options.dashCut)
            let track = try Self.track(token, in: presentation)
            guard let ranges = cut.ranges[track.token],
                  let index = Self.segment(startingAt: time, ranges: ranges, track: track.track) else {
                throw EngineError.notFound("no segment of \(token) starts at \(time)")
            }
            response = try fragment(track, cut: cut, index: index, number: index + 1, media: media)
        case .dashSegmentNumber(let token, let number):
            let cut = try loaded.cut(options.dashCut)
            let track = try Self.track(token, in: presentation)
            let index = try Self.segmentIndex(number, cut)
            response = try fragment(track, cut: cut, index: index, number: number, media: media)
        case .smoothManifest:
            let cut = try loaded.cut(options.smoothCut)
            let writer = SmoothManifestWriter(presentation: presentation, ranges: cut.ranges, urls: urls)
            response = manifest(writer.manifest(), type: "text/xml")
        case .smoothFragment(let bitrate, let name, let time):
            let cut = try loaded.cut(options.smoothCut)
            let token = "\(name)=\(bitrate)"
            guard let track = presentation.track(token: token), SmoothCodec(track: track.track) != nil else {
                throw EngineError.notFound("no Smooth quality level \(bitrate) of \(Sanitized.text(name))")
            }
            let offset = SmoothTimeline.offset(for: presentation)
            guard let ranges = cut.ranges[track.token],
                  let index = SmoothTimeline.segment(startingAt: time, track: track.track, ranges: ranges,
                                                     offset: offset) else {
                throw EngineError.notFound("no fragment of \(token) starts at \(time)")
            }
            if track.kind == .text {
                response = try smoothTextFragment(track, ranges: ranges, index: index, offset: offset,
                                                  loaded: loaded, media: media)
                break
            }
            let pieces = try FragmentWriter.mediaSegment(track: track.track, samples: ranges[index],
                                                         sequenceNumber: UInt32(clamping: index + 1),
                                                         options: SmoothTimeline.fragmentOptions(offset: offset))
            response = segment(try media.materialize(pieces), type: Self.mp4Type(track.kind))
        }
        response.lastModified = loaded.manifest.mtimeSeconds
        if response.etag == nil {
            // Segments: identified by what they are cut from, not hashed byte by byte.
            var hash = FNV1a()
            for source in [loaded.manifest] + loaded.sources {
                hash.add(source.path)
                hash.add(Int64(clamping: source.size))
                hash.add(source.mtimeSeconds)
                hash.add(source.mtimeNanoseconds)
                hash.add(source.etag)
            }
            hash.add(request.virtualPath)
            hash.add(query.raw)
            response.etag = hash.etag
        }
        if let key = manifestKey {
            loaded.manifests.insert(response, for: key, cost: Int(clamping: response.body.totalLength) + key.utf8.count)
        }
        return response
    }

    private func manifest(_ text: String, type: String) -> EngineResponse {
        manifest(Array(text.utf8), type: type)
    }

    private func manifest(_ bytes: [UInt8], type: String) -> EngineResponse {
        var hash = FNV1a()
        hash.add(bytes)
        return EngineResponse(status: 200, contentType: type, etag: hash.etag, lastModified: 0, logReason: nil, body: [.bytes(bytes)])
    }

    private func segment(_ body: [BodyPiece], type: String) -> EngineResponse {
        EngineResponse(status: 200, contentType: type, etag: nil, lastModified: 0, logReason: nil, body: body)
    }

    private func fragment(_ track: PresentationTrack, cut: Cut, index: Int, number: Int, media: MediaBytes) throws -> EngineResponse {
        guard let range = cut.ranges[track.token]?[index], !range.isEmpty else {
            throw EngineError.notFound("segment \(number) of \(track.token) is empty")
        }
        let pieces = try FragmentWriter.mediaSegment(track: track.track, samples: range,
                                                     sequenceNumber: UInt32(clamping: number))
        return segment(try media.materialize(pieces), type: Self.mp4Type(track.kind))
    }

    // MARK: - Helpers

    static func baseName(_ path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = file.lastIndex(of: "."), dot != file.startIndex else { return file }
        return String(file[..<dot])
    }

    static func mp4Type(_ kind: TrackKind) -> String {
        switch kind {
        case .video: "video/mp4"
        case .audio: "audio/mp4"
        case .text: "application/mp4"
        }
    }

    static func track(_ token: String, in presentation: Presentation) throws -> PresentationTrack {
        guard let t = presentation.track(token: token) else {
            throw PlayerURLError.unknownTrack(token)
        }
        return t
    }

    static func tracks(_ tokens: [String], in presentation: Presentation) throws -> [PresentationTrack] {
        try tokens.map { try track($0, in: presentation) }
    }

    static func segmentIndex(_ number: Int, _ cut: Cut) throws -> Int {
        guard number >= 1, number <= cut.segmentation.count else {
            throw EngineError.notFound("segment \(number) does not exist (1...\(cut.segmentation.count))")
        }
        return number - 1
    }

    /// The segment whose first sample is at media time `time` on the fragment timeline (the `$Time$`
    /// of the MPD: presentation time plus the track's ``FragmentTiming/mediaTimeOffset``), by binary search.
    static func segment(startingAt time: Int64, ranges: [Range<Int>], track: Track) -> Int? {
        let offset = FragmentTiming(track: track).mediaTimeOffset
        func start(_ k: Int) -> Int64 {
            let first = ranges[k].lowerBound
            return first < track.samples.count ? track.presentationTime(of: first) &+ offset : Int64.max
        }
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if start(mid) < time { lo = mid + 1 } else { hi = mid }
        }
        // An empty range shares its start with the next non-empty one (a long text sample).
        while lo < ranges.count, ranges[lo].isEmpty { lo += 1 }
        guard lo < ranges.count, start(lo) == time else { return nil }
        return lo
    }
}

extension PlayerRequest {
    /// Playlists and manifests: small, derived from the index only, worth caching whole.
    var isManifest: Bool {
        switch self {
        case .hlsMaster, .hlsMediaPlaylist, .dashManifest, .smoothManifest: true
        default: false
        }
    }
}
