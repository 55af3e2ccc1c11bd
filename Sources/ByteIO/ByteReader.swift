/// A bounds-checked big-endian cursor over bytes read from untrusted input.
///
/// Every read checks the remaining length first and throws ``ByteReaderError/truncated`` on short
/// input; nothing here traps on malformed data. A reader can be narrowed to a sub-range
/// (``subReader(count:)``) so a box parser cannot read past its own box.
public struct ByteReader: Sendable {
    public let bytes: [UInt8]
    /// Absolute index of the next byte to read.
    public private(set) var position: Int
    /// Absolute index one past the last readable byte.
    public let end: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.position = 0
        self.end = bytes.count
    }

    public init(_ bytes: ArraySlice<UInt8>) {
        self.init(Array(bytes))
    }

    private init(bytes: [UInt8], position: Int, end: Int) {
        self.bytes = bytes
        self.position = position
        self.end = end
    }

    public var remaining: Int { end - position }
    public var isAtEnd: Bool { position >= end }

    @inline(__always)
    private func require(_ count: Int) throws(ByteReaderError) {
        guard count >= 0, count <= end - position else {
            throw .truncated(needed: count, available: end - position)
        }
    }

    public mutating func readUInt8() throws(ByteReaderError) -> UInt8 {
        try require(1)
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func readUInt16() throws(ByteReaderError) -> UInt16 {
        try require(2)
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    public mutating func readUInt24() throws(ByteReaderError) -> UInt32 {
        try require(3)
        defer { position += 3 }
        return UInt32(bytes[position]) << 16 | UInt32(bytes[position + 1]) << 8 | UInt32(bytes[position + 2])
    }

    public mutating func readUInt32() throws(ByteReaderError) -> UInt32 {
        try require(4)
        defer { position += 4 }
        var value: UInt32 = 0
        for i in 0..<4 { value = value << 8 | UInt32(bytes[position + i]) }
        return value
    }

    public mutating func readUInt64() throws(ByteReaderError) -> UInt64 {
        try require(8)
        defer { position += 8 }
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(bytes[position + i]) }
        return value
    }

    public mutating func readInt16() throws(ByteReaderError) -> Int16 { Int16(bitPattern: try readUInt16()) }
    public mutating func readInt32() throws(ByteReaderError) -> Int32 { Int32(bitPattern: try readUInt32()) }
    public mutating func readInt64() throws(ByteReaderError) -> Int64 { Int64(bitPattern: try readUInt64()) }

    /// Reads `count` bytes as a new array.
    public mutating func readBytes(_ count: Int) throws(ByteReaderError) -> [UInt8] {
        try require(count)
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    /// Reads a four-character code (box type, sample entry type) as a `String`.
    /// Bytes outside printable ASCII are kept as their Latin-1 scalars, so the result is never empty.
    public mutating func readFourCC() throws(ByteReaderError) -> String {
        try require(4)
        defer { position += 4 }
        return FourCC.string(bytes[position..<position + 4])
    }

    public mutating func skip(_ count: Int) throws(ByteReaderError) {
        try require(count)
        position += count
    }

    /// Moves to an absolute position inside this reader's window.
    public mutating func seek(to absolute: Int) throws(ByteReaderError) {
        guard absolute >= 0, absolute <= end else {
            throw .outOfRange(position: absolute, end: end)
        }
        position = absolute
    }

    /// A reader limited to the next `count` bytes; this reader moves past them.
    public mutating func subReader(count: Int) throws(ByteReaderError) -> ByteReader {
        try require(count)
        let sub = ByteReader(bytes: bytes, position: position, end: position + count)
        position += count
        return sub
    }

    /// A reader over the rest of this reader's window; this reader moves to its end.
    public mutating func restReader() -> ByteReader {
        let sub = ByteReader(bytes: bytes, position: position, end: end)
        position = end
        return sub
    }

    /// Bytes of the window that are not read yet, without moving.
    public var remainingBytes: ArraySlice<UInt8> { bytes[position..<end] }

    /// Reads a NUL-terminated UTF-8 string, or up to the end of the window when there is no NUL.
    public mutating func readCString() -> String {
        var stop = position
        while stop < end && bytes[stop] != 0 { stop += 1 }
        let text = String(decoding: bytes[position..<stop], as: UTF8.self)
        position = stop < end ? stop + 1 : end
        return text
    }
}

public enum ByteReaderError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case outOfRange(position: Int, end: Int)

    public var description: String {
        switch self {
        case .truncated(let needed, let available): "truncated: needed \(needed) bytes, \(available) left"
        case .outOfRange(let position, let end): "position \(position) outside 0...\(end)"
        }
    }
}

public enum FourCC {
    public static func string(_ bytes: some Collection<UInt8>) -> String {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }
}
