import ByteIO

/// Why an ingest POST was refused or stopped. Each case is one HTTP status and one log line; what
/// was committed before the error stays as it was.
public enum LiveIngestError: StatusCodedError, Equatable {
    /// The request path is not `<x>.isml/[Events(id)/]Streams(name)` or the name is unusable.
    case badPath(String)
    /// Bytes that are not a well-formed box stream, or a fragment that contradicts itself.
    case brokenBox(String)
    /// A fragment (or a whole box) larger than the configured bound.
    case tooLarge(String)
    /// A fragment for a track the stream's `moov` did not announce.
    case unannouncedTrack(UInt32)
    /// A track announced again with another sample entry (codec or its configuration).
    case codecChanged(trackID: UInt32, was: String, now: String)
    /// A fragment starting before the previous one of its track ended (in the same connection), or
    /// overlapping stored fragments without being one of them (another connection's).
    case timeWentBackwards(trackID: UInt32, time: Int64, previousEnd: Int64)
    /// Valid input we do not ingest (yet).
    case unsupported(String)
    /// The store could not be written or read (disk, permissions).
    case storage(String)

    public var httpStatus: Int {
        switch self {
        case .badPath, .brokenBox, .unannouncedTrack: 400
        case .tooLarge: 413
        case .codecChanged, .timeWentBackwards: 409
        case .unsupported: 415
        case .storage: 500
        }
    }

    public var logReason: String {
        switch self {
        case .badPath(let why): "live ingest: bad publishing point path: \(why)"
        case .brokenBox(let why): "live ingest: broken input: \(why)"
        case .tooLarge(let why): "live ingest: too large: \(why)"
        case .unannouncedTrack(let id): "live ingest: fragment for track \(id), which the moov did not announce"
        case .codecChanged(let id, let was, let now): "live ingest: track \(id) changed its codec mid-stream (\(was) -> \(now))"
        case .timeWentBackwards(let id, let time, let end):
            "live ingest: track \(id) went back in time (fragment at \(time), previous one ended at \(end))"
        case .unsupported(let what): "live ingest: unsupported: \(what)"
        case .storage(let why): "live ingest: store: \(why)"
        }
    }
}
