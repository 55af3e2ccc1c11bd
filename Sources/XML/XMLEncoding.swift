/// A document's bytes as UTF-8, which is what the parser reads. XML 1.0 (§4.3.3) lets a document
/// be UTF-16 (it then starts with a byte order mark) or name another encoding in its declaration;
/// subtitle and manifest tools write Latin-1 and Windows-1252 as well. Those are converted; any
/// other declared encoding is refused rather than read as garbage.
enum XMLEncoding {
    static func utf8(_ bytes: [UInt8]) throws(XMLError) -> [UInt8] {
        if bytes.count >= 2, (bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF) {
            return try fromUTF16(bytes, bigEndian: bytes[0] == 0xFE)
        }
        guard let name = declaredEncoding(bytes) else { return bytes }
        switch name.lowercased() {
        case "utf-8", "utf8":
            return bytes
        case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii":
            return fromSingleByte(bytes, high: { UInt32($0) })
        case "windows-1252", "cp1252":
            return fromSingleByte(bytes, high: { $0 >= 0x80 && $0 < 0xA0 ? windows1252[Int($0 - 0x80)] : UInt32($0) })
        default:
            throw XMLError(reason: "unsupported encoding \(name.prefix(40)) (UTF-8, UTF-16, ISO-8859-1 and windows-1252 are read)",
                           line: 1, column: 1, offset: 0)
        }
    }

    /// The `encoding` of an XML declaration at the very start (after a UTF-8 byte order mark), or
    /// nil when there is none.
    static func declaredEncoding(_ bytes: [UInt8]) -> String? {
        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        let head = bytes[start..<min(bytes.count, start + 256)]
        guard head.starts(with: Array("<?xml".utf8)), let end = XMLBytes.find(Array("?>".utf8), in: head),
              let key = XMLBytes.find(Array("encoding".utf8), in: head[..<end]) else { return nil }
        var i = key + 8
        func skipSpace() { while i < end, head[i] == 0x20 || head[i] == 0x09 || head[i] == 0x0A || head[i] == 0x0D { i += 1 } }
        skipSpace()
        guard i < end, head[i] == UInt8(ascii: "=") else { return nil }
        i += 1
        skipSpace()
        guard i < end, head[i] == UInt8(ascii: "\"") || head[i] == UInt8(ascii: "'") else { return nil }
        let quote = head[i]
        guard let close = head[(i + 1)..<end].firstIndex(of: quote) else { return nil }
        return String(decoding: head[(i + 1)..<close], as: UTF8.self)
    }

    private static func fromSingleByte(_ bytes: [UInt8], high: (UInt8) -> UInt32) -> [UInt8] {
        guard bytes.contains(where: { $0 >= 0x80 }) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 4)
        for byte in bytes {
            if byte < 0x80 {
                out.append(byte)
            } else if let scalar = Unicode.Scalar(high(byte)) {
                UTF8.encode(scalar) { out.append($0) }
            }
        }
        return out
    }

    private static func fromUTF16(_ bytes: [UInt8], bigEndian: Bool) throws(XMLError) -> [UInt8] {
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count / 2)
        var i = 2
        while i + 1 < bytes.count {
            let a = UInt16(bytes[i]), b = UInt16(bytes[i + 1])
            units.append(bigEndian ? a << 8 | b : b << 8 | a)
            i += 2
        }
        guard i == bytes.count else {
            throw XMLError(reason: "UTF-16 document with an odd number of bytes", line: 1, column: 1, offset: bytes.count)
        }
        var out: [UInt8] = []
        out.reserveCapacity(units.count)
        var decoder = UTF16()
        var iterator = units.makeIterator()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): UTF8.encode(scalar) { out.append($0) }
            case .emptyInput: break loop
            case .error:
                throw XMLError(reason: "invalid UTF-16 (an unpaired surrogate)", line: 1, column: 1, offset: 0)
            }
        }
        return out
    }

    /// Windows-1252 0x80...0x9F (its five undefined positions kept as ISO-8859-1's C1 controls).
    private static let windows1252: [UInt32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ]
}
