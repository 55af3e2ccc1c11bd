/// Random access to the bytes of one stored object (a local file or, later, an upstream URL).
/// Implementations must be safe to call from several threads at once.
public protocol RandomAccessReader: Sendable {
    /// Total size in bytes.
    var size: UInt64 { get }
    /// Reads exactly `count` bytes at `offset`; throws when the object is shorter.
    func read(at offset: UInt64, count: Int) throws -> [UInt8]
}

/// An in-memory object, used by tests and the fuzz targets.
public struct MemoryReader: RandomAccessReader {
    public let data: [UInt8]
    public init(_ data: [UInt8]) { self.data = data }
    public var size: UInt64 { UInt64(data.count) }
    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard count >= 0, offset <= UInt64(data.count), UInt64(count) <= UInt64(data.count) - offset else {
            throw ByteReaderError.truncated(needed: count, available: max(0, data.count - Int(clamping: offset)))
        }
        let start = Int(offset)
        return Array(data[start..<start + count])
    }
}
