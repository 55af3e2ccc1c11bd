import ByteIO
import MediaModel

/// What FLV (Adobe FLV specification 10.1, E.4.2/E.4.3) can carry of a track: H.264 video
/// (CodecID 7) and AAC audio (SoundFormat 10). Other codecs have no place in HDS here.
public enum FLVCodec: Sendable, Equatable {
    /// H.264: the AVCDecoderConfigurationRecord sent in the sequence header tag.
    case avc(configuration: [UInt8])
    /// AAC: the AudioSpecificConfig sent in the sequence header tag.
    case aac(specificConfig: [UInt8])

    /// nil for codecs FLV cannot carry (HEVC, AC-3, E-AC-3, text, unknown).
    public init?(track: Track) {
        switch track.codec {
        case .avc(let c) where track.kind == .video:
            self = .avc(configuration: Self.avcC(in: track.sampleEntry) ?? Self.record(c))
        case .aac(let c) where track.kind == .audio && !c.specificConfig.isEmpty:
            self = .aac(specificConfig: c.specificConfig)
        default:
            return nil
        }
    }

    /// The `avcC` payload of an `avc1`/`avc3` sample entry as stored (byte for byte), or nil.
    static func avcC(in entry: [UInt8]) -> [UInt8]? {
        var r = ByteReader(entry)
        do {
            // Box header (8), SampleEntry (8) and VisualSampleEntry (70) fields, then child boxes.
            try r.skip(8 + 8 + 70)
            while r.remaining >= 8 {
                let size = Int(try r.readUInt32())
                let type = try r.readFourCC()
                guard size >= 8 else { return nil }
                var payload = try r.subReader(count: size - 8)
                if type == "avcC" { return try payload.readBytes(payload.remaining) }
            }
        } catch {
            return nil
        }
        return nil
    }

    /// An AVCDecoderConfigurationRecord rebuilt from the parsed configuration (when the sample
    /// entry cannot be read again): version 1, profile, compatibility, level, NAL length size and
    /// the parameter sets.
    static func record(_ c: AVCConfiguration) -> [UInt8] {
        var w = ByteWriter(capacity: 16 + (c.sps + c.pps).reduce(0) { $0 + $1.count + 2 })
        w.writeUInt8(1)
        w.writeUInt8(c.profile)
        w.writeUInt8(c.compatibility)
        w.writeUInt8(c.level)
        w.writeUInt8(0xFC | UInt8(truncatingIfNeeded: max(c.nalLengthSize, 1) - 1) & 3)
        let sps = c.sps.prefix(31).filter { $0.count <= Int(UInt16.max) }
        w.writeUInt8(0xE0 | UInt8(sps.count))
        for s in sps { w.writeUInt16(UInt16(s.count)); w.write(s) }
        let pps = c.pps.prefix(255).filter { $0.count <= Int(UInt16.max) }
        w.writeUInt8(UInt8(pps.count))
        for p in pps { w.writeUInt16(UInt16(p.count)); w.write(p) }
        return w.take()
    }
}
