/// A track as the server manifest names it: the media track plus the name and bitrate that
/// form its URL token (`audio_eng=64008`).
public struct PresentationTrack: Sendable {
    public var track: Track
    /// `trackName` (`video`, `audio_eng`, `textstream_eng`).
    public var name: String
    /// `systemBitrate` from the server manifest, or the measured average bitrate.
    public var bitrate: Int
    /// Language from the server manifest (`systemLanguage`), else the track's.
    public var language: String

    public init(track: Track, name: String, bitrate: Int, language: String) {
        self.track = track
        self.name = name
        self.bitrate = bitrate
        self.language = language
    }

    /// The URL token `<trackName>=<systemBitrate>`.
    public var token: String { "\(name)=\(bitrate)" }

    public var kind: TrackKind { track.kind }
}

/// Everything an output format needs to describe and cut a presentation.
public struct Presentation: Sendable {
    /// Tracks in server-manifest order. Every change reindexes the tokens: change a local copy in
    /// loops and assign it once.
    public var tracks: [PresentationTrack] { didSet { indexTokens() } }
    /// Server-manifest options: `head/meta` (`hls_minimum_fragment_length`) and `paramGroup` entries
    /// flattened as `<group>.<name>` (`hls.minimum_fragment_length`).
    public var options: [String: String]
    /// Index in ``tracks`` of each token (the first track with it): every request looks its tokens up.
    private var trackIndex: [String: Int] = [:]

    public init(tracks: [PresentationTrack], options: [String: String] = [:]) {
        self.tracks = tracks
        self.options = options
        indexTokens()
    }

    private mutating func indexTokens() {
        trackIndex = Dictionary(tracks.enumerated().map { ($1.token, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func tracks(of kind: TrackKind) -> [PresentationTrack] { tracks.filter { $0.kind == kind } }

    public func track(token: String) -> PresentationTrack? { trackIndex[token].map { tracks[$0] } }

    /// Option lookup accepting both spellings: `paramGroup` style `hls.name` and meta style `hls_name`.
    public func option(group: String, _ name: String) -> String? {
        options["\(group).\(name)"] ?? options["\(group)_\(name)"]
    }
}
