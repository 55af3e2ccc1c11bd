import ByteIO

/// A malformed or over-limit XML document, with the position where reading stopped.
public struct XMLError: StatusCodedError, Equatable, CustomStringConvertible {
    /// Which of the ``XMLLimits`` a document went past.
    public enum Limit: Sendable, Equatable { case depth, attributesPerElement, elements }

    /// What was wrong, in a few words.
    public var reason: String
    /// 1-based line of the offending byte.
    public var line: Int
    /// 1-based column of the offending byte, counted in bytes.
    public var column: Int
    /// 0-based byte offset of the offending byte.
    public var offset: Int
    /// The limit the document went past, or nil when it is malformed.
    public var exceeded: Limit?
    /// 400 by default: XML usually arrives from a client. Callers reading operator data map it.
    public var httpStatus: Int

    public init(reason: String, line: Int, column: Int, offset: Int, exceeded: Limit? = nil, httpStatus: Int = 400) {
        self.reason = reason
        self.line = line
        self.column = column
        self.offset = offset
        self.exceeded = exceeded
        self.httpStatus = httpStatus
    }

    public var logReason: String { "malformed XML at line \(line), column \(column): \(reason)" }
    public var description: String { logReason }
}
