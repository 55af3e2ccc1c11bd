import DASH
import ISOBMFF
import MediaModel
import PlayerURL

/// MPEG-DASH: the MPD, init segments, and media segments by `$Time$` or `$Number$`.
enum DASHAnswer {
    /// The answer to a DASH route, or nil for another format's.
    static func answer(_ route: PlayerRequest, _ context: AnswerContext) throws -> EngineResponse? {
        switch route {
        case .dashManifest:
            let cut = try context.view.cut(context.options.dashCut)
            let writer = MPDWriter(presentation: context.presentation, segmentation: cut.segmentation, urls: context.urls,
                                   addressing: context.options.dashAddressing, stats: cut.allStats,
                                   protection: context.protection.dashMPD)
            return AnswerContext.manifest(writer.mpd(), type: "application/dash+xml")
        case .dashInit(let token):
            return try context.dashInitSegment(token)
        case .dashSegmentAtTime(let token, let time):
            let cut = try context.view.cut(context.options.dashCut)
            let track = try context.track(token)
            guard let ranges = cut.ranges(track.token),
                  let index = segment(startingAt: time, ranges: ranges, track: track.track) else {
                throw EngineError.notFound("no segment of \(token) starts at \(time)")
            }
            return try context.dashFragment(track, cut: cut, index: index, number: index + 1)
        case .dashSegmentNumber(let token, let number):
            let cut = try context.view.cut(context.options.dashCut)
            return try context.dashFragment(try context.track(token), cut: cut,
                                            index: try AnswerContext.segmentIndex(number, cut), number: number)
        default:
            return nil
        }
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
