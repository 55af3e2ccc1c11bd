import ByteIO

/// A server manifest that cannot be used. It is operator data, so the answer is a 500.
public struct ServerManifestError: StatusCodedError, Equatable, CustomStringConvertible {
    /// What was wrong, in a few words.
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var httpStatus: Int { 500 }
    public var logReason: String { "bad server manifest: \(reason)" }
    public var description: String { logReason }
}
