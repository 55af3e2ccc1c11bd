import ByteIO

/// Why a media file could not be read. Every case names the box and the problem in one line.
public enum ISOBMFFError: StatusCodedError, Equatable {
    /// The bytes contradict the format (sizes, counts, tables that disagree).
    case malformed(box: String, reason: String)
    /// Valid but not something we serve (external data references, unknown layouts).
    case unsupported(String)
    /// The index would exceed a configured limit (index bytes, samples, nesting).
    case limitExceeded(String)

    public var httpStatus: Int {
        switch self {
        case .malformed, .limitExceeded: 500
        case .unsupported: 501
        }
    }

    public var logReason: String {
        switch self {
        case .malformed(let box, let reason): "malformed MP4: \(box): \(reason)"
        case .unsupported(let what): "unsupported MP4: \(what)"
        case .limitExceeded(let what): "MP4 index limit exceeded: \(what)"
        }
    }
}

/// Bounds on what reading one file may allocate, so hostile input cannot exhaust memory.
public struct ReadLimits: Sendable, Equatable {
    /// Total bytes of index boxes (`moov`, `moof`) read into memory.
    public var maxIndexBytes: UInt64
    /// Samples in one track.
    public var maxSamplesPerTrack: Int
    /// Nesting depth of boxes.
    public var maxBoxDepth: Int
    /// Samples in all tracks of one file together. A few bytes of `stsz`/`stts`/`stsc` (or of a
    /// `trun` with default sizes) can claim millions of samples, and a `moov` can repeat such a
    /// track many times: without this bound, memory would grow with the number of tracks.
    public var maxSamplesPerFile: Int

    public init(maxIndexBytes: UInt64, maxSamplesPerTrack: Int, maxBoxDepth: Int, maxSamplesPerFile: Int? = nil) {
        self.maxIndexBytes = maxIndexBytes
        self.maxSamplesPerTrack = maxSamplesPerTrack
        self.maxBoxDepth = maxBoxDepth
        self.maxSamplesPerFile = maxSamplesPerFile ?? maxSamplesPerTrack.multipliedReportingOverflow(by: 4).partialValue
    }

    /// 8 million samples per track (a day of 60 fps video is 5.2 million), 32 million per file:
    /// about 24 bytes each in memory, so one file's index stays below ~800 MB.
    public static let `default` = ReadLimits(maxIndexBytes: 256 << 20, maxSamplesPerTrack: 8_000_000, maxBoxDepth: 16,
                                             maxSamplesPerFile: 32_000_000)
}

extension ByteReaderError {
    /// A short read inside a box: the box is truncated or its fields lie about their sizes.
    func inBox(_ box: String) -> ISOBMFFError { .malformed(box: box, reason: description) }
}
