/// One piece of a response body: bytes the engine generated, or a byte range of a source object
/// that the web server can send without copying (sendfile).
public enum BodyPiece: Sendable, Equatable {
    case bytes([UInt8])
    case file(locator: String, offset: UInt64, length: UInt64)

    public var length: UInt64 {
        switch self {
        case .bytes(let b): UInt64(b.count)
        case .file(_, _, let length): length
        }
    }
}

extension Array where Element == BodyPiece {
    public var totalLength: UInt64 { reduce(0) { $0 &+ $1.length } }
}
