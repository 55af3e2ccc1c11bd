import ByteIO
import ISOBMFF
import MediaModel
import PlayerURL
import Smooth

/// Smooth Streaming: the client manifest and fragments (media, and TTML for text tracks). With
/// `iss.key` or `playready.key`, audio and video fragments are PIFF 1.1 encrypted (`cenc`, with
/// PIFF's sample encryption box) and the manifest carries the PlayReady header.
enum SmoothAnswer {
    /// The answer to a Smooth route, or nil for another format's.
    static func answer(_ route: PlayerRequest, _ context: AnswerContext) throws -> EngineResponse? {
        switch route {
        case .smoothManifest:
            let cut = try context.view.cut(context.options.smoothCut)
            let writer = SmoothManifestWriter(presentation: context.presentation, ranges: cut.allRanges, urls: context.urls,
                                              protection: context.protection.smoothHeader)
            return AnswerContext.manifest(writer.manifest(), type: "text/xml")
        case .smoothFragment(let bitrate, let name, let time):
            return try fragment(bitrate: bitrate, name: name, time: time, context)
        default:
            return nil
        }
    }

    private static func fragment(bitrate: Int, name: String, time: Int64, _ context: AnswerContext) throws -> EngineResponse {
        let cut = try context.view.cut(context.options.smoothCut)
        let token = "\(name)=\(bitrate)"
        guard let track = context.presentation.track(token: token), track.track.fourCC != nil else {
            throw EngineError.notFound("no Smooth quality level \(bitrate) of \(Sanitized.text(name))")
        }
        let offset = SmoothTimeline.offset(for: context.presentation)
        guard let ranges = cut.ranges(track.token),
              let index = SmoothTimeline.segment(startingAt: time, track: track.track, ranges: ranges, offset: offset) else {
            throw EngineError.notFound("no fragment of \(token) starts at \(time)")
        }
        if track.kind == .text {
            return try context.smoothTextFragment(track, ranges: ranges, index: index, offset: offset)
        }
        let protection: AnswerContext.SampleProtection = if let source = track.track.protection { .source(source) }
            else if let piff = context.protection.smoothPIFF, track.track.inlineData == nil { .cenc(piff.key) }
            else { .clear }
        return try context.fmp4Segment(track, samples: ranges[index], number: index + 1, protection, options: .smooth(offset: offset))
    }
}
