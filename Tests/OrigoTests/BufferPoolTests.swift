import ByteIO
import CEngineAPI
@testable import Engine
import Testing

/// The pool of reused output buffers (`ByteBufferPool`) and how TS segments use it.
@Suite struct BufferPoolTests {
    static let movie = Fixtures.path("progressive.mp4")
    /// One-second segments, so the short fixture has several.
    static let query = "hls.minimum_fragment_length=1"

    static func get(_ path: String, from engine: Engine) -> EngineResponse {
        engine.handle(EngineRequest(method: "GET", manifestPath: movie, virtualPath: path, query: query))
    }

    static func bytes(_ r: EngineResponse) -> [UInt8] {
        guard r.body.count == 1, case .bytes(let b) = r.body[0] else { return [] }
        return b
    }

    /// The virtual paths of the TS segments of the first variant.
    static func tsSegments() throws -> [String] {
        // Child URLs carry the query on: the virtual path is what comes before it.
        func paths(_ r: EngineResponse) -> [String] {
            String(decoding: bytes(r), as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("#") }
                .map { String($0.prefix { $0 != "?" }) }
        }
        let engine = Engine()
        let variant = try #require(paths(get(".m3u8", from: engine)).first)
        return paths(get(variant, from: engine))
    }

    func address(_ bytes: [UInt8]) -> UnsafeRawPointer? {
        bytes.withUnsafeBytes { $0.baseAddress }
    }

    @Test func aBufferGivenBackIsTakenAgainEmptyWithItsStorage() {
        let pool = ByteBufferPool(maxBuffers: 4, maxRetainedBytes: 1 << 20)
        var buffer = pool.take(minimumCapacity: 1000)
        #expect(buffer.isEmpty && buffer.capacity >= 1000)
        buffer.append(contentsOf: repeatElement(7, count: 1000))
        let storage = address(buffer)
        pool.give(consume buffer)
        #expect(pool.kept.count == 1)
        let again = pool.take(minimumCapacity: 500)
        #expect(again.isEmpty && again.capacity >= 1000)
        #expect(address(again) == storage)
        #expect(pool.kept.count == 0 && pool.kept.bytes == 0)
    }

    @Test func takePrefersTheSmallestBufferThatFits() {
        let pool = ByteBufferPool(maxBuffers: 4, maxRetainedBytes: 1 << 20)
        for size in [100, 10_000, 3_000] {
            var b: [UInt8] = []
            b.reserveCapacity(size)
            pool.give(b)
        }
        let taken = pool.take(minimumCapacity: 2_000)
        #expect(taken.capacity >= 3_000 && taken.capacity < 10_000)
        // Nothing fits: the largest one grows.
        let grown = pool.take(minimumCapacity: 50_000)
        #expect(grown.capacity >= 50_000)
        #expect(pool.kept.count == 1)
    }

    @Test func theBoundsDropBuffers() {
        let pool = ByteBufferPool(maxBuffers: 2, maxRetainedBytes: 64 << 10)
        for _ in 0..<3 { pool.give([UInt8](repeating: 1, count: 1 << 10)) }
        #expect(pool.kept.count == 2)
        pool.give([UInt8](repeating: 0, count: 1 << 20))  // larger than the whole bound
        #expect(pool.kept.bytes <= 64 << 10)
        let none = ByteBufferPool(maxBuffers: 0, maxRetainedBytes: 1 << 20)
        none.give([1, 2, 3])
        #expect(none.kept.count == 0)
    }

    @Test func aBufferStillHeldElsewhereIsNeverOverwritten() {
        let pool = ByteBufferPool(maxBuffers: 4, maxRetainedBytes: 1 << 20)
        var buffer = pool.take(minimumCapacity: 64)
        buffer.append(contentsOf: [1, 2, 3, 4])
        let inFlight = buffer  // what Apache would still be sending
        pool.give(buffer)
        var next = pool.take(minimumCapacity: 64)
        next.append(contentsOf: [9, 9, 9, 9, 9])
        #expect(inFlight == [1, 2, 3, 4])
        #expect(address(next) != address(inFlight))
    }

    @Test func tsSegmentsReuseTheirBufferAndStayIdentical() throws {
        let engine = Engine()
        func get(_ path: String) -> EngineResponse { Self.get(path, from: engine) }
        func bytes(_ r: EngineResponse) -> [UInt8] { Self.bytes(r) }
        let segments = try Self.tsSegments()
        try #require(segments.count >= 2)

        // Fresh builds, never recycled: what every later answer must equal byte for byte.
        let expected = segments.map { bytes(Self.get($0, from: Engine())) }
        #expect(expected.allSatisfy { !$0.isEmpty && $0.count % 188 == 0 })

        let first = get(segments[0])
        #expect(first.bodyIsPooled)
        let storage = address(bytes(first))
        let firstCopy = bytes(first)
        engine.recycle(first)
        // The bytes `firstCopy` still holds are not written over by the next segment.
        let second = get(segments[1])
        #expect(bytes(second) == expected[1])
        #expect(firstCopy == expected[0])
        #expect(address(bytes(second)) != storage)
        engine.recycle(second)

        // Once nothing else holds a buffer, the next segment is written into it.
        for round in 0..<3 {
            for (i, name) in segments.enumerated() {
                let r = get(name)
                #expect(bytes(r) == expected[i], "round \(round), \(name)")
                engine.recycle(consume r)
            }
        }
        let reused = get(segments[0])
        let before = address(bytes(reused))
        engine.recycle(consume reused)
        let same = get(segments[0])
        #expect(address(bytes(same)) == before, "written into the buffer the last answer gave back")
        #expect(bytes(same) == expected[0])
        let kept = engine.buffers.kept
        #expect(kept.count >= 1)
        engine.recycle(same)
        #expect(engine.buffers.kept.count == kept.count + 1)
        let again = get(segments[1])
        #expect(bytes(again) == expected[1])
        #expect(engine.buffers.kept.count == kept.count)
    }
}

extension BufferPoolTests {
    /// Reused buffers are overwritten in place, not cleared: bytes of an earlier answer (larger or
    /// smaller than the new segment) must never show through.
    @Test func staleBytesInAReusedBufferNeverReachASegment() throws {
        let segments = try Self.tsSegments()
        let expected = segments.map { Self.bytes(Self.get($0, from: Engine())) }
        for stale in [[UInt8](repeating: 0xAB, count: 4 << 20), [UInt8](repeating: 0xCD, count: 1000)] {
            for (i, name) in segments.enumerated() {
                let engine = Engine()
                engine.buffers.give(stale)
                engine.buffers.give([UInt8](repeating: 0xEF, count: 300))
                let r = Self.get(name, from: engine)
                #expect(Self.bytes(r) == expected[i], "\(name) after \(stale.count) stale bytes")
            }
        }
    }
}

/// Through the C ABI the module uses: a TS segment's buffer goes back to the pool when the module
/// frees the response (after Apache has sent it), and the next segment is written into it.
@Suite struct BufferPoolCABITests {
    @Test func freeingAResponseGivesItsBufferBack() throws {
        let movie = BufferPoolTests.movie, query = BufferPoolTests.query
        func handle(_ path: String) -> UnsafeMutablePointer<origo_response>? {
            "GET".withCString { method in
                movie.withCString { manifest in
                    path.withCString { virtual in
                        query.withCString { q in
                            var request = origo_request(method: method, manifest_path: manifest, virtual_path: virtual,
                                                        query: q, uri: nil, max_index_bytes: 0, upstream: nil, map_files: 1, no_wait: 0,
                                                        manifest_stat: nil, file_check_interval_ms: 0,
                                                        live_fragment_status: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
                            return origoHandle(&request)
                        }
                    }
                }
            }
        }
        func body(_ r: UnsafeMutablePointer<origo_response>) -> (UnsafePointer<UInt8>?, [UInt8]) {
            guard r.pointee.piece_count == 1, let piece = r.pointee.pieces?.pointee, let data = piece.data else { return (nil, []) }
            return (data, Array(UnsafeBufferPointer(start: data, count: Int(piece.length))))
        }
        let name = try #require(BufferPoolTests.tsSegments().first)
        let fresh = BufferPoolTests.get(name, from: Engine())
        guard fresh.status == 200, case .bytes(let expected)? = fresh.body.first else {
            Issue.record("\(name): \(fresh.status) \(fresh.logReason ?? "")")
            return
        }
        let first = try #require(handle(name))
        let (firstData, firstBytes) = body(first)
        #expect(firstBytes == expected)
        let keptBefore = Engine.shared.buffers.kept.count
        origoResponseFree(first)
        #expect(Engine.shared.buffers.kept.count > keptBefore)
        let second = try #require(handle(name))
        let (secondData, secondBytes) = body(second)
        #expect(secondBytes == expected)
        #expect(secondData == firstData, "written into the buffer the freed response gave back")
        origoResponseFree(second)
    }
}
