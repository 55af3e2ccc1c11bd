import ByteIO

/// Why a transport stream segment could not be written.
public enum MPEGTSError: Error, Equatable, Sendable, StatusCodedError {
    /// The track kind or codec cannot be carried in an HLS transport stream.
    case unsupportedTrack(String)
    /// The track's codec has no encrypted form in the transport stream (HLS SAMPLE-AES covers H.264,
    /// AAC, AC-3 and E-AC-3): refused rather than sent in the clear.
    case notEncryptable(String)
    /// More than one input of the same kind, or a sample range outside the sample table.
    case invalidInput(String)
    /// A NAL unit length prefix runs past the end of its sample.
    case malformedNALUnit(trackID: UInt32, sample: Int, reason: String)
    /// An audio frame does not fit in its framing (ADTS frame length is 13 bits).
    case malformedAudioFrame(trackID: UInt32, sample: Int, reason: String)
    /// The reader returned a different number of bytes than asked for.
    case shortRead(locator: String, offset: UInt64, expected: Int, got: Int)

    public var httpStatus: Int {
        switch self {
        case .unsupportedTrack: 404
        case .notEncryptable: 501
        case .invalidInput, .malformedNALUnit, .malformedAudioFrame, .shortRead: 500
        }
    }

    public var logReason: String {
        switch self {
        case .unsupportedTrack(let what): "MPEG-TS: unsupported track: \(what)"
        case .notEncryptable(let what): "MPEG-TS: cannot encrypt: \(what)"
        case .invalidInput(let what): "MPEG-TS: invalid input: \(what)"
        case .malformedNALUnit(let id, let sample, let reason):
            "MPEG-TS: malformed NAL unit in track \(id) sample \(sample): \(reason)"
        case .malformedAudioFrame(let id, let sample, let reason):
            "MPEG-TS: malformed audio frame in track \(id) sample \(sample): \(reason)"
        case .shortRead(let locator, let offset, let expected, let got):
            "MPEG-TS: short read of \(locator) at \(offset): expected \(expected) bytes, got \(got)"
        }
    }
}
