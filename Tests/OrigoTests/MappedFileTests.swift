import ByteIO
@testable import Engine
@testable import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Length-prefixed units in lent memory: the checks ByteReader makes, for mapped sample bytes.
@Suite struct LengthPrefixedUnitsTests {
    func units(_ bytes: [UInt8], lengthSize: Int) throws(ByteReaderError) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var failure: ByteReaderError?
        bytes.withUnsafeBytes { raw in
            var scan = LengthPrefixedUnits(raw, lengthSize: lengthSize)
            do {
                while let unit = try scan.next() { out.append(unit) }
            } catch let error as ByteReaderError {
                failure = error
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        if let failure { throw failure }
        return out
    }

    @Test func walksUnitsOfEveryLengthSize() throws {
        #expect(try units([0, 0, 0, 2, 0xAA, 0xBB, 0, 0, 0, 0, 0, 0, 0, 1, 0xCC], lengthSize: 4) == [4..<6, 10..<10, 14..<15])
        #expect(try units([0, 3, 1, 2, 3, 0, 1, 9], lengthSize: 2) == [2..<5, 7..<8])
        #expect(try units([2, 7, 7, 0], lengthSize: 1) == [1..<3, 4..<4])
        #expect(try units([0, 0, 1, 5], lengthSize: 3) == [3..<4])
        #expect(try units([], lengthSize: 4) == [])
    }

    @Test func rejectsLengthsPastTheEnd() {
        #expect(throws: ByteReaderError.truncated(needed: 5, available: 4)) {
            try units([0, 0, 0, 5, 1, 2, 3, 4], lengthSize: 4)
        }
        #expect(throws: ByteReaderError.truncated(needed: 4, available: 2)) {
            try units([0, 0, 0, 1, 9, 0, 0], lengthSize: 4)
        }
        // A length field of 0xFFFFFFFF does not wrap around.
        #expect(throws: ByteReaderError.truncated(needed: 0xFFFF_FFFF, available: 1)) {
            try units([0xFF, 0xFF, 0xFF, 0xFF, 1], lengthSize: 4)
        }
    }
}

/// Shared mappings of media files, and the SIGBUS guard that keeps a shrinking file from killing
/// the process that reads it.
@Suite(.serialized) struct MappedFileTests {
    static func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = "/tmp/origo-mapped-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).bin"
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        try #require(fd >= 0)
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        try #require(written == bytes.count)
        return path
    }

    @Test func mapsTheFileItWasAskedFor() throws {
        let content = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let path = try Self.temporaryFile(content)
        defer { unlink(path) }
        let identity = try LocalFile.identity(of: path)
        let file = try #require(try MappedFile.shared(identity))
        #expect(Array(try file.slice(at: 0, count: content.count)) == content)
        #expect(Array(try file.slice(at: 12_345, count: 10)) == Array(content[12_345..<12_355]))
        #expect(try MappedFile.shared(identity) === file)
        #expect(throws: StorageError.self) { try file.slice(at: 19_999, count: 2) }
        #expect(throws: StorageError.self) { try file.slice(at: UInt64.max, count: 1) }
        #expect(throws: StorageError.self) { try file.slice(at: 0, count: -1) }

        // Another size or modification time is another file: never mapped in its place.
        let stale = FileIdentity(path: path, size: identity.size + 1, mtimeSeconds: identity.mtimeSeconds,
                                 mtimeNanoseconds: identity.mtimeNanoseconds)
        #expect(throws: StorageError(code: .changed, path: path, detail: "changed since it was indexed")) {
            try MappedFile.shared(stale)
        }
        MappedFile.forget(identity)
    }

    @Test func aChangedFileReplacesItsMappingAndIdleOnesAreDropped() throws {
        let table = MappedFileTable(maxBytes: 1 << 20, idleSeconds: 60)
        let path = try Self.temporaryFile([UInt8](repeating: 1, count: 1000))
        defer { unlink(path) }
        let first = try #require(try table.file(try LocalFile.identity(of: path)))
        #expect(try table.file(first.identity) === first)
        // Rewritten with another size: a new mapping takes the path's place.
        let fd = open(path, O_WRONLY | O_APPEND)
        try #require(fd >= 0)
        #expect(write(fd, [UInt8](repeating: 2, count: 500), 500) == 500)
        close(fd)
        let second = try #require(try table.file(try LocalFile.identity(of: path)))
        #expect(second !== first && second.bytes.count == 1500 && table.count == 1)
        #expect(!table.contains(first.identity) && table.contains(second.identity))
        // Beyond the byte bound the least recently used go; after a minute unused, all go.
        let other = try Self.temporaryFile([UInt8](repeating: 3, count: 1 << 20))
        defer { unlink(other) }
        _ = try table.file(try LocalFile.identity(of: other))
        #expect(table.count == 1 && !table.contains(second.identity))
        table.sweep(now: MappedFileTable.now() + 61)
        #expect(table.count == 0)
    }

    @Test func aFileThatShrinksUnderAGuardedReadReadsAsZerosAndIsReported() async throws {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let content = [UInt8](repeating: 0x5A, count: 4 * pageSize)
        let path = try Self.temporaryFile(content)
        defer { unlink(path) }
        let identity = try LocalFile.identity(of: path)
        let file = try #require(try MappedFile.shared(identity))
        let bytes = try file.slice(at: 0, count: content.count)

        let faults = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        faults.initialize(to: 0)
        defer { faults.deallocate() }
        MappedReadGuard.countFaults(at: faults)
        defer { MappedReadGuard.countFaults(at: nil) }

        MappedReadGuard.begin()
        #expect(MappedReadGuard.add(file))
        #expect(bytes[0] == 0x5A)
        #expect(truncate(path, off_t(pageSize)) == 0)
        // Past the new end: without the guard this read would end the process with SIGBUS.
        let past = bytes[3 * pageSize + 1]
        let kept = bytes[10]
        #expect(throws: StorageError.self) { try MappedReadGuard.end(reading: [file]) }
        // One fault: the rest of the range became zeros at once (and it is counted).
        #expect(faults.pointee == 1)
        #expect(past == 0)
        #expect(kept == 0x5A)
        // The mapping is dropped from the table, and it is poisoned for every reader that still
        // holds it: the zeros are read without a fault now, but the section still fails.
        #expect(!MappedFile.table.contains(identity))
        #expect(file.isPoisoned)
        let other = Task.detached { () -> Bool in
            MappedReadGuard.begin()
            guard MappedReadGuard.add(file) else { return false }
            let zero = bytes[3 * pageSize + 7]  // zeros already: no fault, only the poison tells
            do { try MappedReadGuard.end(reading: [file]) } catch { return zero == 0 }
            return false
        }
        #expect(await other.value)

        // A section over a sound mapping ends cleanly.
        let fresh = try Self.temporaryFile(content)
        defer { unlink(fresh) }
        let sound = try #require(try MappedFile.shared(try LocalFile.identity(of: fresh)))
        MappedReadGuard.begin()
        #expect(MappedReadGuard.add(sound))
        #expect(try sound.slice(at: 3 * UInt64(pageSize), count: 1).first == 0x5A)
        try MappedReadGuard.end(reading: [sound])
    }

    /// Every TS segment of the fixture is the same byte for byte whether the engine reads the media
    /// through its mapping or with pread.
    @Test func tsSegmentsFromMappingsEqualThoseRead() throws {
        let engine = Engine()
        let movie = Fixtures.path("progressive.mp4")
        func get(_ path: String, mapFiles: Bool) -> EngineResponse {
            // One-second segments: two of them, the second starting mid-file.
            engine.handle(EngineRequest(method: "GET", manifestPath: movie, virtualPath: path,
                                        query: "hls.minimum_fragment_length=1", mapFiles: mapFiles))
        }
        func bytes(_ r: EngineResponse) -> [UInt8] {
            r.body.reduce(into: []) { out, piece in if case .bytes(let b) = piece { out += b } }
        }
        let master = get(".m3u8", mapFiles: true)
        let variants = bytes(master).split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
            .filter { !$0.hasPrefix("#") && !$0.isEmpty }.map { String($0.split(separator: "?").first ?? "") }
        try #require(!variants.isEmpty)
        var segments = 0
        for variant in variants {
            let playlist = String(decoding: bytes(get(variant, mapFiles: true)), as: UTF8.self)
            for line in playlist.split(separator: "\n") where !line.hasPrefix("#") {
                let name = String(line.split(separator: "?").first ?? line)
                let mapped = get(name, mapFiles: true)
                let read = get(name, mapFiles: false)
                #expect(mapped.status == 200 && read.status == 200, "\(name): \(mapped.logReason ?? read.logReason ?? "")")
                #expect(bytes(mapped) == bytes(read), "\(name)")
                #expect(bytes(mapped).count > 1000)
                segments += 1
            }
        }
        #expect(segments >= 2)
        let identity = try LocalFile.identity(of: movie)
        #expect(MappedFile.table.contains(identity))
    }
}
