import ByteIO

/// FLV tag headers (Adobe FLV specification 10.1, E.4.1): what goes in front of every payload in an
/// HDS `mdat`. Each tag is `TagType` (8 audio, 9 video, 18 script), a 24-bit data size, a 32-bit
/// millisecond timestamp split into its low 24 bits and an extension byte, a zero stream id, the
/// data, and then the size of the whole tag (`PreviousTagSize`) after it.
public enum FLVTag {
    public static let audio: UInt8 = 8
    public static let video: UInt8 = 9
    public static let script: UInt8 = 18
    /// Bytes of a tag header.
    public static let headerSize = 11
    /// Largest tag data size (24 bits).
    public static let maxDataSize = 0xFF_FFFF

    /// The 11-byte tag header. `timestamp` is clamped to 0...Int32.max (FLV's SI32).
    public static func writeHeader(_ w: inout ByteWriter, type: UInt8, dataSize: Int, timestamp: Int64) {
        let ms = UInt32(clamping: min(max(timestamp, 0), Int64(Int32.max)))
        w.writeUInt8(type)
        w.writeUInt24(UInt32(clamping: min(max(dataSize, 0), maxDataSize)))
        w.writeUInt24(ms & 0xFF_FFFF)
        w.writeUInt8(UInt8(truncatingIfNeeded: ms >> 24))
        w.writeUInt24(0)
    }

    /// `VIDEODATA` + `AVCVIDEOPACKET` header (5 bytes): frame type (1 key frame, 2 inter frame)
    /// with CodecID 7, the packet type (0 sequence header, 1 NAL units) and the composition time
    /// offset in milliseconds (SI24, clamped).
    public static func writeAVCPrefix(_ w: inout ByteWriter, keyFrame: Bool, sequenceHeader: Bool, compositionTime: Int64) {
        w.writeUInt8((keyFrame ? 0x10 : 0x20) | 7)
        w.writeUInt8(sequenceHeader ? 0 : 1)
        let cts = Int32(clamping: min(max(compositionTime, -0x80_0000), 0x7F_FFFF))
        w.writeUInt24(UInt32(bitPattern: cts) & 0xFF_FFFF)
    }

    /// `AUDIODATA` + `AACAUDIODATA` header (2 bytes): SoundFormat 10 (AAC) with the rate, size
    /// and type bits the specification fixes for AAC (44 kHz, 16 bit, stereo: the decoder reads
    /// the real values from the AudioSpecificConfig), then the packet type (0 sequence header, 1 raw).
    public static func writeAACPrefix(_ w: inout ByteWriter, sequenceHeader: Bool) {
        w.writeUInt8(0xAF)
        w.writeUInt8(sequenceHeader ? 0 : 1)
    }
}
