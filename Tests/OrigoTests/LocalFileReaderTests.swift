import ByteIO
import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Reading a local file straight into many separate regions (`preadv`), as TS segments read video.
@Suite struct LocalFileReaderTests {
    static func file(_ bytes: [UInt8]) throws -> String {
        let path = try IndexMP4EngineTests.temporaryDirectory() + "/media.bin"
        try IndexMP4EngineTests.write(bytes, to: path)
        return path
    }

    /// Reads `count` bytes at `offset` into regions of the given sizes, spaced apart in one buffer
    /// whose gaps must stay untouched; returns the regions' bytes joined, and whether the gaps held.
    static func scatter(_ reader: LocalFileReader, at offset: UInt64, sizes: [Int]) throws -> (bytes: [UInt8], gapsHeld: Bool) {
        let gap = 3
        var buffer = [UInt8](repeating: 0xEE, count: sizes.reduce(0, +) + gap * (sizes.count + 1))
        var joined: [UInt8] = []
        var gapsHeld = true
        try buffer.withUnsafeMutableBytes { all in
            var regions: [UnsafeMutableRawBufferPointer] = []
            var at = gap
            for size in sizes {
                regions.append(UnsafeMutableRawBufferPointer(rebasing: all[at..<(at + size)]))
                at += size + gap
            }
            try regions.withUnsafeBufferPointer { try reader.read(at: offset, into: $0) }
            at = 0
            for size in sizes {
                gapsHeld = gapsHeld && all[at..<(at + gap)].allSatisfy { $0 == 0xEE }
                joined += all[(at + gap)..<(at + gap + size)]
                at += gap + size
            }
        }
        return (joined, gapsHeld)
    }

    @Test func fillsRegionsInOrderAcrossManyCalls() throws {
        let bytes = (0..<600_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let reader = try LocalFileReader(path: try Self.file(bytes))
        // 3,000 regions of payload-like sizes: more than one preadv call takes.
        let sizes = (0..<3000).map { [184, 176, 1, 0, 183][$0 % 5] }
        let total = sizes.reduce(0, +)
        let (read, gapsHeld) = try Self.scatter(reader, at: 1234, sizes: sizes)
        #expect(read == Array(bytes[1234..<(1234 + total)]))
        #expect(gapsHeld)
    }

    @Test func aFileShorterThanTheRegionsThrows() throws {
        let reader = try LocalFileReader(path: try Self.file(Array(repeating: 7, count: 1000)))
        #expect(throws: StorageError.self) { _ = try Self.scatter(reader, at: 900, sizes: [50, 60]) }
        #expect(throws: StorageError.self) { _ = try Self.scatter(reader, at: 2000, sizes: [1]) }
        #expect(try Self.scatter(reader, at: 900, sizes: [50, 50]).bytes == Array(repeating: 7, count: 100))
    }
}
