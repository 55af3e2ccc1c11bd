/// What the HLS clients of a request support, from `hls.client_manifest_version` and
/// `hls.no_audio_only`.
///
/// The client manifest version is the highest HLS protocol version (RFC 8216 §7) the players are
/// known to understand; it decides which features the playlists may use. Every playlist still
/// declares the lowest `EXT-X-VERSION` its own content needs (see ``HLSPlaylistWriter``).
///
/// | Version | Features used |
/// |---|---|
/// | 1 | integer `EXTINF`; TS variants mux video with the first audio track; no `EXT-X-MEDIA` |
/// | 3 | as 1, with decimal `EXTINF` |
/// | 4, 5 | as 3, plus `EXT-X-MEDIA` audio groups when there are several audio tracks, and I-frame playlists |
/// | 7 | as 4 (TS); fMP4 (`hls.fmp4`) always uses this level, since `EXT-X-MAP` needs version 6 |
///
/// Audio-only variants are listed at every version when ``audioOnlyVariants`` is true (off by
/// default: VLC 3.0 plays an audio-only variant for part of the presentation when the master offers them).
public struct HLSOptions: Sendable, Equatable {
    /// The accepted values of `hls.client_manifest_version`.
    public static let supportedVersions = [1, 3, 4, 5, 7]
    /// Used when neither the query nor the server manifest sets a version.
    public static let defaultVersion = 4

    /// One of ``supportedVersions``.
    public var clientVersion: Int
    /// Whether the master lists an audio-only variant per audio track after the video variants.
    public var audioOnlyVariants: Bool

    public init(clientVersion: Int = HLSOptions.defaultVersion, audioOnlyVariants: Bool = false) {
        self.clientVersion = clientVersion
        self.audioOnlyVariants = audioOnlyVariants
    }

    /// The level the playlists of `container` are written for: fMP4 needs at least 7 (the
    /// version setting affects TS only, as in the reference origin).
    public func effectiveVersion(for container: HLSLayout.Container) -> Int {
        container == .fragmentedMP4 ? max(clientVersion, 7) : clientVersion
    }
}
