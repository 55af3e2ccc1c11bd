import HDS
import MediaModel
import PlayerURL

/// HDS: the F4M manifest (with inline bootstraps) and F4F fragments of FLV tags.
enum HDSAnswer {
    /// The answer to an HDS route, or nil for another format's.
    static func answer(_ route: PlayerRequest, _ context: AnswerContext) throws -> EngineResponse? {
        switch route {
        case .hdsManifest:
            let cut = try context.view.cut(context.options.hdsCut)
            let writer = F4MWriter(presentation: context.presentation,
                                   timeline: HDSTimeline(presentation: context.presentation, segmentation: cut.segmentation),
                                   urls: context.urls)
            guard !writer.layout.media.isEmpty else {
                throw EngineError.notFound("no track HDS can carry (H.264 video or AAC audio)")
            }
            return AnswerContext.manifest(writer.manifest(), type: "application/f4m+xml")
        case .hdsFragment(let tokens, let segment, let number):
            guard segment == 1 else { throw EngineError.notFound("HDS segment \(segment) does not exist (only Seg1)") }
            return try fragment(tokens, number, context)
        default:
            return nil
        }
    }

    private static func fragment(_ tokens: [String], _ number: Int, _ context: AnswerContext) throws -> EngineResponse {
        let cut = try context.view.cut(context.options.hdsCut)
        let tracks = try context.tracks(tokens)
        guard HDSLayout.accepts(tracks) else {
            throw EngineError.notFound("no HDS fragment muxes \(tokens.joined(separator: "-"))")
        }
        let index = try AnswerContext.segmentIndex(number, cut)
        let timeline = HDSTimeline(presentation: context.presentation, segmentation: cut.segmentation)
        let video = tracks.first { $0.kind == .video }
        let inputs = tracks.map { t -> F4FWriter.Input in
            let ranges = cut.ranges(t.token) ?? []
            if t.kind == .audio, let video, let videoRanges = cut.ranges(video.token) {
                return F4FWriter.Input(track: t.track, samples: F4FWriter.audioSamples(
                    t.track, ranges: ranges, muxedWith: video.track, ranges: videoRanges, index: index, timeline: timeline))
            }
            return F4FWriter.Input(track: t.track, samples: index < ranges.count ? ranges[index] : 0..<0)
        }
        let pieces = try F4FWriter.fragment(inputs, number: number, timeline: timeline)
        return AnswerContext.segment(try context.media.materialize(pieces), type: "video/f4f")
    }
}
