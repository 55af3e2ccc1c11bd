import MediaModel

/// How one input track is carried: its PID, PMT entry, PES stream id and framing.
final class ElementaryStream {
    enum Framing {
        /// Length-prefixed NAL units converted to Annex B.
        case annexB(AnnexB)
        /// Raw AAC frames, each given an ADTS header.
        case adts(ADTSHeader)
        /// Frames that are already self-delimiting (AC-3, E-AC-3), copied as they are.
        case passThrough
    }

    static let videoPID: UInt16 = 0x100
    static let audioPID: UInt16 = 0x101

    let input: TSInput
    let pid: UInt16
    let isVideo: Bool
    let streamType: UInt8
    let streamID: UInt8
    /// ES_info descriptors for the PMT (AC-3 under sample encryption adds its setup information
    /// once the first frame is read).
    var descriptors: [UInt8]
    /// Whether the samples are encrypted (HLS SAMPLE-AES).
    let encrypted: Bool
    let framing: Framing

    /// `encrypted`: the samples will be encrypted (HLS SAMPLE-AES), which changes the stream type
    /// and descriptors; codecs the format does not cover are refused.
    init(_ input: TSInput, encrypted: Bool = false) throws(MPEGTSError) {
        self.input = input
        let track = input.track
        let type: UInt8
        let info: [UInt8]
        switch track.codec {
        case .avc(let config):
            guard track.kind == .video else { throw .unsupportedTrack("AVC in a \(track.kind) track") }
            isVideo = true
            type = 0x1B
            info = []
            framing = .annexB(try AnnexB(avc: config))
        case .hevc(let config):
            guard track.kind == .video else { throw .unsupportedTrack("HEVC in a \(track.kind) track") }
            isVideo = true
            type = 0x24
            info = []
            framing = .annexB(try AnnexB(hevc: config))
        case .aac(let config):
            guard track.kind == .audio else { throw .unsupportedTrack("AAC in a \(track.kind) track") }
            isVideo = false
            type = 0x0F
            info = []
            framing = .adts(try ADTSHeader(config))
        case .ac3(let specific):
            guard track.kind == .audio else { throw .unsupportedTrack("AC-3 in a \(track.kind) track") }
            isVideo = false
            type = 0x81
            info = Descriptors.registration("AC-3") + Descriptors.atscAC3(dac3: specific)
            framing = .passThrough
        case .eac3:
            guard track.kind == .audio else { throw .unsupportedTrack("E-AC-3 in a \(track.kind) track") }
            isVideo = false
            type = 0x87
            info = Descriptors.registration("EAC3")
            framing = .passThrough
        case .other:
            throw .unsupportedTrack("\(track.kind) track \(track.trackID) (\(track.sampleEntryType)) has no TS mapping")
        }
        if encrypted {
            guard let signal = SampleEncryptionSignal.signal(track.codec) else {
                throw .notEncryptable("\(track.kind) track \(track.trackID) (\(track.sampleEntryType)) has no SAMPLE-AES form in MPEG-TS")
            }
            (streamType, descriptors) = signal
        } else {
            (streamType, descriptors) = (type, info)
        }
        self.encrypted = encrypted
        pid = isVideo ? Self.videoPID : Self.audioPID
        // PES stream ids: video 0xE0, MPEG audio 0xC0, AC-3 family private_stream_1.
        switch framing {
        case .annexB: streamID = 0xE0
        case .adts: streamID = 0xC0
        case .passThrough: streamID = 0xBD
        }
        try Self.validate(input)
    }

    /// Checks that every sample index of the range exists in every array of the table, so the
    /// writer can index without trapping.
    private static func validate(_ input: TSInput) throws(MPEGTSError) {
        let table = input.track.samples
        let range = input.samples
        guard range.lowerBound >= 0, range.upperBound <= table.sizes.count,
              range.upperBound <= table.decodeTimes.count, range.upperBound <= table.durations.count,
              range.upperBound <= table.offsets.count,
              table.compositionOffsets.isEmpty || range.upperBound <= table.compositionOffsets.count,
              table.syncFlags.isEmpty || range.upperBound <= table.syncFlags.count else {
            throw .invalidInput("samples \(range) outside the table of track \(input.track.trackID) (\(table.count) samples)")
        }
        guard input.track.timescale > 0 else {
            throw .invalidInput("track \(input.track.trackID) has timescale 0")
        }
    }

    /// Splits the inputs into at most one video and one audio stream.
    static func streams(_ inputs: [TSInput], encrypted: Bool = false) throws(MPEGTSError)
        -> (video: ElementaryStream?, audio: ElementaryStream?) {
        var video: ElementaryStream?
        var audio: ElementaryStream?
        for input in inputs {
            let stream = try ElementaryStream(input, encrypted: encrypted)
            if stream.isVideo {
                guard video == nil else { throw .invalidInput("more than one video track") }
                video = stream
            } else {
                guard audio == nil else { throw .invalidInput("more than one audio track") }
                audio = stream
            }
        }
        guard video != nil || audio != nil else { throw .invalidInput("no tracks") }
        return (video, audio)
    }
}

/// PMT descriptors.
enum Descriptors {
    /// registration_descriptor (tag 5) with a four-character format identifier and
    /// `additional` identification info (the caller keeps it under 252 bytes).
    static func registration(_ formatIdentifier: String, additional: [UInt8] = []) -> [UInt8] {
        [0x05, UInt8(truncatingIfNeeded: 4 &+ additional.count)] + Array(formatIdentifier.utf8.prefix(4)) + additional
    }

    /// The ATSC A/52 AC-3 audio descriptor (tag 0x81), its three leading bytes, from a `dac3` payload
    /// (fscod 2, bsid 5, bsmod 3, acmod 3, lfeon 1, bit_rate_code 5). Empty if the payload is short.
    static func atscAC3(dac3: [UInt8]) -> [UInt8] {
        guard dac3.count >= 3 else { return [] }
        let bits = UInt32(dac3[0]) << 16 | UInt32(dac3[1]) << 8 | UInt32(dac3[2])
        let fscod = UInt8(truncatingIfNeeded: bits >> 22) & 0x03
        let bsid = UInt8(truncatingIfNeeded: bits >> 17) & 0x1F
        let bsmod = UInt8(truncatingIfNeeded: bits >> 14) & 0x07
        let acmod = UInt8(truncatingIfNeeded: bits >> 11) & 0x07
        let bitRateCode = UInt8(truncatingIfNeeded: bits >> 5) & 0x1F
        return [
            0x81, 0x03,
            fscod << 5 | bsid,
            // bit_rate_code (6 bits, exact rate), surround_mode 0 (not indicated).
            bitRateCode << 2,
            // bsmod, num_channels (= acmod for 0...7), full_svc 1.
            bsmod << 5 | acmod << 1 | 0x01,
        ]
    }
}
