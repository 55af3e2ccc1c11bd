/// An error that the engine can answer with: an HTTP status and a one-line reason for the log.
/// Every module's error type conforms, so the engine maps errors in one place.
public protocol StatusCodedError: Error {
    /// The HTTP status the request is answered with.
    var httpStatus: Int { get }
    /// One line for Apache's error log; no newlines, no secrets.
    var logReason: String { get }
}

extension ByteReaderError: StatusCodedError {
    // Short reads surface inside a media parser and mean the stored media is malformed.
    public var httpStatus: Int { 500 }
    public var logReason: String { description }
}
