import MediaModel

/// How a presentation's tracks become HLS variants, for one container and client version
/// (``HLSOptions``).
///
/// - TS with at most one audio track, or any TS below version 4: every variant is a video track
///   muxed with the first audio track (one TS per segment, the layout every HLS client plays).
/// - fMP4, or TS from version 4 with several audio tracks: video-only variants refer to an
///   `EXT-X-MEDIA` audio group per audio codec whose renditions have their own playlists.
/// - No video: each audio track is a variant of its own.
/// - With video and ``HLSOptions/audioOnlyVariants``: one audio-only variant per audio track after
///   the video variants.
/// - From version 4: one I-frame playlist per video track (``iFrameTracks``).
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
    public let options: HLSOptions
    /// Video variants (or audio variants when there is no video), in master order.
    public let variants: [Variant]
    /// Audio-only variants listed after ``variants`` (empty without video or with `no_audio_only`).
    public let audioOnlyVariants: [Variant]
    public let audioGroups: [AudioGroup]
    /// Video tracks that get an I-frame playlist under `keyframes/`.
    public let iFrameTracks: [PresentationTrack]

    /// The protocol level the playlists are written for (``HLSOptions/effectiveVersion(for:)``).
    public var version: Int { options.effectiveVersion(for: container) }

    public init(presentation: Presentation, container: Container, options: HLSOptions = HLSOptions()) {
        self.container = container
        self.options = options
        let level = options.effectiveVersion(for: container)
        let videos = presentation.tracks(of: .video)
        let audios = presentation.tracks(of: .audio)
        if videos.isEmpty {
            audioGroups = []
            variants = audios.map { Variant(tracks: [$0], audioGroup: nil) }
        } else if container == .transportStream && (audios.count <= 1 || level < 4) {
            // Below version 4 there is no EXT-X-MEDIA: the first audio track is the muxed one.
            audioGroups = []
            variants = videos.map { Variant(tracks: Array(audios.prefix(1)) + [$0], audioGroup: nil) }
        } else {
            let groups = HLSLayout.groups(audios)
            audioGroups = groups
            variants = videos.flatMap { video in
                groups.isEmpty
                    ? [Variant(tracks: [video], audioGroup: nil)]
                    : groups.map { Variant(tracks: [video], audioGroup: $0) }
            }
        }
        audioOnlyVariants = videos.isEmpty || !options.audioOnlyVariants
            ? [] : audios.map { Variant(tracks: [$0], audioGroup: nil) }
        iFrameTracks = level >= 4 ? videos : []
    }

    /// Whether `tracks` (as named by a media playlist or TS segment URL) is a playlist this layout offers.
    public func offers(_ tokens: [String]) -> Bool {
        variants.contains { $0.tracks.map(\.token) == tokens }
            || audioOnlyVariants.contains { $0.tracks.map(\.token) == tokens }
            || audioGroups.contains { $0.tracks.contains { [$0.token] == tokens } }
    }

    /// Whether `token` names a video track with an I-frame playlist in this layout.
    public func offersIFrames(_ token: String) -> Bool {
        iFrameTracks.contains { $0.token == token }
    }

    /// One group per audio codec, tracks in presentation order (the first is the default).
    private static func groups(_ audios: [PresentationTrack]) -> [AudioGroup] {
        var groups: [AudioGroup] = []
        for audio in audios {
            let id = "audio-" + HLSLayout.groupName(audio.track)
            if let i = groups.firstIndex(where: { $0.id == id }) {
                groups[i] = AudioGroup(id: id, tracks: groups[i].tracks + [audio])
            } else {
                groups.append(AudioGroup(id: id, tracks: [audio]))
            }
        }
        return groups
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
