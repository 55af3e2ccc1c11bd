/// Walks units that each follow a big-endian length of 1 to 4 bytes (the NAL units of an MP4 video
/// sample) in memory that is lent rather than owned, such as a mapped file: ``ByteReader``'s
/// checks for data that is not in an array. Every length is checked against what is left.
public struct LengthPrefixedUnits {
    public let bytes: UnsafeRawBufferPointer
    /// Bytes in each length field (1...4; anything else is treated as 4).
    public let lengthSize: Int
    /// Offset of the next length field.
    public private(set) var position = 0

    public init(_ bytes: UnsafeRawBufferPointer, lengthSize: Int) {
        self.bytes = bytes
        self.lengthSize = (1...4).contains(lengthSize) ? lengthSize : 4
    }

    public var isAtEnd: Bool { position >= bytes.count }
    public var remaining: Int { max(bytes.count &- position, 0) }

    /// The offsets of the next unit's bytes (its length field excluded), or nil at the end.
    /// Throws when a length field or the unit it announces runs past the end.
    public mutating func next() throws(ByteReaderError) -> Range<Int>? {
        guard !isAtEnd else { return nil }
        guard lengthSize <= remaining else { throw .truncated(needed: lengthSize, available: remaining) }
        var value: UInt64 = 0
        for i in 0..<lengthSize { value = value << 8 | UInt64(bytes[position &+ i]) }
        position &+= lengthSize
        guard value <= UInt64(remaining) else { throw .truncated(needed: Int(clamping: value), available: remaining) }
        let length = Int(value)
        let unit = position..<(position &+ length)
        position &+= length
        return unit
    }
}
