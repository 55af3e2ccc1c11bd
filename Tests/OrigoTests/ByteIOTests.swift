import Testing
@testable import ByteIO

@Suite struct ByteReaderTests {
    @Test func readsBigEndianIntegers() throws {
        var r = ByteReader([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xFF])
        #expect(try r.readUInt16() == 0x0102)
        #expect(try r.readUInt24() == 0x030405)
        #expect(try r.readUInt24() == 0x060708)
        #expect(try r.readUInt8() == 0xFF)
        #expect(r.isAtEnd)
    }

    @Test func shortReadThrowsAndDoesNotMove() throws {
        var r = ByteReader([0x00, 0x01, 0x02])
        #expect(throws: ByteReaderError.truncated(needed: 4, available: 3)) { try r.readUInt32() }
        #expect(r.position == 0)
        #expect(throws: ByteReaderError.self) { try r.skip(-1) }
        #expect(throws: ByteReaderError.self) { try r.readBytes(Int.max) }
    }

    @Test func subReaderIsConfinedToItsWindow() throws {
        var r = ByteReader([1, 2, 3, 4, 5, 6])
        try r.skip(1)
        var sub = try r.subReader(count: 2)
        #expect(try sub.readUInt8() == 2)
        #expect(try sub.readUInt8() == 3)
        #expect(throws: ByteReaderError.self) { try sub.readUInt8() }
        #expect(try r.readUInt8() == 4)
    }

    @Test func writerPatchesSizePrefix() {
        var w = ByteWriter()
        w.withSizePrefix32 { w in
            w.writeFourCC("free")
            w.writeUInt16(7)
        }
        #expect(w.bytes == [0, 0, 0, 10, 0x66, 0x72, 0x65, 0x65, 0, 7])
    }

    @Test func writerWritesBigEndianAndPadsFourCCs() {
        var w = ByteWriter()
        w.writeUInt8(1)
        w.writeUInt16(0x0203)
        w.writeUInt24(0x04_0506)
        w.writeUInt32(0x0708_090A)
        w.writeUInt64(0x0B0C_0D0E_0F10_1112)
        w.writeInt32(-2)
        #expect(w.bytes == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 0xFF, 0xFF, 0xFF, 0xFE])
        var codes = ByteWriter()
        codes.writeFourCC("url ")
        codes.writeFourCC("ab")
        codes.writeFourCC("x")
        codes.writeFourCC("toolong")
        #expect(codes.bytes == Array("url ab  x   tool".utf8))
    }

    @Test func writerWritesWordTables() {
        var w = ByteWriter()
        w.writeUInt8(0xAA)
        w.writeUInt32s(count: 3) { k in UInt32(k) << 24 | 0xBEEF }
        w.writeUInt32s(count: 0) { _ in 1 }
        #expect(w.bytes == [0xAA, 0, 0, 0xBE, 0xEF, 1, 0, 0xBE, 0xEF, 2, 0, 0xBE, 0xEF])
    }
}
