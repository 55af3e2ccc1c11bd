import ByteIO

/// How the segments of media, I-frame and subtitle playlists are encrypted, for their
/// `EXT-X-KEY` lines (RFC 8216 §4.3.2.4). The key itself never reaches a playlist: players fetch it
/// from `uri`.
public struct HLSSegmentKey: Sendable, Equatable {
    public enum Method: String, Sendable { case aes128 = "AES-128" }

    public var method: Method
    /// The key's URI as players fetch it (`hls.license_server_url`).
    public var uri: String
    /// One IV for every segment (`hls.key_iv`, 16 bytes), or nil: each segment's IV is its media
    /// sequence number, which is its number in the segment URL.
    public var iv: [UInt8]?

    public init(method: Method, uri: String, iv: [UInt8]? = nil) {
        self.method = method
        self.uri = uri
        self.iv = iv
    }

    /// The IV of segment `number`: ``iv``, or the segment's media sequence number (its number in
    /// the segment URL) as a big-endian 128-bit integer, as RFC 8216 §5.2 defines it.
    public func iv(segment number: Int) -> [UInt8] {
        if let iv { return iv }
        var w = ByteWriter(capacity: 16)
        w.writeUInt64(0)
        w.writeUInt64(UInt64(clamping: number))
        return w.take()
    }

    /// The `EXT-X-KEY` line, with `IV` set to ``iv``, or to segment `number`'s when there is no
    /// fixed IV and the playlist's positions no longer give segments their URL numbers.
    func line(segment number: Int? = nil) -> String {
        var out = "#EXT-X-KEY:METHOD=\(method.rawValue),URI=\"\(HLSPlaylistWriter.quoted(uri))\""
        if iv != nil || number != nil {
            out += ",IV=0x" + Hex.string(iv(segment: number ?? 0), uppercase: true)
        }
        return out + "\n"
    }
}
