import ByteIO
@testable import Engine
import ISOBMFF
import MediaModel
import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Regression tests for malformed media found by the integration suite (Tests/integration/
/// test_malformed.py, variants from mp4mutate.py): the same mutations, built here in Swift on the
/// small fixtures, each must be refused with a typed error (never served, never a trap).
@Suite struct MalformedMediaTests {
    /// A box found by walking types from the top level: where its payload starts and ends.
    struct Found { var offset: Int; var payload: Int; var end: Int }

    static let containers: Set<String> = ["moov", "trak", "mdia", "minf", "stbl", "edts", "moof", "traf", "mvex", "dinf"]

    /// The boxes of `type` along `path` (`["moov", "trak"]`, every match at the last level).
    static func find(_ bytes: [UInt8], _ path: [String], from start: Int = 0, to end: Int? = nil) -> [Found] {
        guard let first = path.first else { return [] }
        var out: [Found] = []
        var pos = start
        let end = end ?? bytes.count
        while end - pos >= 8 {
            let size = Int(read32(bytes, pos))
            let type = String(decoding: bytes[pos + 4..<pos + 8], as: UTF8.self)
            guard size >= 8, pos + size <= end else { break }
            if type == first {
                let box = Found(offset: pos, payload: pos + 8, end: pos + size)
                if path.count == 1 { out.append(box) } else { out += find(bytes, Array(path.dropFirst()), from: box.payload, to: box.end) }
            }
            pos += size
        }
        return out
    }

    /// The first box along `path` inside the track whose handler is `handler`.
    static func inTrack(_ bytes: [UInt8], _ handler: String, _ path: [String]) -> Found? {
        for trak in find(bytes, ["moov", "trak"]) {
            guard let hdlr = find(bytes, ["mdia", "hdlr"], from: trak.payload, to: trak.end).first,
                  String(decoding: bytes[hdlr.payload + 8..<hdlr.payload + 12], as: UTF8.self) == handler else { continue }
            return find(bytes, path, from: trak.payload, to: trak.end).first
        }
        return nil
    }

    static func read32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    static func write32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
        for k in 0..<4 { b[at + k] = UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32(k))) }
    }

    func read(_ bytes: [UInt8], limits: ReadLimits = .default) throws -> MP4Index {
        try MP4Reader.read(MemoryReader(bytes), locator: "mem", limits: limits)
    }

    func expectMalformed(_ bytes: [UInt8], containing text: String, limits: ReadLimits = .default) {
        do {
            _ = try read(bytes, limits: limits)
            Issue.record("read succeeded; expected an error mentioning \(text)")
        } catch let error as ISOBMFFError {
            #expect(error.logReason.contains(text), "\(error.logReason)")
            #expect(error.httpStatus >= 500)
        } catch {
            Issue.record("untyped error \(error)")
        }
    }

    @Test func fixturesStillRead() throws {
        #expect(try read(Fixtures.bytes("progressive.mp4")).tracks.count == 2)
        #expect(try read(Fixtures.bytes("fragmented.mp4")).tracks.count == 2)
    }

    /// stsc-huge-run: one chunk claiming 2^32-1 samples used to pack every sample into chunk 1.
    @Test func stscRunLargerThanTrack() throws {
        var bytes = try Fixtures.bytes("progressive.mp4")
        let stsc = try #require(Self.inTrack(bytes, "vide", ["mdia", "minf", "stbl", "stsc"]))
        Self.write32(&bytes, stsc.payload + 12, 0xFFFF_FFFF)
        expectMalformed(bytes, containing: "samples per chunk")
    }

    /// frag-mdat-empty: the first fragment's samples pointed into the next moof and were served.
    @Test func samplesOutsideEveryMdat() throws {
        let file = try Fixtures.bytes("fragmented.mp4")
        let mdat = try #require(Self.find(file, ["mdat"]).first)
        var bytes = Array(file[..<mdat.offset]) + [0, 0, 0, 8] + Array("mdat".utf8) + Array(file[mdat.end...])
        expectMalformed(bytes, containing: "outside every mdat")
        // The same in a progressive file: a chunk offset moved into the moov.
        bytes = try Fixtures.bytes("progressive.mp4")
        let stco = try #require(Self.inTrack(bytes, "vide", ["mdia", "minf", "stbl", "stco"]))
        Self.write32(&bytes, stco.payload + 8, 40)
        expectMalformed(bytes, containing: "outside every mdat")
    }

    /// ctts-huge: a composition offset of 2^31-1 put a sample 46 hours away and broke DASH timelines.
    @Test func compositionOffsetBeyondTrack() throws {
        var bytes = try Fixtures.bytes("progressive.mp4")
        let ctts = try #require(Self.inTrack(bytes, "vide", ["mdia", "minf", "stbl", "ctts"]))
        Self.write32(&bytes, ctts.payload + 12, 0x7FFF_FFFF)
        expectMalformed(bytes, containing: "composition offset")
    }

    /// A moov repeating a track whose few table bytes claim millions of samples: the per-file bound
    /// stops the sum, and the engine derives it from the index size it allows.
    @Test func samplesPerFileBound() throws {
        let limits = ReadLimits(maxIndexBytes: 1 << 20, maxSamplesPerTrack: 1000, maxBoxDepth: 16, maxSamplesPerFile: 100)
        expectMalformed(try Fixtures.bytes("progressive.mp4"), containing: "samples in one file", limits: limits)
        expectMalformed(try Fixtures.bytes("fragmented.mp4"), containing: "samples in one file", limits: limits)
        let small = PresentationLoader.limits(maxIndexBytes: 4096)
        #expect(small.maxSamplesPerFile == 1024 && small.maxSamplesPerTrack == 1024)
        let standard = PresentationLoader.limits(maxIndexBytes: 0)
        #expect(standard.maxSamplesPerFile == ReadLimits.default.maxSamplesPerFile)
        #expect(standard.maxSamplesPerTrack == ReadLimits.default.maxSamplesPerTrack)
    }

    /// stsz-count-huge: 2^32-1 samples claimed in a few bytes is refused before any allocation.
    @Test func hugeSampleCount() throws {
        var bytes = try Fixtures.bytes("progressive.mp4")
        let stsz = try #require(Self.inTrack(bytes, "vide", ["mdia", "minf", "stbl", "stsz"]))
        Self.write32(&bytes, stsz.payload + 4, 1)
        Self.write32(&bytes, stsz.payload + 8, 0xFFFF_FFFF)
        do {
            _ = try read(bytes)
            Issue.record("read succeeded")
        } catch let error as ISOBMFFError {
            guard case .limitExceeded = error else { Issue.record("\(error)"); return }
        }
    }

    /// codec-unknown: a video track with sample entry `zzzz` was offered in playlists and its
    /// segments served; now the track is left out of a plain MP4 and refused in a server manifest.
    @Test func unknownCodecIsNotServed() throws {
        var bytes = try Fixtures.bytes("progressive.mp4")
        let stsd = try #require(Self.inTrack(bytes, "vide", ["mdia", "minf", "stbl", "stsd"]))
        for (k, c) in "zzzz".utf8.enumerated() { bytes[stsd.payload + 8 + 4 + k] = c }
        let path = try Self.temporaryFile(bytes)
        defer { unlink(path) }
        let engine = Engine()
        let master = engine.handle(EngineRequest(method: "GET", manifestPath: path, virtualPath: ".m3u8", query: nil))
        #expect(master.status == 200)
        let text = master.body.reduce(into: "") { out, piece in
            if case .bytes(let b) = piece { out += String(decoding: b, as: UTF8.self) }
        }
        #expect(!text.contains("video="), "\(text)")
        #expect(text.contains("audio"))
    }

    static func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = "/tmp/origo-malformed-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).mp4"
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        #expect(fd >= 0)
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        #expect(written == bytes.count)
        return path
    }
}
