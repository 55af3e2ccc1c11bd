/// Big-endian writer into a growable byte array, used for every generated structure
/// (boxes, TS packets, manifests).
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func writeUInt8(_ v: UInt8) { bytes.append(v) }
    public mutating func writeUInt16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }
    public mutating func writeUInt24(_ v: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 16))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }
    public mutating func writeUInt32(_ v: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 24))
        bytes.append(UInt8(truncatingIfNeeded: v >> 16))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }
    public mutating func writeUInt64(_ v: UInt64) {
        writeUInt32(UInt32(truncatingIfNeeded: v >> 32))
        writeUInt32(UInt32(truncatingIfNeeded: v))
    }
    public mutating func writeInt32(_ v: Int32) { writeUInt32(UInt32(bitPattern: v)) }
    public mutating func writeInt64(_ v: Int64) { writeUInt64(UInt64(bitPattern: v)) }

    public mutating func write(_ data: some Sequence<UInt8>) { bytes.append(contentsOf: data) }
    public mutating func write(_ text: String) { bytes.append(contentsOf: text.utf8) }
    public mutating func writeFourCC(_ code: String) { bytes.append(contentsOf: FourCC.bytes(code)) }
    public mutating func writeZeros(_ count: Int) {
        if count > 0 { bytes.append(contentsOf: repeatElement(0, count: count)) }
    }

    /// Overwrites four bytes at `index` (used to patch sizes written as placeholders).
    public mutating func patchUInt32(_ v: UInt32, at index: Int) {
        guard index >= 0, index + 4 <= bytes.count else { return }
        bytes[index] = UInt8(truncatingIfNeeded: v >> 24)
        bytes[index + 1] = UInt8(truncatingIfNeeded: v >> 16)
        bytes[index + 2] = UInt8(truncatingIfNeeded: v >> 8)
        bytes[index + 3] = UInt8(truncatingIfNeeded: v)
    }

    /// Writes a 32-bit length placeholder, runs `body`, then patches the placeholder with the
    /// number of bytes from the placeholder's start (inclusive) to the end: the ISO-BMFF box size rule.
    public mutating func withSizePrefix32(_ body: (inout ByteWriter) throws -> Void) rethrows {
        let start = bytes.count
        writeUInt32(0)
        try body(&self)
        patchUInt32(UInt32(clamping: bytes.count - start), at: start)
    }

    /// Takes the bytes out, leaving the writer empty.
    public mutating func take() -> [UInt8] {
        defer { bytes = [] }
        return bytes
    }
}
