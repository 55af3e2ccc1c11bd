import MediaModel

/// Sample encryption of a segment (HLS SAMPLE-AES), done by the caller: the writer knows no
/// cipher. It signals the encryption in the PMT (Apple's stream types, `private_data_indicator`
/// descriptors and the audio setup information) and hands every video NAL unit and every audio
/// frame to this hook as it builds the PES packets.
public protocol TSSampleEncrypter: AnyObject {
    /// Appends one H.264 NAL unit (as the stream carries it, without start code) in its encrypted
    /// form, which may be longer (emulation prevention is applied again after encryption).
    func appendVideoNAL(_ nal: UnsafeRawBufferPointer, to out: inout [UInt8]) throws
    /// Encrypts one audio frame of `bytes` in place; `frame` includes its `headerLength` header
    /// bytes (ADTS), which stay clear.
    func encryptAudioFrame(_ bytes: inout [UInt8], frame: Range<Int>, headerLength: Int) throws
}

extension TransportStreamWriter {
    /// Whether samples of `codec` can be encrypted in a transport stream (HLS SAMPLE-AES covers
    /// H.264, AAC, AC-3 and E-AC-3).
    public static func canEncryptSamples(of codec: CodecConfiguration) -> Bool {
        SampleEncryptionSignal.signal(codec) != nil
    }
}

/// The PMT signalling of Apple's "MPEG-2 Stream Encryption Format for HTTP Live Streaming" §3
/// (stream types and descriptors) and §2.3.4 (audio setup information).
enum SampleEncryptionSignal {
    /// Stream type and ES_info descriptors of an encrypted stream of `codec`; nil for codecs the
    /// format does not cover (HEVC, anything but H.264, AAC, AC-3 and E-AC-3).
    static func signal(_ codec: CodecConfiguration) -> (streamType: UInt8, descriptors: [UInt8])? {
        switch codec {
        case .avc: (0xDB, privateDataIndicator("zavc"))
        case .aac(let config):
            // Setup data: the AudioSpecificConfig.
            (0xCF, privateDataIndicator("aacd") + audioSetup(aacType(config.objectType), setup: config.specificConfig))
        // AC-3's setup data is the start of a syncframe, known once the segment's first frame is
        // read (``ac3Setup(frame:)``).
        case .ac3: (0xC1, privateDataIndicator("ac3d"))
        // E-AC-3's is the `dec3` payload (EC3SpecificBox).
        case .eac3(let dec3): (0xC2, privateDataIndicator("ec3d") + audioSetup("zec3", setup: dec3))
        case .hevc, .other: nil
        }
    }

    /// The AC-3 setup descriptor from a segment's first syncframe: its syncinfo and the start of
    /// its bsi (10 bytes), which decrypters parse as an AC-3 frame header (ffmpeg does).
    static func ac3Setup(frame: UnsafeRawBufferPointer) -> [UInt8] {
        audioSetup("zac3", setup: Array(frame.prefix(10)))
    }

    /// AAC-LC `zaac`, HE-AAC (SBR) `zach`, HE-AACv2 (PS) `zacp`.
    private static func aacType(_ objectType: UInt8) -> String {
        switch objectType {
        case 5: "zach"
        case 29: "zacp"
        default: "zaac"
        }
    }

    /// private_data_indicator_descriptor (tag 15) with a four-character value.
    static func privateDataIndicator(_ fourCC: String) -> [UInt8] {
        [0x0F, 0x04] + Array(fourCC.utf8.prefix(4))
    }

    /// A registration_descriptor 'apad' carrying the audio setup information: audio_type,
    /// priming (2 bytes, 0: not known), version 1, setup_data_length and setup_data. Empty if the
    /// setup data cannot fit a descriptor (255 bytes).
    static func audioSetup(_ audioType: String, setup: [UInt8]) -> [UInt8] {
        let information = Array(audioType.utf8.prefix(4)) + [0x00, 0x00, 0x01]
        guard setup.count <= 255 - 4 - information.count - 1 else { return [] }
        return Descriptors.registration("apad", additional: information + [UInt8(setup.count)] + setup)
    }

    /// The syncframes of an E-AC-3 sample, which may hold several (independent and dependent
    /// substreams, or frames of fewer than six blocks): SAMPLE-AES protects each syncframe on its
    /// own, as decrypters find them. Each starts with the sync word and gives its size in `frmsiz`
    /// (ETSI TS 102 366 E.1.3.1.3: 16-bit words minus one). The whole sample when they do not tile it.
    static func eac3Syncframes(_ sample: UnsafeRawBufferPointer) -> [Range<Int>] {
        var frames: [Range<Int>] = []
        var at = 0
        while at < sample.count {
            guard sample.count &- at >= 4, sample[at] == 0x0B, sample[at &+ 1] == 0x77 else { return [0..<sample.count] }
            let size = ((Int(sample[at &+ 2]) & 0x07) << 8 | Int(sample[at &+ 3])) &+ 1
            guard size &* 2 <= sample.count &- at else { return [0..<sample.count] }
            frames.append(at..<(at &+ size &* 2))
            at &+= size &* 2
        }
        return frames.isEmpty ? [0..<sample.count] : frames
    }
}
