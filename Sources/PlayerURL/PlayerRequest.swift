import ByteIO

/// What a virtual path (the part after `x.ism/`) asks for.
public enum PlayerRequest: Equatable, Sendable {
    case hlsMaster
    /// A media playlist for one track, or for audio+video muxed in TS (`tokens.count == 2`).
    case hlsMediaPlaylist(tokens: [String])
    /// A TS segment, `number` from 1.
    case hlsTSSegment(tokens: [String], number: Int)
    case hlsInit(token: String)
    case hlsFMP4Segment(token: String, number: Int)
    /// The I-frame playlist of one video track, `keyframes/<base>-<token>.m3u8`.
    case hlsIFramePlaylist(token: String)
    /// Key frame `number` (from 1) of a video track alone in a TS segment, `keyframes/<base>-<token>-<N>.ts`.
    case hlsIFrameTSSegment(token: String, number: Int)
    /// Key frame `number` (from 1) alone in an fMP4 fragment, `keyframes/<base>-<token>-<N>.m4s`
    /// (its init segment, `keyframes/<base>-<token>.m4s`, parses as ``hlsInit(token:)``).
    case hlsIFrameFMP4Segment(token: String, number: Int)
    /// A WebVTT subtitle segment of one text track, `<base>-<token>-<N>.webvtt`, `number` from 1.
    case hlsWebVTTSegment(token: String, number: Int)
    case dashManifest
    case dashInit(token: String)
    /// A DASH media segment addressed by its start time (track timescale), `$Time$`.
    case dashSegmentAtTime(token: String, time: Int64)
    /// A DASH media segment addressed by number (from 1), `$Number$`.
    case dashSegmentNumber(token: String, number: Int)
    /// The Smooth Streaming client manifest, `Manifest`.
    case smoothManifest
    /// A Smooth Streaming fragment, `QualityLevels(<bitrate>)/Fragments(<name>=<time>)`; `time` is
    /// the fragment's start in the manifest's 10 MHz timescale.
    case smoothFragment(bitrate: Int, name: String, time: Int64)
    /// The HDS manifest, `<any name>.f4m`.
    case hdsManifest
    /// An HDS fragment, `<base>-<tokens>-Seg<segment>-Frag<fragment>`; `fragment` from 1.
    case hdsFragment(tokens: [String], segment: Int, fragment: Int)

    /// The tracks whose samples (or, for an init segment, whose sample description) this request
    /// reads, when it names them: nil for manifests and playlists, which describe every track, and
    /// for Smooth fragments, which name a track by bitrate and name rather than by token.
    public var tokensRead: [String]? {
        switch self {
        case .hlsTSSegment(let tokens, _), .hdsFragment(let tokens, _, _):
            tokens
        case .hlsInit(let token), .hlsFMP4Segment(let token, _), .hlsIFrameTSSegment(let token, _),
             .hlsIFrameFMP4Segment(let token, _), .hlsWebVTTSegment(let token, _), .dashInit(let token),
             .dashSegmentAtTime(let token, _), .dashSegmentNumber(let token, _):
            [token]
        case .hlsMaster, .hlsMediaPlaylist, .hlsIFramePlaylist, .dashManifest, .smoothManifest, .smoothFragment,
             .hdsManifest:
            nil
        }
    }

    /// The output format the request belongs to.
    public var format: OutputFormat {
        switch self {
        case .hlsMaster, .hlsMediaPlaylist, .hlsTSSegment, .hlsInit, .hlsFMP4Segment, .hlsIFramePlaylist,
             .hlsIFrameTSSegment, .hlsIFrameFMP4Segment, .hlsWebVTTSegment:
            .hls
        case .dashManifest, .dashInit, .dashSegmentAtTime, .dashSegmentNumber: .dash
        case .smoothManifest, .smoothFragment: .smooth
        case .hdsManifest, .hdsFragment: .hds
        }
    }
}

public struct PlayerURLError: StatusCodedError, Equatable {
    public enum Code: Sendable, Equatable { case unknownPath, unknownTrack, malformed }
    public let code: Code
    public let reason: String

    public static func unknownPath(_ path: String) -> PlayerURLError {
        .init(code: .unknownPath, reason: "no such virtual path: \(Sanitized.text(path))")
    }
    public static func unknownTrack(_ token: String) -> PlayerURLError {
        .init(code: .unknownTrack, reason: "no track named \(Sanitized.text(token)) in this presentation")
    }
    public static func malformed(_ what: String) -> PlayerURLError {
        .init(code: .malformed, reason: what)
    }

    public var httpStatus: Int { code == .malformed ? 400 : 404 }
    public var logReason: String { reason }
}
