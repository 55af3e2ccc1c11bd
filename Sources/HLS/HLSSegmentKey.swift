import ByteIO

/// How the segments of media, I-frame and subtitle playlists are encrypted, for their
/// `EXT-X-KEY` lines (RFC 8216 §4.3.2.4) and the master's `EXT-X-SESSION-KEY` (§4.3.4.5). The key
/// itself never reaches a playlist: players fetch it from `uri`.
public struct HLSSegmentKey: Sendable, Equatable {
    public enum Method: String, Sendable {
        /// Whole segments, AES-128-CBC with padding (TS and WebVTT).
        case aes128 = "AES-128"
        /// Samples: in fMP4, Common Encryption `cbcs`; in TS, Apple's sample encryption.
        case sampleAES = "SAMPLE-AES"
        /// Samples in fMP4 with Common Encryption `cenc` (AES-CTR, the IVs in the segments' `senc`).
        case sampleAESCTR = "SAMPLE-AES-CTR"
    }

    public var method: Method
    /// The key's URI as players fetch it (`hls.license_server_url`), or a `data:` URI carrying a
    /// DRM system's `pssh`.
    public var uri: String
    /// One IV for every segment (`hls.key_iv`, 16 bytes; cbcs's constant IV), or nil: each
    /// segment's IV is its media sequence number, which is its number in the segment URL.
    public var iv: [UInt8]?
    /// `KEYFORMAT` (`identity`, a DRM system's `urn:uuid:…`), nil to leave it out (identity).
    public var keyFormat: String?
    /// `KEYFORMATVERSIONS`, written with ``keyFormat``.
    public var keyFormatVersions: String?
    /// The segments carry each sample's IV (Common Encryption with per-sample IVs): the playlist
    /// states none.
    public var samplesCarryIVs: Bool

    public init(method: Method, uri: String, iv: [UInt8]? = nil, keyFormat: String? = nil,
                keyFormatVersions: String? = nil, samplesCarryIVs: Bool = false) {
        self.method = method
        self.uri = uri
        self.iv = iv
        self.keyFormat = keyFormat
        self.keyFormatVersions = keyFormatVersions
        self.samplesCarryIVs = samplesCarryIVs || method == .sampleAESCTR
    }

    /// Widevine's key: its `pssh` box as a `data:` URI.
    public static func widevine(method: Method, pssh: [UInt8], iv: [UInt8]?, samplesCarryIVs: Bool = false) -> HLSSegmentKey {
        HLSSegmentKey(method: method, uri: "data:text/plain;base64," + Base64.encode(pssh), iv: iv,
                      keyFormat: "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed", keyFormatVersions: "1",
                      samplesCarryIVs: samplesCarryIVs)
    }

    /// PlayReady's key: its header object (UTF-16 XML inside) as a `data:` URI.
    public static func playReady(method: Method, object: [UInt8], iv: [UInt8]?, samplesCarryIVs: Bool = false) -> HLSSegmentKey {
        HLSSegmentKey(method: method, uri: "data:text/plain;charset=UTF-16;base64," + Base64.encode(object), iv: iv,
                      keyFormat: "com.microsoft.playready", keyFormatVersions: "1", samplesCarryIVs: samplesCarryIVs)
    }

    /// FairPlay Streaming's `KEYFORMAT` (`hls.playout=sample_aes_streamingkeydelivery`), whose
    /// players ask the key server an `skd://` URI names.
    public static let streamingKeyDelivery = (keyFormat: "com.apple.streamingkeydelivery", versions: "1")

    /// The lowest `EXT-X-VERSION` of a playlist with this key: 2 for an `IV` attribute; 5 for
    /// `KEYFORMAT` (RFC 8216 §7) and for `SAMPLE-AES`, which drafts of the protocol tied to version 5
    /// and which no client older than that plays.
    public var minimumVersion: Int {
        method != .aes128 || keyFormat != nil ? 5 : (iv != nil ? 2 : 1)
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

    /// Whether segments take their IV from the playlist (not for `SAMPLE-AES-CTR`, whose IVs are
    /// each sample's own, in the segment).
    var ivFromPlaylist: Bool { !samplesCarryIVs }

    /// The `EXT-X-KEY` line (or `tag`'s), with `IV` set to ``iv``, or to segment `number`'s when
    /// there is no fixed IV and the playlist's positions no longer give segments their URL numbers.
    func line(segment number: Int? = nil, tag: String = "#EXT-X-KEY") -> String {
        var out = "\(tag):METHOD=\(method.rawValue),URI=\"\(HLSPlaylistWriter.quoted(uri))\""
        if ivFromPlaylist, iv != nil || number != nil {
            out += ",IV=0x" + Hex.string(iv(segment: number ?? 0), uppercase: true)
        }
        if let keyFormat {
            out += ",KEYFORMAT=\"\(HLSPlaylistWriter.quoted(keyFormat))\""
            if let keyFormatVersions { out += ",KEYFORMATVERSIONS=\"\(HLSPlaylistWriter.quoted(keyFormatVersions))\"" }
        }
        return out + "\n"
    }
}
