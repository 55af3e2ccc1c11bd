import ByteIO
import DASH
import HDS
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

    static let defaultIndexCacheBytes: UInt64 = 512 << 20

    let loader: PresentationLoader

    /// Buffers for output that is copied (TS segments and their PES scratch), reused across
    /// requests. Bounded: about one per worker thread (`ThreadsPerChild` is 64 in the recommended
    /// pool) and 64 MiB in all (a 4-second TS segment is about 1.3 MB at 2.5 Mbit/s).
    public let buffers = ByteBufferPool(maxBuffers: 128, maxRetainedBytes: 64 << 20)

    public convenience init() {
        self.init(loader: PresentationLoader(indexCacheBytes: Int(Self.defaultIndexCacheBytes),
                                             presentationCacheBytes: Int(Self.defaultIndexCacheBytes / 2)))
    }

    init(loader: PresentationLoader) {
        self.loader = loader
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

    /// Answers one request. Never throws: every error becomes a status and a log line.
    public func handle(_ request: EngineRequest) -> EngineResponse {
        MappedFile.sweepIfDue()
        do {
            return try respond(request)
        } catch let error as UpstreamError where error.code == .changed {
            // The cached index no longer describes the object: rebuild it and answer once more.
            loader.invalidate(manifestPath: request.manifestPath, query: request.query, upstream: request.upstream)
            do {
                return try respond(request)
            } catch {
                return Self.errorResponse(error)
            }
        } catch {
            return Self.errorResponse(error)
        }
    }

    private static func errorResponse(_ error: any Error) -> EngineResponse {
        guard let error = error as? any StatusCodedError else { return .error(500, "unexpected error: \(error)") }
        return .error(error.httpStatus, error.logReason)
    }

    /// The presentation is taken from the cache once the server manifest and index files are
    /// unchanged; the files samples are read from are checked by ``answer`` for the tracks the
    /// request reads. Should that check, or anything else, fail while another file of the
    /// presentation has changed, the request starts over on the presentation as it is now.
    private func respond(_ request: EngineRequest) throws -> EngineResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            throw EngineError.methodNotAllowed(Sanitized.text(request.method, limit: 20))
        }
        let query = try QueryOptions(raw: request.query)
        // The consumed options (filter, max_bitrate, subclip) are checked before anything is loaded.
        let selection = try Selection(query: query)
        func load(checkingAll: Bool) throws -> LoadedPresentation {
            try loader.load(manifestPath: request.manifestPath, query: request.query, upstream: request.upstream,
                            maxIndexBytes: request.maxIndexBytes, checkingSampleFiles: checkingAll)
        }
        let cached = try load(checkingAll: false)
        do {
            return try answer(request, query: query, selection: selection, loaded: cached, checkingReads: true)
        } catch {
            // Another file changed (a stale track name or segment number may be why it failed).
            let current = try load(checkingAll: true)
            guard current !== cached else { throw error }
            return try answer(request, query: query, selection: selection, loaded: current, checkingReads: false)
        }
    }

    /// A sample file a request reads has changed since its presentation was loaded (answered as
    /// such only if it changes back before the presentation is reloaded).
    private struct SampleFileChanged: StatusCodedError {
        var httpStatus: Int { 503 }
        var logReason: String { "a media file changed while the request was answered" }
    }

    private func answer(_ request: EngineRequest, query: QueryOptions, selection: Selection, loaded: LoadedPresentation,
                        checkingReads: Bool) throws -> EngineResponse {
        let media = MediaBytes(upstream: request.upstream, versions: loaded.versions, localFiles: loaded.localFiles,
                               mapsFiles: request.mapFiles)
        // The one selection step: every format below sees only the selected presentation.
        let view = try loaded.view(for: selection)
        let presentation = view.presentation
        let route = try VirtualPath.parse(request.virtualPath, trackNames: view.trackNames)
        if checkingReads {
            let read = try route.tokensRead.map { try Self.tracks($0, in: presentation).map(\.track.dataSource) }
            guard try loader.unchanged(loaded, reading: read) else { throw SampleFileChanged() }
        }
        let formatOptions = PlayoutOptions.formatOptions(query)
        let options = formatOptions.isEmpty ? try view.defaultOptions.get()
            : try PlayoutOptions(query: query, presentation: presentation)
        // Manifests are built once per presentation view, virtual path and format options, as
        // templates whose child URLs leave the query open: requests that differ only in what the
        // origin does not consume (session ids) share one build. A changed file makes a new
        // LoadedPresentation and so drops them.
        let base = Self.baseName(request.manifestPath)
        let urls = route.isManifest ? ChildURL.template(base: base) : ChildURL(base: base, query: query.raw)
        let manifestKey = route.isManifest ? request.virtualPath + "?" + formatOptions : nil
        if let key = manifestKey, let cached = view.manifests.value(for: key) { return cached.response(query: query.raw) }

        var response: EngineResponse
        switch route {
        case .hlsMaster:
            let cut = try view.cut(options.hlsCut)
            let writer = hlsWriter(presentation, cut: cut, options: options, urls: urls)
            response = manifest(writer.master(), type: "application/vnd.apple.mpegurl")
        case .hlsMediaPlaylist(let tokens):
            let cut = try view.cut(options.hlsCut)
            let writer = hlsWriter(presentation, cut: cut, options: options, urls: urls)
            let tracks = try Self.tracks(tokens, in: presentation)
            if tracks.count == 1, tracks[0].kind == .text {
                guard writer.subtitleTracks.contains(where: { $0.token == tracks[0].token }) else {
                    throw EngineError.notFound("no HLS subtitles for \(tokens[0])")
                }
                response = manifest(writer.subtitlePlaylist(track: tracks[0]), type: "application/vnd.apple.mpegurl")
                break
            }
            guard writer.layout.offers(tokens) || Self.anyHLSLayoutOffers(tokens, presentation) else {
                throw EngineError.notFound("no HLS playlist for \(tokens.joined(separator: "-"))")
            }
            response = manifest(writer.media(tracks: tracks), type: "application/vnd.apple.mpegurl")
        case .hlsIFramePlaylist(let token):
            let cut = try view.cut(options.hlsCut)
            let writer = hlsWriter(presentation, cut: cut, options: options, urls: urls)
            let track = try Self.videoTrack(token, in: presentation)
            response = manifest(writer.iFrames(track: track), type: "application/vnd.apple.mpegurl")
        case .hlsIFrameTSSegment(let token, let number):
            let cut = try view.cut(options.hlsCut)
            let track = try Self.videoTrack(token, in: presentation)
            let keyFrames = KeyFrames(track: track.track, ranges: cut.ranges[track.token] ?? [])
            let sample = try Self.keyFrame(number, keyFrames, token: token)
            let inputs = [TSInput(track: track.track, samples: sample..<(sample + 1))]
            let continuity = view.iFrameContinuity(before: number, track: track, keyFrames: keyFrames, key: options.hlsCut)
            response = try transportStream(inputs, continuity: continuity, media: media)
        case .hlsIFrameFMP4Segment(let token, let number):
            let cut = try view.cut(options.hlsCut)
            let track = try Self.videoTrack(token, in: presentation)
            let keyFrames = KeyFrames(track: track.track, ranges: cut.ranges[track.token] ?? [])
            let sample = try Self.keyFrame(number, keyFrames, token: token)
            let pieces = try FragmentWriter.mediaSegment(track: track.track, samples: sample..<(sample + 1),
                                                         sequenceNumber: UInt32(clamping: number))
            response = segment(try media.materialize(pieces), type: Self.mp4Type(track.kind))
        case .hlsTSSegment(let tokens, let number):
            let cut = try view.cut(options.hlsCut)
            let tracks = try Self.tracks(tokens, in: presentation)
            guard tracks.count <= 2, Set(tracks.map(\.kind)).count == tracks.count else {
                throw EngineError.notFound("no TS segment muxes \(tokens.joined(separator: "-"))")
            }
            let index = try Self.segmentIndex(number, cut)
            let inputs = tracks.map { TSInput(track: $0.track, samples: cut.ranges[$0.token]?[index] ?? 0..<0) }
            guard inputs.contains(where: { !$0.samples.isEmpty }) else {
                throw EngineError.notFound("segment \(number) of \(tokens.joined(separator: "-")) is empty")
            }
            let continuity = view.continuity(before: index, tracks: tracks, key: options.hlsCut, cut: cut)
            response = try transportStream(inputs, continuity: continuity, media: media)
        case .hlsInit(let token), .dashInit(let token):
            let track = try Self.track(token, in: presentation)
            response = segment([.bytes(FragmentWriter.initSegment(for: track.track))], type: Self.mp4Type(track.kind))
        case .hlsFMP4Segment(let token, let number):
            let cut = try view.cut(options.hlsCut)
            let track = try Self.track(token, in: presentation)
            let index = try Self.segmentIndex(number, cut)
            response = try fragment(track, cut: cut, index: index, number: number, media: media)
        case .hlsWebVTTSegment(let token, let number):
            let cut = try view.cut(options.hlsCut)
            let writer = hlsWriter(presentation, cut: cut, options: options, urls: urls)
            let track = try Self.track(token, in: presentation)
            guard writer.subtitleTracks.contains(where: { $0.token == track.token }) else {
                throw EngineError.notFound("\(token) is not a subtitle track")
            }
            response = try webVTTSegment(track, index: try Self.segmentIndex(number, cut), writer: writer,
                                         container: options.hlsContainer, view: view, media: media)
        case .dashManifest:
            let cut = try view.cut(options.dashCut)
            let writer = MPDWriter(presentation: presentation, segmentation: cut.segmentation, urls: urls,
                                   addressing: options.dashAddressing, stats: cut.stats)
            response = manifest(writer.mpd(), type: "application/dash+xml")
        case .dashSegmentAtTime(let token, let time):
            let cut = try view.cut(options.dashCut)
            let track = try Self.track(token, in: presentation)
            guard let ranges = cut.ranges[track.token],
                  let index = Self.segment(startingAt: time, ranges: ranges, track: track.track) else {
                throw EngineError.notFound("no segment of \(token) starts at \(time)")
            }
            response = try fragment(track, cut: cut, index: index, number: index + 1, media: media)
        case .dashSegmentNumber(let token, let number):
            let cut = try view.cut(options.dashCut)
            let track = try Self.track(token, in: presentation)
            let index = try Self.segmentIndex(number, cut)
            response = try fragment(track, cut: cut, index: index, number: number, media: media)
        case .smoothManifest:
            let cut = try view.cut(options.smoothCut)
            let writer = SmoothManifestWriter(presentation: presentation, ranges: cut.ranges, urls: urls)
            response = manifest(writer.manifest(), type: "text/xml")
        case .smoothFragment(let bitrate, let name, let time):
            let cut = try view.cut(options.smoothCut)
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
                                                  view: view, media: media)
                break
            }
            let pieces = try FragmentWriter.mediaSegment(track: track.track, samples: ranges[index],
                                                         sequenceNumber: UInt32(clamping: index + 1),
                                                         options: SmoothTimeline.fragmentOptions(offset: offset))
            response = segment(try media.materialize(pieces), type: Self.mp4Type(track.kind))
        case .hdsManifest:
            let cut = try view.cut(options.hdsCut)
            let writer = F4MWriter(presentation: presentation,
                                   timeline: HDSTimeline(presentation: presentation, segmentation: cut.segmentation),
                                   urls: urls)
            guard !writer.layout.media.isEmpty else {
                throw EngineError.notFound("no track HDS can carry (H.264 video or AAC audio)")
            }
            response = manifest(writer.manifest(), type: "application/f4m+xml")
        case .hdsFragment(let tokens, let hdsSegment, let number):
            guard hdsSegment == 1 else { throw EngineError.notFound("HDS segment \(hdsSegment) does not exist (only Seg1)") }
            let cut = try view.cut(options.hdsCut)
            let tracks = try Self.tracks(tokens, in: presentation)
            guard HDSLayout.accepts(tracks) else {
                throw EngineError.notFound("no HDS fragment muxes \(tokens.joined(separator: "-"))")
            }
            let index = try Self.segmentIndex(number, cut)
            let timeline = HDSTimeline(presentation: presentation, segmentation: cut.segmentation)
            let video = tracks.first { $0.kind == .video }
            let inputs = tracks.map { t -> F4FWriter.Input in
                let ranges = cut.ranges[t.token] ?? []
                if t.kind == .audio, let video, let videoRanges = cut.ranges[video.token] {
                    return F4FWriter.Input(track: t.track, samples: F4FWriter.audioSamples(
                        t.track, ranges: ranges, muxedWith: video.track, ranges: videoRanges, index: index, timeline: timeline))
                }
                return F4FWriter.Input(track: t.track, samples: index < ranges.count ? ranges[index] : 0..<0)
            }
            let pieces = try F4FWriter.fragment(inputs, number: number, timeline: timeline)
            response = segment(try media.materialize(pieces), type: "video/f4f")
        }
        response.lastModified = loaded.manifest.mtimeSeconds
        // Manifests: kept as a template; their ETag hashes the bytes plus the query (ManifestTemplate).
        if let key = manifestKey, case .bytes(let bytes)? = response.body.first, response.body.count == 1 {
            let type = response.contentType ?? ""
            let template = ManifestTemplate(bytes: bytes, contentType: type, isXML: type.hasSuffix("xml"),
                                            lastModified: response.lastModified)
            view.manifests.insert(template, for: key, cost: template.cost &+ key.utf8.count)
            return template.response(query: query.raw)
        }
        if response.etag == nil {
            // Segments: identified by what they are cut from, not hashed byte by byte.
            var hash = loaded.identityHash
            hash.add(request.virtualPath)
            hash.add(query.raw)
            response.etag = hash.etag
        }
        return response
    }

    private func manifest(_ text: String, type: String) -> EngineResponse {
        manifest(Array(text.utf8), type: type)
    }

    private func manifest(_ bytes: [UInt8], type: String) -> EngineResponse {
        EngineResponse(status: 200, contentType: type, etag: nil, lastModified: 0, logReason: nil, body: [.bytes(bytes)])
    }

    private func segment(_ body: [BodyPiece], type: String) -> EngineResponse {
        EngineResponse(status: 200, contentType: type, etag: nil, lastModified: 0, logReason: nil, body: body)
    }

    /// A TS segment, written into a buffer from ``buffers`` that ``recycle(_:)`` gives back once
    /// the response has been sent.
    private func transportStream(_ inputs: [TSInput], continuity: TSContinuity, media: MediaBytes) throws -> EngineResponse {
        // Upstream samples: one coalesced ranged read per track before muxing.
        var reads = try media.prefetch(inputs.map { ($0.track, $0.samples) })
        MappedReadGuard.begin()
        let built = Result {
            try TransportStreamWriter.segment(inputs: inputs, continuity: continuity, buffers: buffers) {
                locator, offset, count in try media.run(locator, at: offset, count: count, reads: &reads)
            }
        }
        do {
            // A mapped file that shrank while it was read leaves zeros in the segment: drop it.
            try MappedReadGuard.end(reading: reads.mapped.values.compactMap { $0 })
        } catch {
            if case .success(let bytes) = built { buffers.give(bytes) }
            throw error
        }
        let bytes = try built.get()
        var response = segment([.bytes(bytes)], type: "video/MP2T")
        response.bodyIsPooled = true
        return response
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

    private func hlsWriter(_ presentation: Presentation, cut: Cut, options: PlayoutOptions, urls: ChildURL) -> HLSPlaylistWriter {
        HLSPlaylistWriter(presentation: presentation, segmentation: cut.segmentation, container: options.hlsContainer,
                          options: options.hls, urls: urls, stats: cut.stats)
    }

    /// Whether any container or client version offers a media playlist of `tokens` (a playlist URL
    /// stays valid when the server manifest's options change under a playing client).
    static func anyHLSLayoutOffers(_ tokens: [String], _ presentation: Presentation) -> Bool {
        let layouts = [
            HLSLayout(presentation: presentation, container: .transportStream, options: HLSOptions(clientVersion: 1)),
            HLSLayout(presentation: presentation, container: .transportStream, options: HLSOptions(clientVersion: 4)),
            HLSLayout(presentation: presentation, container: .fragmentedMP4),
        ]
        return layouts.contains { $0.offers(tokens) }
    }

    static func videoTrack(_ token: String, in presentation: Presentation) throws -> PresentationTrack {
        let track = try Self.track(token, in: presentation)
        guard track.kind == .video else { throw EngineError.notFound("no I-frame playlist for \(token): not a video track") }
        return track
    }

    static func keyFrame(_ number: Int, _ keyFrames: KeyFrames, token: String) throws -> Int {
        guard let sample = keyFrames.sample(number: number) else {
            throw EngineError.notFound("key frame \(number) of \(token) does not exist (1...\(keyFrames.count))")
        }
        return sample
    }

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
        return Segmentation.segment(startingAt: time, ranges: ranges) { first in
            first < track.samples.count ? track.presentationTime(of: first) &+ offset : Int64.max
        }
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
