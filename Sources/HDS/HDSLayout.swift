import MediaModel

/// Which renditions an F4M offers. FLV carries H.264 and AAC only; other tracks are left out.
///
/// - With H.264 video: one media per video track, muxed with the default audio track (the first
///   AAC track) when there is one. Its tokens are audio then video, as in TS HLS.
/// - Without H.264 video: one media per AAC track.
/// - Nothing FLV can carry: no media (the manifest is a 404).
public struct HDSLayout: Sendable {
    public struct Media: Sendable {
        /// The tracks muxed in the media's fragments, audio first.
        public let tracks: [PresentationTrack]
        public var tokens: [String] { tracks.map(\.token) }
        public var video: PresentationTrack? { tracks.first { $0.kind == .video } }
        public var audio: PresentationTrack? { tracks.first { $0.kind == .audio } }
        /// Sum of the tracks' bitrates, bits per second (saturating: a server manifest may state
        /// any `systemBitrate` up to `Int.max`).
        public var bitrate: Int {
            tracks.reduce(0) { sum, t in
                let (total, overflow) = sum.addingReportingOverflow(max(t.bitrate, 0))
                return overflow ? Int.max : total
            }
        }
    }

    public let media: [Media]

    public init(presentation: Presentation) {
        let videos = presentation.tracks(of: .video).filter { FLVCodec(track: $0.track) != nil }
        let audios = presentation.tracks(of: .audio).filter { FLVCodec(track: $0.track) != nil }
        if videos.isEmpty {
            media = audios.map { Media(tracks: [$0]) }
        } else {
            let audio = audios.first.map { [$0] } ?? []
            media = videos.map { Media(tracks: audio + [$0]) }
        }
    }

    /// Whether a fragment URL may mux `tracks`: one or two tracks FLV can carry, at most one video
    /// and one audio. (Any such pair is served, not only the ones the manifest lists.)
    public static func accepts(_ tracks: [PresentationTrack]) -> Bool {
        guard !tracks.isEmpty, tracks.count <= 2 else { return false }
        let videos = tracks.filter { $0.kind == .video }.count
        let audios = tracks.filter { $0.kind == .audio }.count
        return videos <= 1 && audios <= 1 && videos + audios == tracks.count
            && tracks.allSatisfy { FLVCodec(track: $0.track) != nil }
    }
}
