import HLS
import ISOBMFF
import MPEGTS
import MediaModel
import PlayerURL

/// HLS: master, media, I-frame and subtitle playlists; TS, fMP4, I-frame and WebVTT segments.
struct HLSAnswer {
    let context: AnswerContext
    let cut: Cut

    static let playlistType = "application/vnd.apple.mpegurl"

    /// The answer to an HLS route, or nil for another format's.
    static func answer(_ route: PlayerRequest, _ context: AnswerContext) throws -> EngineResponse? {
        // Every HLS route but the init segment works on the HLS segmentation.
        func hls() throws -> HLSAnswer { HLSAnswer(context: context, cut: try context.view.cut(context.options.hlsCut)) }
        switch route {
        case .hlsMaster: return AnswerContext.manifest(try hls().writer(for: []).master(), type: playlistType)
        case .hlsMediaPlaylist(let tokens): return try hls().mediaPlaylist(tokens)
        case .hlsIFramePlaylist(let token):
            let track = try context.videoTrack(token)
            try context.checkSampleAES([track])
            return AnswerContext.manifest(try hls().writer(for: [track]).iFrames(track: track), type: playlistType)
        case .hlsIFrameTSSegment(let token, let number):
            return try context.encrypted(try hls().iFrameTS(token, number), tracks: context.tracks([token]), number: number)
        case .hlsIFrameFMP4Segment(let token, let number): return try hls().iFrameFMP4(token, number)
        case .hlsTSSegment(let tokens, let number):
            return try context.encrypted(try hls().transportStream(tokens, number), tracks: context.tracks(tokens), number: number)
        case .hlsInit(let token): return try context.hlsInitSegment(token)
        case .hlsFMP4Segment(let token, let number):
            let cut = try hls().cut
            let track = try context.track(token)
            let samples = try AnswerContext.samples(track, cut: cut, index: try AnswerContext.segmentIndex(number, cut), number: number)
            return try context.hlsFragment(track, samples: samples, number: number)
        case .hlsWebVTTSegment(let token, let number):
            let segment = try hls().webVTT(token, number)
            // Beside cbcs fMP4 (SAMPLE-AES) subtitles stay clear, as their playlists say.
            if context.options.hlsContainer == .fragmentedMP4 { return segment }
            return try context.encrypted(segment, tracks: context.tracks([token]), number: number)
        default: return nil
        }
    }

    /// The playlist writer for playlists of `tracks` (their key; none: the presentation's lead track's).
    func writer(for tracks: [PresentationTrack]) -> HLSPlaylistWriter {
        HLSPlaylistWriter(presentation: context.presentation, segmentation: cut.segmentation,
                          container: context.options.hlsContainer, options: context.options.hls, urls: context.urls,
                          stats: cut.allStats, keys: context.protection.hlsPlaylistKeys(context.options.hlsContainer, tracks: tracks))
    }

    private func mediaPlaylist(_ tokens: [String]) throws -> EngineResponse {
        let tracks = try context.tracks(tokens)
        let writer = self.writer(for: tracks)
        if tracks.count == 1, tracks[0].kind == .text {
            guard writer.subtitleTracks.contains(where: { $0.token == tracks[0].token }) else {
                throw EngineError.notFound("no HLS subtitles for \(tokens[0])")
            }
            return AnswerContext.manifest(writer.subtitlePlaylist(track: tracks[0]), type: Self.playlistType)
        }
        guard writer.layout.offers(tokens) || Self.anyLayoutOffers(tokens, context.presentation) else {
            throw EngineError.notFound("no HLS playlist for \(tokens.joined(separator: "-"))")
        }
        try context.checkSampleAES(tracks)
        return AnswerContext.manifest(writer.media(tracks: tracks), type: Self.playlistType)
    }

    /// Whether any container or client version offers a media playlist of `tokens` (a playlist URL
    /// stays valid when the server manifest's options change under a playing client).
    static func anyLayoutOffers(_ tokens: [String], _ presentation: Presentation) -> Bool {
        let layouts = [
            HLSLayout(presentation: presentation, container: .transportStream, options: HLSOptions(clientVersion: 1)),
            HLSLayout(presentation: presentation, container: .transportStream, options: HLSOptions(clientVersion: 4)),
            HLSLayout(presentation: presentation, container: .fragmentedMP4),
        ]
        return layouts.contains { $0.offers(tokens) }
    }

    private func transportStream(_ tokens: [String], _ number: Int) throws -> EngineResponse {
        let tracks = try context.tracks(tokens)
        guard tracks.count <= 2, Set(tracks.map(\.kind)).count == tracks.count else {
            throw EngineError.notFound("no TS segment muxes \(tokens.joined(separator: "-"))")
        }
        let index = try AnswerContext.segmentIndex(number, cut)
        let inputs = tracks.map { TSInput(track: $0.track, samples: cut.ranges($0.token)?[index] ?? 0..<0) }
        guard inputs.contains(where: { !$0.samples.isEmpty }) else {
            throw EngineError.notFound("segment \(number) of \(tokens.joined(separator: "-")) is empty")
        }
        let continuity = context.view.continuity(before: index, tracks: tracks, key: context.options.hlsCut, cut: cut)
        return try context.transportStream(inputs, continuity: continuity,
                                           encrypter: try context.sampleAES(for: tracks, segment: number))
    }

    /// Key frame `number` (from 1) of a video track: its sample index, with the track's key frames.
    private func keyFrame(_ token: String, _ number: Int) throws -> (PresentationTrack, KeyFrames, Int) {
        let track = try context.videoTrack(token)
        let keyFrames = KeyFrames(track: track.track, ranges: cut.ranges(track.token) ?? [])
        guard let sample = keyFrames.sample(number: number) else {
            throw EngineError.notFound("key frame \(number) of \(token) does not exist (1...\(keyFrames.count))")
        }
        return (track, keyFrames, sample)
    }

    private func iFrameTS(_ token: String, _ number: Int) throws -> EngineResponse {
        let (track, keyFrames, sample) = try keyFrame(token, number)
        let inputs = [TSInput(track: track.track, samples: sample..<(sample + 1))]
        let continuity = context.view.iFrameContinuity(before: number, track: track, keyFrames: keyFrames,
                                                       key: context.options.hlsCut)
        return try context.transportStream(inputs, continuity: continuity,
                                           encrypter: try context.sampleAES(for: [track], segment: number))
    }

    private func iFrameFMP4(_ token: String, _ number: Int) throws -> EngineResponse {
        let (track, _, sample) = try keyFrame(token, number)
        return try context.hlsFragment(track, samples: sample..<(sample + 1), number: number)
    }

    private func webVTT(_ token: String, _ number: Int) throws -> EngineResponse {
        let track = try context.track(token)
        let writer = self.writer(for: [track])
        guard writer.subtitleTracks.contains(where: { $0.token == track.token }) else {
            throw EngineError.notFound("\(token) is not a subtitle track")
        }
        return try context.webVTTSegment(track, index: try AnswerContext.segmentIndex(number, cut), writer: writer)
    }
}
