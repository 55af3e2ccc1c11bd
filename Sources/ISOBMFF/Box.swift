import ByteIO

/// A box header: type and extent, as read from a file or from inside a parent box.
struct BoxHeader: Equatable {
    var type: String
    /// Bytes of the header (8, 16 with a 64-bit size, +16 for `uuid`).
    var headerSize: Int
    /// Size of the whole box including its header.
    var size: UInt64

    var payloadSize: UInt64 { size - UInt64(headerSize) }

    /// Reads a header from `reader`; a size of 0 means "to the end", resolved against `available`
    /// (bytes from the header's start to the end of the enclosing space).
    static func read(_ reader: inout ByteReader, available: UInt64) throws(ISOBMFFError) -> BoxHeader {
        do {
            let size32 = try reader.readUInt32()
            let type = try reader.readFourCC()
            var headerSize = 8
            var size = UInt64(size32)
            if size32 == 1 {
                size = try reader.readUInt64()
                headerSize = 16
            } else if size32 == 0 {
                size = available
            }
            if type == "uuid" {
                try reader.skip(16)
                headerSize += 16
            }
            guard size >= UInt64(headerSize) else {
                throw ISOBMFFError.malformed(box: type, reason: "size \(size) smaller than its header")
            }
            guard size <= available else {
                throw ISOBMFFError.malformed(box: type, reason: "size \(size) exceeds the \(available) bytes available")
            }
            return BoxHeader(type: Self.printable(type), headerSize: headerSize, size: size)
        } catch let error as ISOBMFFError {
            throw error
        } catch {
            throw .malformed(box: "box header", reason: "truncated")
        }
    }

    /// Box types come from input: keep log lines printable.
    static func printable(_ type: String) -> String {
        type.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7f }) ? type : "????"
    }
}

/// Iterates the child boxes inside a parent's payload.
struct BoxIterator {
    private var reader: ByteReader

    init(_ payload: ByteReader) { reader = payload }

    /// The next child as (header, payload reader), or nil at the end.
    mutating func next() throws(ISOBMFFError) -> (BoxHeader, ByteReader)? {
        // Fewer than 8 bytes left is padding some writers leave; ignore it.
        guard reader.remaining >= 8 else { return nil }
        let header = try BoxHeader.read(&reader, available: UInt64(reader.remaining))
        // Header fields are already consumed; payloadSize fits in `remaining`, checked by `read`.
        let count = Int(clamping: header.payloadSize)
        do {
            return (header, try reader.subReader(count: count))
        } catch {
            throw .malformed(box: header.type, reason: "payload runs past its parent")
        }
    }

    /// All children of a given type.
    static func children(_ payload: ByteReader, _ type: String) throws(ISOBMFFError) -> [ByteReader] {
        var it = BoxIterator(payload)
        var out: [ByteReader] = []
        while let (h, r) = try it.next() {
            if h.type == type { out.append(r) }
        }
        return out
    }

    /// The first child of a given type.
    static func first(_ payload: ByteReader, _ type: String) throws(ISOBMFFError) -> ByteReader? {
        var it = BoxIterator(payload)
        while let (h, r) = try it.next() {
            if h.type == type { return r }
        }
        return nil
    }
}

/// Runs a box parser, naming the box in any error it throws.
@inline(__always)
func within<T>(_ box: String, _ body: () throws -> T) throws(ISOBMFFError) -> T {
    do {
        return try body()
    } catch let error as ISOBMFFError {
        throw error
    } catch let error as ByteReaderError {
        throw error.inBox(box)
    } catch {
        throw .malformed(box: box, reason: "\(error)")
    }
}

extension ByteReader {
    /// Version and flags of a full box.
    mutating func readFullBoxHeader() throws(ByteReaderError) -> (version: UInt8, flags: UInt32) {
        let v = try readUInt32()
        return (UInt8(v >> 24), v & 0xFF_FFFF)
    }
}
