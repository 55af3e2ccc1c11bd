/// The virtual path grammar (see README "URLs"). Names are `<base>-<tokens>[-<number>].<ext>`
/// where a token is `<trackName>=<systemBitrate>` and several tokens are joined with `-`.
/// Track names may themselves contain `-` (`textstream_zh-Hans`), so tokens are resolved against
/// the presentation's track names, longest match first.
public enum VirtualPath {
    /// Largest segment number or time accepted; larger values are malformed requests.
    static let maxNumberDigits = 18

    /// The virtual directory of I-frame playlists and their segments.
    public static let keyFramesDirectory = "keyframes"

    public static func parse(_ path: String, trackNames: Set<String>) throws(PlayerURLError) -> PlayerRequest {
        guard !path.isEmpty, path.utf8.count <= 1024 else { throw .unknownPath(path) }
        if path.hasPrefix(keyFramesDirectory + "/") {
            return try parseKeyFrames(String(path.dropFirst(keyFramesDirectory.count + 1)), trackNames: trackNames, path: path)
        }
        if let smooth = try SmoothPath.parse(path, trackNames: trackNames) { return smooth }
        guard !path.contains("/") else { throw .unknownPath(path) }
        if let hds = try HDSPath.parse(path, trackNames: trackNames) { return hds }
        guard let dot = path.lastIndex(of: ".") else { throw .unknownPath(path) }
        let stem = String(path[..<dot])
        let ext = path[path.index(after: dot)...]
        switch ext {
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
            if let (rest, number) = splitPrefixedNumber(stem, prefix: "n") {
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
    private static func parseKeyFrames(_ rest: String, trackNames: Set<String>, path: String) throws(PlayerURLError) -> PlayerRequest {
        guard !rest.isEmpty, !rest.contains("/") else { throw .unknownPath(path) }
        switch try parse(rest, trackNames: trackNames) {
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

    static func requireTokens(_ stem: String, trackNames: Set<String>, path: String) throws(PlayerURLError) -> [String] {
        let tokens = try trailingTokens(stem, trackNames: trackNames)
        guard !tokens.isEmpty else { throw .malformed("no track token in \(Sanitized.text(path))") }
        return tokens
    }

    private static func singleToken(_ stem: String, trackNames: Set<String>, path: String) throws(PlayerURLError) -> String {
        let tokens = try requireTokens(stem, trackNames: trackNames, path: path)
        guard tokens.count == 1 else { throw .malformed("one track expected in \(Sanitized.text(path))") }
        return tokens[0]
    }

    /// Splits `…-<digits>` off the end. Digits preceded by `=` belong to a token, not a number.
    static func splitNumber(_ stem: String) throws(PlayerURLError) -> (String, Int64?) {
        let bytes = Array(stem.utf8)
        var i = bytes.count
        while i > 0, bytes[i - 1] >= 0x30, bytes[i - 1] <= 0x39 { i -= 1 }
        guard i < bytes.count, i > 0, bytes[i - 1] == UInt8(ascii: "-") else { return (stem, nil) }
        let digits = bytes[i...]
        guard digits.count <= maxNumberDigits, let value = Int64(String(decoding: digits, as: UTF8.self)) else {
            throw .malformed("number too large in \(Sanitized.text(stem))")
        }
        return (String(decoding: bytes[..<(i - 1)], as: UTF8.self), value)
    }

    /// Splits `…-<prefix><digits>` off the end (the `$Number$` form `-n12`).
    static func splitPrefixedNumber(_ stem: String, prefix: Character) -> (String, Int64)? {
        let bytes = Array(stem.utf8)
        var i = bytes.count
        while i > 0, bytes[i - 1] >= 0x30, bytes[i - 1] <= 0x39 { i -= 1 }
        guard i < bytes.count, i >= 2, bytes[i - 1] == prefix.asciiValue, bytes[i - 2] == UInt8(ascii: "-"),
              bytes.count - i <= maxNumberDigits,
              let value = Int64(String(decoding: bytes[i...], as: UTF8.self)) else { return nil }
        return (String(decoding: bytes[..<(i - 2)], as: UTF8.self), value)
    }

    /// The `name=bitrate` tokens at the end of `stem`, in order. Empty when the stem ends in no token.
    static func trailingTokens(_ stem: String, trackNames: Set<String>) throws(PlayerURLError) -> [String] {
        var tokens: [String] = []
        var rest = Substring(stem)
        while let eq = rest.lastIndex(of: "=") {
            let digits = rest[rest.index(after: eq)...]
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw .malformed("track token without a numeric bitrate in \(Sanitized.text(stem))")
            }
            guard digits.utf8.count <= maxNumberDigits else { throw .malformed("bitrate too large in \(Sanitized.text(stem))") }
            let before = rest[..<eq]
            // Longest known track name that ends the text before `=` and starts at a `-` or the start.
            // Compared as UTF-8 bytes: this runs for every request and every track.
            var matched: Substring? = nil
            let available = before.utf8.count
            for name in trackNames {
                let length = name.utf8.count
                guard length <= available, matched.map({ length > $0.utf8.count }) ?? true else { continue }
                let start = before.utf8.index(before.utf8.endIndex, offsetBy: -length)
                guard before.utf8[start...].elementsEqual(name.utf8),
                      start == before.startIndex || before.utf8[before.utf8.index(before: start)] == UInt8(ascii: "-")
                else { continue }
                matched = before[start...]
            }
            guard let name = matched else {
                let shown = before.split(separator: "-").last.map(String.init) ?? String(before)
                throw .unknownTrack("\(shown)=\(digits)")
            }
            tokens.append("\(name)=\(digits)")
            rest = before[..<name.startIndex]
            if rest.last == "-" { rest = rest.dropLast() } else { break }
        }
        return tokens.reversed()
    }
}
