import MediaModel

/// How a presentation's tracks become HLS variants.
///
/// - TS with at most one audio track: every variant is a video track muxed with that audio track
///   (one TS per segment, the layout every HLS client plays).
/// - fMP4, or TS with several audio tracks: video-only variants refer to an `EXT-X-MEDIA` audio
///   group per audio codec whose renditions have their own playlists.
/// - No video: each audio track is a variant of its own.
public struct HLSLayout: Sendable {
    public enum Container: Sendable { case transportStream, fragmentedMP4 }

    public struct Variant: Sendable {
        /// Tracks in the variant's own media playlist (audio first when muxed).
        public let tracks: [PresentationTrack]
        /// The audio group the variant refers to, if any.
        public let audioGroup: AudioGroup?
    }

    public struct AudioGroup: Sendable {
        public let id: String
        public let tracks: [PresentationTrack]
    }

    public let container: Container
    public let variants: [Variant]
    public let audioGroups: [AudioGroup]

    public init(presentation: Presentation, container: Container) {
        self.container = container
        let videos = presentation.tracks(of: .video)
        let audios = presentation.tracks(of: .audio)
        if videos.isEmpty {
            audioGroups = []
            variants = audios.map { Variant(tracks: [$0], audioGroup: nil) }
        } else if container == .transportStream && audios.count <= 1 {
            audioGroups = []
            variants = videos.map { Variant(tracks: audios + [$0], audioGroup: nil) }
        } else {
            var groups: [AudioGroup] = []
            for audio in audios {
                let id = "audio-" + HLSLayout.groupName(audio.track)
                if let i = groups.firstIndex(where: { $0.id == id }) {
                    groups[i] = AudioGroup(id: id, tracks: groups[i].tracks + [audio])
                } else {
                    groups.append(AudioGroup(id: id, tracks: [audio]))
                }
            }
            audioGroups = groups
            variants = videos.flatMap { video in
                groups.isEmpty
                    ? [Variant(tracks: [video], audioGroup: nil)]
                    : groups.map { Variant(tracks: [video], audioGroup: $0) }
            }
        }
    }

    /// Whether `tracks` (as named by a media playlist or TS segment URL) is a playlist this layout offers.
    public func offers(_ tokens: [String]) -> Bool {
        variants.contains { $0.tracks.map(\.token) == tokens }
            || audioGroups.contains { $0.tracks.contains { [$0.token] == tokens } }
    }

    private static func groupName(_ track: Track) -> String {
        switch track.codec {
        case .aac(let c): c.objectType == 2 ? "aacl" : c.objectType == 5 ? "aach" : "aac\(c.objectType)"
        case .ac3: "ac3"
        case .eac3: "ec3"
        default: track.sampleEntryType.filter { $0.isLetter || $0.isNumber }
        }
    }
}
