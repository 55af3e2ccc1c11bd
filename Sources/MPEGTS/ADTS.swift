import MediaModel

/// The fixed part of a 7-byte ADTS header (MPEG-4, no CRC) for one AAC configuration.
struct ADTSHeader {
    static let size = 7
    /// ADTS can describe frames up to 13 bits of length, header included.
    static let maxFrameLength = 0x1FFF

    let profile: UInt8
    let samplingFrequencyIndex: UInt8
    let channelConfiguration: UInt8

    init(_ config: AACConfiguration) throws(MPEGTSError) {
        switch config.objectType {
        case 1...4:
            profile = config.objectType - 1
        case 5, 29:
            // HE-AAC (v2) is signalled implicitly: the core is AAC-LC at the core sampling rate,
            // which is the first sampling frequency index of the AudioSpecificConfig.
            profile = 1
        default:
            throw .unsupportedTrack("AAC object type \(config.objectType) cannot be framed as ADTS")
        }
        guard config.samplingFrequencyIndex <= 12 else {
            throw .unsupportedTrack("AAC sampling frequency index \(config.samplingFrequencyIndex) cannot be framed as ADTS")
        }
        guard config.channelConfiguration <= 7 else {
            throw .unsupportedTrack("AAC channel configuration \(config.channelConfiguration) cannot be framed as ADTS")
        }
        samplingFrequencyIndex = config.samplingFrequencyIndex
        channelConfiguration = config.channelConfiguration
    }

    /// Appends the header for a raw frame of `payloadSize` bytes; the caller checked
    /// `payloadSize + 7 <= maxFrameLength`.
    func append(payloadSize: Int, to out: inout [UInt8]) {
        let length = (payloadSize &+ Self.size) & Self.maxFrameLength
        out.append(0xFF)
        out.append(0xF1)  // MPEG-4, layer 0, protection absent
        out.append(profile << 6 | samplingFrequencyIndex << 2 | channelConfiguration >> 2)
        out.append((channelConfiguration & 0x03) << 6 | UInt8(truncatingIfNeeded: length >> 11))
        out.append(UInt8(truncatingIfNeeded: length >> 3))
        out.append(UInt8(truncatingIfNeeded: length & 0x07) << 5 | 0x1F)  // buffer fullness 0x7FF (VBR)
        out.append(0xFC)  // one raw data block
    }
}
