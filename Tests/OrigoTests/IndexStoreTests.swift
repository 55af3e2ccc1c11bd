import ByteIO
import CEngineAPI
@testable import Engine
@testable import IndexStore
import ISOBMFF
import MediaModel
import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The host's shared index store: its file format (every check a reader makes), the directory
/// (publish, LRU trim, crashed writers' leftovers) and two engines sharing one directory like two
/// children of one server.
@Suite struct IndexStoreTests {
    static let limits = (perTrack: 1 << 20, perFile: 1 << 22)

    static func decode(_ bytes: [UInt8], key: String = "k") throws -> MP4Index {
        try bytes.withUnsafeBytes {
            try IndexStoreFile.decode($0, key: key, maxSamplesPerTrack: limits.perTrack, maxSamplesPerFile: limits.perFile) { _ in "src" }
        }
    }

    static func rejection(_ bytes: [UInt8], key: String = "k") -> IndexStoreFile.Rejection? {
        do {
            _ = try decode(bytes, key: key)
            return nil
        } catch let r as IndexStoreFile.Rejection {
            return r
        } catch {
            return .malformed("other error \(error)")
        }
    }

    static func resealed(_ bytes: [UInt8]) -> [UInt8] { IndexStoreFile.resealed(bytes) }

    func expectSame(_ a: MP4Index, _ b: MP4Index) {
        #expect(a.tracks.count == b.tracks.count)
        #expect(a.isFragmented == b.isFragmented && a.majorBrand == b.majorBrand && a.movieTimescale == b.movieTimescale)
        for (x, y) in zip(a.tracks, b.tracks) {
            #expect(x.samples == y.samples)
            #expect(x.samples.columns == y.samples.columns)
            #expect(x.trackID == y.trackID && x.kind == y.kind && x.timescale == y.timescale && x.language == y.language)
            #expect(x.sampleEntry == y.sampleEntry && x.sampleEntryType == y.sampleEntryType)
            #expect(x.width == y.width && x.height == y.height && x.sampleRate == y.sampleRate && x.channels == y.channels)
            #expect(x.presentationOffset == y.presentationOffset && x.averageBitrate == y.averageBitrate)
            #expect(String(describing: x.codec) == String(describing: y.codec))
        }
    }

    @Test(arguments: ["progressive.mp4", "fragmented.mp4", "short.mp4"])
    func aStoredIndexReadsBackAsParsed(_ name: String) throws {
        let index = try Fixtures.index(name)
        let bytes = try #require(IndexStoreFile.encode(index, key: "k"))
        #expect(bytes.count % 8 == 0)
        let back = try Self.decode(bytes)
        expectSame(index, back)
        #expect(back.tracks.allSatisfy { $0.dataSource == "src" })
    }

    /// Files written by format version 1 (`Fixtures/index-store`, key "fixture", also the fuzzer's
    /// seeds) still read as their sources parse: a change of the format bumps its version.
    @Test(arguments: ["progressive", "fragmented", "short"])
    func version1FilesStillRead(_ name: String) throws {
        let stored = try Fixtures.bytes("index-store/\(name).oix")
        expectSame(try Fixtures.index("\(name).mp4"), try Self.decode(stored, key: "fixture"))
        #expect(IndexStoreFile.encode(try Fixtures.index("\(name).mp4"), key: "fixture") == stored)
    }

    @Test func wideOffsetsSyncFlagsAndCompositionOffsetsSurvive() throws {
        var table = SampleTable()
        for i in 0..<200 {
            table.append(decodeTime: i < 100 ? Int64(i) * 10 : 1000 + Int64(i - 100) * 7, duration: i < 100 ? 10 : 7,
                         compositionOffset: Int32(i % 3), size: UInt32(i + 1),
                         offset: i == 150 ? 10 : UInt64(i) << 30, isSync: i % 5 == 0)
        }
        var index = try Fixtures.index("progressive.mp4")
        index.tracks[0].samples = table
        let back = try Self.decode(try #require(IndexStoreFile.encode(index, key: "k")))
        #expect(back.tracks[0].samples == table)
        #expect(back.tracks[0].samples.columns.offsetsAreWide)
    }

    @Test func everyDamagedForeignOrOtherFileIsRefused() throws {
        let bytes = try #require(IndexStoreFile.encode(try Fixtures.index("progressive.mp4"), key: "k"))
        #expect(Self.rejection(bytes) == nil)
        #expect(Self.rejection(bytes, key: "other") == .otherKey)
        #expect(Self.rejection([]) == .foreign)
        #expect(Self.rejection(Array(bytes[0..<40])) == .foreign)
        #expect(Self.rejection(Array(bytes.dropLast(8))) == .damaged)
        #expect(Self.rejection(bytes + [0, 0, 0, 0, 0, 0, 0, 0]) == .damaged)
        var version = bytes
        version[8] = 2
        #expect(Self.rejection(version) == .foreign)
        #expect(Self.rejection(Self.resealed(version)) == .foreign)
        var magic = bytes
        magic[0] = UInt8(ascii: "X")
        #expect(Self.rejection(magic) == .foreign)
        // A flipped byte anywhere in the body: the checksum.
        for position in stride(from: IndexStoreFile.headerSize, to: bytes.count, by: max(1, bytes.count / 97)) {
            var flipped = bytes
            flipped[position] ^= 0x20
            #expect(Self.rejection(flipped) == .damaged, "flip at \(position)")
        }
    }

    /// Resealed files reach the shape checks: nothing in them is trusted either.
    @Test func resealedMalformedFilesAreRefusedWithoutTrapping() throws {
        let bytes = try #require(IndexStoreFile.encode(try Fixtures.index("progressive.mp4"), key: "k"))
        let descriptionStart = IndexStoreFile.headerSize + 8
        var refused = 0
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            var mutated = bytes
            let position = Int.random(in: descriptionStart..<mutated.count, using: &generator)
            mutated[position] = UInt8.random(in: 0...255, using: &generator)
            if Self.rejection(Self.resealed(mutated)) != nil { refused += 1 }
        }
        #expect(refused > 0)
        // Columns of the wrong shape, checked before any table is built.
        var columns = try Fixtures.index("progressive.mp4").tracks[0].samples.columns
        columns.runFirst = [1]
        #expect(throws: MediaModelError.self) { try SampleTable(columns: columns) }
        columns.runFirst = [0, 0]
        columns.runStart = [0, 0]
        columns.runDuration = [1, 1]
        #expect(throws: MediaModelError.self) { try SampleTable(columns: columns) }
    }

    @Test func indexesWithEncryptionDataAreNotStored() throws {
        var index = try Fixtures.index("progressive.mp4")
        index.tracks[0].protection = SourceProtection(scheme: "cenc", originalFormat: "avc1", kid: Array(repeating: 1, count: 16), ivSize: 8)
        #expect(IndexStoreFile.encode(index, key: "k") == nil)
    }

    static func temporaryDirectory() throws -> String { try IndexMP4EngineTests.temporaryDirectory() }

    @Test func theDirectoryPublishesByRenameAndTrimsTheLeastRecentlyUsed() throws {
        let dir = try Self.temporaryDirectory() + "/store"
        let index = try Fixtures.index("progressive.mp4")
        let size = UInt64(try #require(IndexStoreFile.encode(index, key: "a")).count)
        let store = IndexStore(directory: dir, capacityBytes: size * 3 + size / 2)
        func load(_ key: String) -> IndexStore.Outcome {
            store.load(key: key, maxSamplesPerTrack: Self.limits.perTrack, maxSamplesPerFile: Self.limits.perFile) { _ in "src" }
        }
        #expect(load("a") == .miss)
        #expect(store.save(index, key: "a") == 0)
        guard case .hit = load("a") else { Issue.record("no hit"); return }
        // Another key whose file name is taken: refused as another key's.
        #expect(rename(store.path(for: "a"), store.path(for: "b")) == 0)
        #expect(load("b") == .rejected(.otherKey))
        // Ages: a crashed writer's temporary file and a file read long ago.
        let leftover = dir + "/.tmp-1-1-1"
        try IndexMP4EngineTests.write([1, 2, 3], to: leftover)
        var old = [timespec(tv_sec: 1000, tv_nsec: 0), timespec(tv_sec: 1000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, leftover, &old, 0) == 0)
        for key in ["c", "d"] { store.save(index, key: key) }
        #expect(utimensat(AT_FDCWD, store.path(for: "b"), &old, 0) == 0)
        store.save(index, key: "e")   // four files: over the bound, "b" is the oldest
        #expect(access(store.path(for: "b"), F_OK) != 0)
        #expect(access(leftover, F_OK) != 0)
        for key in ["c", "d", "e"] { #expect(access(store.path(for: key), F_OK) == 0, "\(key)") }
    }

    @Test func twoEnginesShareOneStoreAndTheSecondParsesNothing() throws {
        let dir = try Self.temporaryDirectory()
        let media = dir + "/movie.mp4"
        try IndexMP4EngineTests.write(try Fixtures.bytes("progressive.mp4"), to: media)
        func child() -> (Engine, UnsafeMutablePointer<UInt64>) {
            let array = UnsafeMutablePointer<UInt64>.allocate(capacity: Int(ORIGO_ENGINE_COUNTERS.rawValue))
            array.initialize(repeating: 0, count: Int(ORIGO_ENGINE_COUNTERS.rawValue))
            let counters = SharedCounters()
            let engine = Engine(loader: PresentationLoader(indexCacheBytes: 1 << 26, presentationCacheBytes: 1 << 26,
                                                           counters: counters), counters: counters)
            engine.configure(counters: array)
            engine.configure(indexStore: dir + "/store", bytes: 1 << 26)
            return (engine, array)
        }
        func count(_ a: UnsafeMutablePointer<UInt64>, _ c: origo_engine_counter) -> UInt64 { a[Int(c.rawValue)] }
        func body(_ engine: Engine, _ path: String) -> [UInt8] {
            let r = engine.handle(EngineRequest(method: "GET", manifestPath: media, virtualPath: path, query: nil))
            #expect(r.status == 200)
            return BufferPoolTests.bytes(r)
        }
        let (first, a) = child()
        let (second, b) = child()
        defer { a.deallocate(); b.deallocate() }
        let manifest = body(first, ".mpd")
        #expect(count(a, ORIGO_COUNTER_INDEX_PARSES) == 1 && count(a, ORIGO_COUNTER_INDEX_STORE_WRITES) == 1)
        #expect(body(second, ".mpd") == manifest)
        #expect(count(b, ORIGO_COUNTER_INDEX_PARSES) == 0 && count(b, ORIGO_COUNTER_INDEX_STORE_HITS) == 1)

        // The source changes: a new version, parsed once more and stored under its own key.
        var later = [timespec(tv_sec: 2_000_000_000, tv_nsec: 0), timespec(tv_sec: 2_000_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, media, &later, 0) == 0)
        _ = body(second, ".m3u8")
        #expect(count(b, ORIGO_COUNTER_INDEX_PARSES) == 1 && count(b, ORIGO_COUNTER_INDEX_STORE_WRITES) == 1)

        // A damaged file is refused, parsed again and replaced.
        let (third, c) = child()
        defer { c.deallocate() }
        let identity = try LocalFile.identity(of: media)
        let path = try #require(third.loader.store).path(for: PresentationLoader.storeKey(identity, PresentationLoader.limits(maxIndexBytes: 0)))
        let fd = open(path, O_WRONLY)
        #expect(fd >= 0)
        #expect(pwrite(fd, [0xFF, 0xFF], 2, 200) == 2)
        close(fd)
        #expect(body(third, ".mpd") == body(second, ".mpd"))
        #expect(count(c, ORIGO_COUNTER_INDEX_STORE_REJECTS) == 1 && count(c, ORIGO_COUNTER_INDEX_PARSES) == 1)
        let (fourth, d) = child()
        defer { d.deallocate() }
        _ = body(fourth, ".mpd")
        #expect(count(d, ORIGO_COUNTER_INDEX_PARSES) == 0 && count(d, ORIGO_COUNTER_INDEX_STORE_HITS) == 1)
    }
}

extension IndexStore.Outcome: Equatable {
    public static func == (a: IndexStore.Outcome, b: IndexStore.Outcome) -> Bool {
        switch (a, b) {
        case (.miss, .miss): true
        case (.rejected(let x), .rejected(let y)): x == y
        case (.hit, .hit): true
        default: false
        }
    }
}
