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

    /// Appends a file range, merging it into the previous piece when it continues the same range.
    public mutating func appendFileRange(locator: String, offset: UInt64, length: UInt64) {
        guard length > 0 else { return }
        if case .file(let l, let o, let n)? = last, l == locator, o &+ n == offset {
            self[count - 1] = .file(locator: l, offset: o, length: n &+ length)
        } else {
            append(.file(locator: locator, offset: offset, length: length))
        }
    }
}
