import ByteIO

/// Why an HDS answer could not be made: a fragment FLV cannot carry, or a bootstrap that does
/// not parse (the parser is used by tests and tools; the engine only writes bootstraps).
public enum HDSError: StatusCodedError, Equatable {
    /// The media cannot be put into FLV tags (a sample larger than a tag can hold, no codec
    /// configuration). The stored media is at fault, not the request.
    case cannotCarry(String)
    /// A bootstrap (`abst`) or fragment box that contradicts its own layout.
    case malformed(String)

    public var httpStatus: Int { 500 }

    public var logReason: String {
        switch self {
        case .cannotCarry(let what): "HDS: cannot carry \(what)"
        case .malformed(let what): "HDS: malformed \(what)"
        }
    }
}
