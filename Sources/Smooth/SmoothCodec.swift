import MediaModel

/// How a track is described in a Smooth client manifest: there is no init segment, so the
/// `QualityLevel` attributes are all a client knows about the codec.
public struct SmoothCodec: Sendable, Equatable {
    /// `H264`, `HVC1`/`HEV1`, `AACL`, `AC-3`, `EC-3`, `TTML` (text).
    public var fourCC: String
    /// Hex (upper case): H.264 and HEVC parameter sets each preceded by `00000001`; the AAC
    /// AudioSpecificConfig; the `dac3`/`dec3` payload for AC-3 and E-AC-3.
    public var codecPrivateData: String
    /// WAVE format tag for audio (255 AAC, 0x2000 AC-3, 65534 E-AC-3), nil for video.
    public var audioTag: Int?

    /// The description of `track`, or nil when Smooth cannot carry it (``MediaModel/Track/fourCC``).
    public init?(track: Track) {
        guard let fourCC = track.fourCC else { return nil }
        self.fourCC = fourCC
        switch track.codec {
        case .avc(let c):
            codecPrivateData = (c.sps + c.pps).map { "00000001" + Self.hex($0) }.joined()
            audioTag = nil
        case .hevc(let c):
            codecPrivateData = c.parameterSets.map { "00000001" + Self.hex($0) }.joined()
            audioTag = nil
        case .aac(let c):
            codecPrivateData = Self.hex(c.specificConfig)
            audioTag = 255
        case .ac3(let specific):
            codecPrivateData = Self.hex(specific)
            audioTag = 0x2000
        case .eac3(let specific):
            codecPrivateData = Self.hex(specific)
            audioTag = 65534
        default:
            // Text fragments carry TTML documents: nothing to describe.
            codecPrivateData = ""
            audioTag = nil
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
