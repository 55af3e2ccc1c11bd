/// Big-endian writer into a growable byte array, used for every generated structure
/// (boxes, TS packets, manifests).
///
/// The fixed-size writes are `@inlinable`: `moof` and TS headers call them once per sample from
/// other modules, where a call per byte written would cost more than the write.
public struct ByteWriter: Sendable {
    @usableFromInline var storage: [UInt8]

    public init(capacity: Int = 256) {
        storage = []
        storage.reserveCapacity(capacity)
    }

    /// The bytes written so far.
    public var bytes: [UInt8] { storage }
    public var count: Int { storage.count }

    @inlinable @inline(__always) public mutating func writeUInt8(_ v: UInt8) { storage.append(v) }
    @inlinable @inline(__always) public mutating func writeUInt16(_ v: UInt16) {
        storage.append(UInt8(truncatingIfNeeded: v >> 8))
        storage.append(UInt8(truncatingIfNeeded: v))
    }
    @inlinable public mutating func writeUInt24(_ v: UInt32) {
        storage.append(UInt8(truncatingIfNeeded: v >> 16))
        writeUInt16(UInt16(truncatingIfNeeded: v))
    }
    @inlinable @inline(__always) public mutating func writeUInt32(_ v: UInt32) {
        writeUInt16(UInt16(truncatingIfNeeded: v >> 16))
        writeUInt16(UInt16(truncatingIfNeeded: v))
    }
    @inlinable public mutating func writeUInt64(_ v: UInt64) {
        writeUInt32(UInt32(truncatingIfNeeded: v >> 32))
        writeUInt32(UInt32(truncatingIfNeeded: v))
    }
    @inlinable @inline(__always) public mutating func writeInt32(_ v: Int32) { writeUInt32(UInt32(bitPattern: v)) }
    @inlinable public mutating func writeInt64(_ v: Int64) { writeUInt64(UInt64(bitPattern: v)) }

    /// Appends `count` big-endian 32-bit words, word `k` being `word(k)`, growing the buffer once:
    /// for tables written per sample (`trun`), where appending byte by byte dominates. `word` must
    /// not touch this writer (it is being written).
    @inlinable public mutating func writeUInt32s(count: Int, _ word: (Int) -> UInt32) {
        guard count > 0 else { return }
        let start = storage.count
        storage.append(contentsOf: repeatElement(0, count: count &* 4))
        storage.withUnsafeMutableBytes { raw in
            for k in 0..<count {
                raw.storeBytes(of: word(k).bigEndian, toByteOffset: start &+ k &* 4, as: UInt32.self)
            }
        }
    }

    public mutating func write(_ data: some Sequence<UInt8>) { storage.append(contentsOf: data) }
    public mutating func write(_ text: String) { storage.append(contentsOf: text.utf8) }
    /// A four-character code such as `"moof"`: a literal, so no string is built per box. Codes are
    /// ASCII; shorter ones are padded with spaces and only the first four bytes of longer ones count.
    @inlinable public mutating func writeFourCC(_ code: StaticString) {
        code.withUTF8Buffer { p in
            for i in 0..<4 { storage.append(i < p.count ? p[i] : 0x20) }
        }
    }
    public mutating func writeZeros(_ count: Int) {
        if count > 0 { storage.append(contentsOf: repeatElement(0, count: count)) }
    }

    /// Overwrites four bytes at `index` (used to patch sizes written as placeholders).
    @inlinable public mutating func patchUInt32(_ v: UInt32, at index: Int) {
        guard index >= 0, index <= storage.count &- 4 else { return }
        storage[index] = UInt8(truncatingIfNeeded: v >> 24)
        storage[index + 1] = UInt8(truncatingIfNeeded: v >> 16)
        storage[index + 2] = UInt8(truncatingIfNeeded: v >> 8)
        storage[index + 3] = UInt8(truncatingIfNeeded: v)
    }

    /// Writes a 32-bit length placeholder, runs `body`, then patches the placeholder with the
    /// number of bytes from the placeholder's start (inclusive) to the end: the ISO-BMFF box size rule.
    @inlinable public mutating func withSizePrefix32(_ body: (inout ByteWriter) throws -> Void) rethrows {
        let start = storage.count
        writeUInt32(0)
        try body(&self)
        patchUInt32(UInt32(clamping: storage.count - start), at: start)
    }

    /// Takes the bytes out, leaving the writer empty.
    public mutating func take() -> [UInt8] {
        defer { storage = [] }
        return storage
    }
}
