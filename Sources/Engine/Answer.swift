import ByteIO
import Encryption
import ISOBMFF
import MPEGTS
import MediaModel
import PlayerURL
import Storage

/// What an output format needs to answer one request: the selected presentation, the playout
/// options, how child URLs are written, and where sample bytes come from. Every format answers
/// from this alone (``HLSAnswer``, ``DASHAnswer``, ``SmoothAnswer``, ``HDSAnswer``); a step that
/// applies to every format (the selection already did; encryption, live windows) belongs here or
/// in ``Engine/answer(_:query:selection:loaded:checkingReads:)``, not in the formats.
struct AnswerContext {
    let view: PresentationView
    let options: PlayoutOptions
    let urls: ChildURL
    let media: MediaBytes
    /// Reused output buffers (TS segments).
    let buffers: ByteBufferPool
    /// The server manifest's encryption settings (already checked against the route).
    var protection = Protection.none

    var presentation: Presentation { view.presentation }

    /// The answer of whichever format `route` belongs to.
    func answer(_ route: PlayerRequest) throws -> EngineResponse {
        if let r = try HLSAnswer.answer(route, self) { return r }
        if let r = try DASHAnswer.answer(route, self) { return r }
        if let r = try SmoothAnswer.answer(route, self) { return r }
        if let r = try HDSAnswer.answer(route, self) { return r }
        throw EngineError.notFound("no output format answers this path")
    }

    // MARK: - Tracks and segments, by the names URLs give them

    func track(_ token: String) throws -> PresentationTrack {
        try Self.track(token, in: presentation)
    }

    static func track(_ token: String, in presentation: Presentation) throws -> PresentationTrack {
        guard let t = presentation.track(token: token) else { throw PlayerURLError.unknownTrack(token) }
        return t
    }

    func tracks(_ tokens: [String]) throws -> [PresentationTrack] {
        try tokens.map { try track($0) }
    }

    func videoTrack(_ token: String) throws -> PresentationTrack {
        let track = try track(token)
        guard track.kind == .video else { throw EngineError.notFound("no I-frame playlist for \(token): not a video track") }
        return track
    }

    static func segmentIndex(_ number: Int, _ cut: Cut) throws -> Int {
        guard number >= 1, number <= cut.segmentation.count else {
            throw EngineError.notFound("segment \(number) does not exist (1...\(cut.segmentation.count))")
        }
        return number - 1
    }

    // MARK: - Responses

    static func manifest(_ text: String, type: String) -> EngineResponse {
        manifest(Array(text.utf8), type: type)
    }

    static func manifest(_ bytes: [UInt8], type: String) -> EngineResponse {
        EngineResponse(status: 200, contentType: type, etag: nil, lastModified: 0, logReason: nil, body: [.bytes(bytes)])
    }

    static func segment(_ body: [BodyPiece], type: String) -> EngineResponse {
        EngineResponse(status: 200, contentType: type, etag: nil, lastModified: 0, logReason: nil, body: body)
    }

    static func mp4Type(_ kind: TrackKind) -> String {
        switch kind {
        case .video: "video/mp4"
        case .audio: "audio/mp4"
        case .text: "application/mp4"
        }
    }

    /// An fMP4 init segment (HLS fMP4 and DASH).
    func initSegment(_ token: String) throws -> EngineResponse {
        let track = try track(token)
        return Self.segment([.bytes(FragmentWriter.initSegment(for: track.track))], type: Self.mp4Type(track.kind))
    }

    /// The samples of segment `index` (number `number`) of `track` in `cut`; 404 when it has none.
    static func samples(_ track: PresentationTrack, cut: Cut, index: Int, number: Int) throws -> Range<Int> {
        guard let range = cut.ranges(track.token)?[index], !range.isEmpty else {
            throw EngineError.notFound("segment \(number) of \(track.token) is empty")
        }
        return range
    }

    /// How the samples of an fMP4 segment go out.
    enum SampleProtection {
        /// As they are: file pieces where local.
        case clear
        /// Encrypted in their source: as they are, with the source's IVs and subsamples.
        case source(SourceProtection)
        /// Encrypted here with AES-CTR (`cenc`, or Smooth's PIFF).
        case cenc(ContentKey)
        case cbcs(CBCSEncryption)
    }

    /// Samples `range` of `track` as fMP4 media segment `number`, protected as `protection` says,
    /// written as `options` say (Smooth's timeline and sample encryption box, or the default).
    func fmp4Segment(_ track: PresentationTrack, samples range: Range<Int>, number: Int, _ protection: SampleProtection,
                     options: FragmentWriter.Options = FragmentWriter.Options()) throws -> EngineResponse {
        let body: [BodyPiece]
        switch protection {
        case .clear:
            body = try media.materialize(try FragmentWriter.mediaSegment(track: track.track, samples: range,
                                                                         sequenceNumber: UInt32(clamping: number), options: options))
        case .source(let source):
            body = try passThroughFragment(track, source, samples: range, number: number, options: options)
        case .cenc(let key):
            body = try cencFragment(track, samples: range, sequenceNumber: number, key: key, options: options)
        case .cbcs(let cbcs):
            body = try cbcsFragment(track, samples: range, number: number, cbcs, options: options)
        }
        return Self.segment(body, type: Self.mp4Type(track.kind))
    }

    /// A TS segment, written into a buffer from ``buffers`` that ``Engine/recycle(_:)`` gives back
    /// once the response has been sent.
    func transportStream(_ inputs: [TSInput], continuity: TSContinuity,
                         encrypter: (any TSSampleEncrypter)? = nil) throws -> EngineResponse {
        // Upstream samples: one coalesced ranged read per track before muxing.
        var reads = try media.prefetch(inputs.map { ($0.track, $0.samples) })
        MappedReadGuard.begin()
        let built = Result {
            try TransportStreamWriter.segment(inputs: inputs, continuity: continuity, buffers: buffers,
                                              encrypter: encrypter) {
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
        var response = Self.segment([.bytes(try built.get())], type: "video/MP2T")
        response.bodyIsPooled = true
        return response
    }
}
