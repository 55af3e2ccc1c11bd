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

    /// The `EXT-X-KEY` line, with `IV` set to `iv`, or to `sequenceNumber` when there is no fixed IV
    /// and the playlist's positions no longer give segments their URL numbers.
    func line(sequenceNumber: Int? = nil) -> String {
        var out = "#EXT-X-KEY:METHOD=\(method.rawValue),URI=\"\(uri.filter { $0 != "\"" && $0 != "\n" && $0 != "\r" })\""
        if let iv {
            out += ",IV=0x" + Self.hex(iv)
        } else if let sequenceNumber {
            let n = UInt64(clamping: sequenceNumber)
            out += ",IV=0x" + Self.hex([UInt8](repeating: 0, count: 8) + (0..<8).map { UInt8(truncatingIfNeeded: n >> (56 - 8 * UInt64($0))) })
        }
        return out + "\n"
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in bytes { out += [digits[Int(b >> 4)], digits[Int(b & 0x0F)]] }
        return String(decoding: out, as: UTF8.self)
    }
}
