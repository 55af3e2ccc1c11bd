import ByteIO

/// The virtual path grammar (see README "URLs"). Names are `<base>-<tokens>[-<number>].<ext>`
/// where a token is `<trackName>=<systemBitrate>` and several tokens are joined with `-`.
/// Track names may themselves contain `-` (`textstream_zh-Hans`), so tokens are resolved against
/// the presentation's track names, longest match first.
public enum VirtualPath {
    /// Largest segment number or time accepted; larger values are malformed requests.
    static let maxNumberDigits = 18

    /// The virtual directory of I-frame playlists and their segments.
    public static let keyFramesDirectory = "keyframes"
    static let keyFramesPrefix: StaticString = "keyframes/"

    public static func parse(_ path: String, trackNames: Set<String>) throws(PlayerURLError) -> PlayerRequest {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count <= 1024 else { throw .unknownPath(path) }
        return try parse(bytes, path: path, trackNames: trackNames)
    }

    /// `bytes` is `path`, or its part after `keyframes/`; `path` (whole) is for messages. Delimiters
    /// are found as bytes: a `.` or `=` followed by a combining mark still delimits.
    private static func parse(_ bytes: [UInt8], path: String, trackNames: Set<String>) throws(PlayerURLError) -> PlayerRequest {
        if PathBytes.hasPrefix(bytes[...], keyFramesPrefix) {
            let rest = bytes.dropFirst(keyFramesPrefix.withUTF8Buffer { $0.count })
            return try parseKeyFrames(Array(rest), trackNames: trackNames, path: path)
        }
        if let smooth = try SmoothPath.parse(bytes, path: path, trackNames: trackNames) { return smooth }
        guard !bytes.contains(PathBytes.slash) else { throw .unknownPath(path) }
        if let hds = try HDSPath.parse(bytes, path: path, trackNames: trackNames) { return hds }
        guard let dot = bytes.lastIndex(of: PathBytes.dot) else { throw .unknownPath(path) }
        let stem = bytes[..<dot]
        switch PathBytes.text(bytes[(dot + 1)...]) {
        case "m3u8":
            let tokens = try trailingTokens(stem, trackNames: trackNames)
            return tokens.isEmpty ? .hlsMaster : .hlsMediaPlaylist(tokens: tokens)
        case "mpd":
            return .dashManifest
        case "f4m":
            return .hdsManifest
        case "ts":
            let (rest, number) = try splitNumber(stem)
            guard let number else { throw .malformed("segment name without a number: \(Sanitized.text(path))") }
            let tokens = try requireTokens(rest, trackNames: trackNames, path: path)
            return .hlsTSSegment(tokens: tokens, number: try segmentNumber(number))
        case "m4s":
            let (rest, number) = try splitNumber(stem)
            let token = try singleToken(rest, trackNames: trackNames, path: path)
            guard let number else { return .hlsInit(token: token) }
            return .hlsFMP4Segment(token: token, number: try segmentNumber(number))
        case "webvtt":
            let (rest, number) = try splitNumber(stem)
            guard let number else { throw .malformed("WebVTT segment name without a number: \(Sanitized.text(path))") }
            let token = try singleToken(rest, trackNames: trackNames, path: path)
            return .hlsWebVTTSegment(token: token, number: try segmentNumber(number))
        case "dash":
            if let (rest, number) = splitPrefixedNumber(stem, prefix: UInt8(ascii: "n")) {
                let token = try singleToken(rest, trackNames: trackNames, path: path)
                return .dashSegmentNumber(token: token, number: try segmentNumber(number))
            }
            let (rest, time) = try splitNumber(stem)
            let token = try singleToken(rest, trackNames: trackNames, path: path)
            guard let time else { return .dashInit(token: token) }
            return .dashSegmentAtTime(token: token, time: time)
        default:
            throw .unknownPath(path)
        }
    }

    /// `keyframes/<base>-<token>.m3u8`, `keyframes/<base>-<token>-<N>.ts|.m4s` and the init segment
    /// `keyframes/<base>-<token>.m4s`: the names of the main directory, one video token each.
    private static func parseKeyFrames(_ rest: [UInt8], trackNames: Set<String>, path: String) throws(PlayerURLError) -> PlayerRequest {
        guard !rest.isEmpty, !rest.contains(PathBytes.slash) else { throw .unknownPath(path) }
        switch try parse(rest, path: path, trackNames: trackNames) {
        case .hlsMediaPlaylist(let tokens):
            guard tokens.count == 1 else { throw .malformed("one track expected in \(Sanitized.text(path))") }
            return .hlsIFramePlaylist(token: tokens[0])
        case .hlsTSSegment(let tokens, let number):
            guard tokens.count == 1 else { throw .malformed("one track expected in \(Sanitized.text(path))") }
            return .hlsIFrameTSSegment(token: tokens[0], number: number)
        case .hlsFMP4Segment(let token, let number):
            return .hlsIFrameFMP4Segment(token: token, number: number)
        case .hlsInit(let token):
            return .hlsInit(token: token)
        default:
            throw .unknownPath(path)
        }
    }

    private static func segmentNumber(_ n: Int64) throws(PlayerURLError) -> Int {
        guard n >= 1, let value = Int(exactly: n) else { throw .malformed("segment numbers start at 1, got \(n)") }
        return value
    }

    static func requireTokens(_ stem: ArraySlice<UInt8>, trackNames: Set<String>, path: String) throws(PlayerURLError) -> [String] {
        let tokens = try trailingTokens(stem, trackNames: trackNames)
        guard !tokens.isEmpty else { throw .malformed("no track token in \(Sanitized.text(path))") }
        return tokens
    }

    private static func singleToken(_ stem: ArraySlice<UInt8>, trackNames: Set<String>, path: String) throws(PlayerURLError) -> String {
        let tokens = try requireTokens(stem, trackNames: trackNames, path: path)
        guard tokens.count == 1 else { throw .malformed("one track expected in \(Sanitized.text(path))") }
        return tokens[0]
    }

    /// Splits `…-<digits>` off the end. Digits preceded by `=` belong to a token, not a number.
    static func splitNumber(_ stem: ArraySlice<UInt8>) throws(PlayerURLError) -> (ArraySlice<UInt8>, Int64?) {
        var i = stem.endIndex
        while i > stem.startIndex, PathBytes.isDigit(stem[i - 1]) { i -= 1 }
        guard i < stem.endIndex, i > stem.startIndex, stem[i - 1] == PathBytes.dash else { return (stem, nil) }
        guard let value = PathBytes.decimal(stem[i...], maxDigits: maxNumberDigits) else {
            throw .malformed("number too large in \(Sanitized.text(PathBytes.text(stem)))")
        }
        return (stem[..<(i - 1)], value)
    }

    /// Splits `…-<prefix><digits>` off the end (the `$Number$` form `-n12`).
    static func splitPrefixedNumber(_ stem: ArraySlice<UInt8>, prefix: UInt8) -> (ArraySlice<UInt8>, Int64)? {
        var i = stem.endIndex
        while i > stem.startIndex, PathBytes.isDigit(stem[i - 1]) { i -= 1 }
        guard i < stem.endIndex, i - stem.startIndex >= 2, stem[i - 1] == prefix, stem[i - 2] == PathBytes.dash,
              let value = PathBytes.decimal(stem[i...], maxDigits: maxNumberDigits) else { return nil }
        return (stem[..<(i - 2)], value)
    }

    /// The `name=bitrate` tokens at the end of `stem`, in order. Empty when the stem ends in no token.
    static func trailingTokens(_ stem: ArraySlice<UInt8>, trackNames: Set<String>) throws(PlayerURLError) -> [String] {
        var tokens: [String] = []
        var rest = stem
        while let eq = rest.lastIndex(of: PathBytes.equalsSign) {
            let digits = rest[(eq + 1)...]
            guard !digits.isEmpty, digits.allSatisfy(PathBytes.isDigit) else {
                throw .malformed("track token without a numeric bitrate in \(Sanitized.text(PathBytes.text(stem)))")
            }
            guard digits.count <= maxNumberDigits else {
                throw .malformed("bitrate too large in \(Sanitized.text(PathBytes.text(stem)))")
            }
            let before = rest[..<eq]
            // Longest known track name that ends the text before `=` and starts at a `-` or the start.
            var matchStart: Int? = nil
            for name in trackNames {
                let length = name.utf8.count
                guard length <= before.count, matchStart.map({ length > eq - $0 }) ?? true else { continue }
                let start = eq - length
                guard before[start...].elementsEqual(name.utf8),
                      start == before.startIndex || before[start - 1] == PathBytes.dash else { continue }
                matchStart = start
            }
            guard let start = matchStart else {
                let shown = before.split(separator: PathBytes.dash).last ?? before
                throw .unknownTrack("\(PathBytes.text(shown))=\(PathBytes.text(digits))")
            }
            tokens.append(PathBytes.text(rest[start...]))
            rest = rest[..<start]
            if rest.last == PathBytes.dash { rest = rest.dropLast() } else { break }
        }
        return tokens.reversed()
    }
}
