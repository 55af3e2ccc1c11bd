import ByteIO
import ISOBMFF
import MediaModel
#if canImport(Glibc)
import Glibc
#endif

/// The file format of one stored media index (`docs/INDEX-STORE.md`):
///
///     header, 64 bytes, little-endian:
///       "ORIGOIDX"  magic
///       u32 version, u32 header size (64)
///       u64 file length
///       u64 checksum of bytes 64..<length (``StoreChecksum``)
///       u32 key length, u32 description length
///       u64 reserved (0)
///       padding to 64
///     key (UTF-8), padded to 8
///     description (big-endian, ``ByteWriter``): the index, its tracks and codecs, and for every
///       sample column its (offset, count) in the file
///     columns, each 8-byte aligned, little-endian, as the media model holds them
///
/// Every position is relative to the file's start, so the file can be mapped anywhere. A reader
/// trusts nothing: magic, version, length, key and checksum first, then every column's place and
/// shape (``SampleTable/init(columns:)``), then the table's own invariants.
public enum IndexStoreFile {
    public static let version: UInt32 = 1
    static let magic: [UInt8] = Array("ORIGOIDX".utf8)
    static let headerSize = 64

    public enum Rejection: Error, Equatable, Sendable {
        /// Not a store file, or a version this engine does not read.
        case foreign
        /// Shorter or longer than its header says, or a checksum mismatch.
        case damaged
        /// A valid file for another source version (a hash collision of names, or an old key).
        case otherKey
        /// The description or a column is malformed.
        case malformed(String)
        /// More samples than the reader's limits allow.
        case tooLarge
    }

    /// Whether an index can be stored: tracks with samples held in memory or with per-sample
    /// encryption data are not (their indexes are parsed each time).
    public static func canStore(_ index: MP4Index) -> Bool {
        MemoryLayout<Int>.size == 8 && UInt16(littleEndian: 1) == 1
            && index.tracks.allSatisfy { $0.inlineData == nil && $0.protection == nil }
    }

    // MARK: - Writing

    /// The bytes of a store file for `index` under `key`, or nil when it cannot be stored.
    public static func encode(_ index: MP4Index, key: String) -> [UInt8]? {
        guard canStore(index) else { return nil }
        let keyBytes = Array(key.utf8)
        var columns = ColumnWriter(start: headerSize &+ padded(keyBytes.count))
        // Column places depend on the description's length: describe once to measure, then again
        // with the final places (both passes lay the columns out in the same order).
        let draft = describe(index, columns: &columns)
        columns = ColumnWriter(start: headerSize &+ padded(keyBytes.count) &+ padded(draft.count))
        let description = describe(index, columns: &columns)
        guard description.count == draft.count else { return nil }

        var out = [UInt8](repeating: 0, count: columns.position)
        out.withUnsafeMutableBytes { raw in
            var at = headerSize
            raw.baseAddress.map { base in
                keyBytes.withUnsafeBytes { k in memcpyIfAny(base + at, k) }
                at &+= padded(keyBytes.count)
                description.withUnsafeBytes { d in memcpyIfAny(base + at, d) }
                for blob in columns.blobs { blob.copy(base) }
            }
        }
        let sum = out.withUnsafeBytes { StoreChecksum.of(UnsafeRawBufferPointer(rebasing: $0[headerSize...])) }
        out.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: version.littleEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: UInt32(headerSize).littleEndian, toByteOffset: 12, as: UInt32.self)
            raw.storeBytes(of: UInt64(raw.count).littleEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: sum.littleEndian, toByteOffset: 24, as: UInt64.self)
            raw.storeBytes(of: UInt32(truncatingIfNeeded: keyBytes.count).littleEndian, toByteOffset: 32, as: UInt32.self)
            raw.storeBytes(of: UInt32(truncatingIfNeeded: description.count).littleEndian, toByteOffset: 36, as: UInt32.self)
            for (i, b) in magic.enumerated() { raw[i] = b }
        }
        return out
    }

    /// `bytes` with the header's length and checksum made to match its body: for tests and the
    /// fuzzer, to reach the checks behind them.
    public static func resealed(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= headerSize else { return bytes }
        var out = bytes
        let sum = out.withUnsafeBytes { StoreChecksum.of(UnsafeRawBufferPointer(rebasing: $0[headerSize...])) }
        out.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt64(raw.count).littleEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: sum.littleEndian, toByteOffset: 24, as: UInt64.self)
        }
        return out
    }

    static func padded(_ n: Int) -> Int { (n &+ 7) & ~7 }

    private static func memcpyIfAny(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawBufferPointer) {
        guard let s = source.baseAddress, source.count > 0 else { return }
        destination.copyMemory(from: s, byteCount: source.count)
    }

    /// Lays columns out after the description and remembers where each goes.
    struct ColumnWriter {
        struct Blob {
            let offset: Int
            let copy: (UnsafeMutableRawPointer) -> Void
        }
        private(set) var position: Int
        private(set) var blobs: [Blob] = []
        init(start: Int) { position = start }

        mutating func add<T>(_ column: [T], to w: inout ByteWriter) {
            let offset = position
            w.writeUInt64(UInt64(offset))
            w.writeUInt64(UInt64(column.count))
            let bytes = column.count &* MemoryLayout<T>.stride
            blobs.append(Blob(offset: offset) { base in
                column.withUnsafeBytes { memcpyIfAny(base + offset, $0) }
            })
            position = padded(position &+ bytes)
        }
    }

    private static func describe(_ index: MP4Index, columns: inout ColumnWriter) -> [UInt8] {
        var w = ByteWriter(capacity: 1024)
        w.writeUInt8(index.isFragmented ? 1 : 0)
        put(&w, index.majorBrand)
        w.writeUInt32(index.movieTimescale)
        let references = index.dataReferences.sorted { $0.key < $1.key }
        w.writeUInt32(UInt32(truncatingIfNeeded: references.count))
        for (id, reference) in references {
            w.writeUInt32(id)
            put(&w, reference)
        }
        w.writeUInt32(UInt32(truncatingIfNeeded: index.tracks.count))
        for t in index.tracks {
            w.writeUInt32(t.trackID)
            w.writeUInt8(t.kind == .video ? 0 : t.kind == .audio ? 1 : 2)
            w.writeUInt32(t.timescale)
            put(&w, t.language)
            put(&w, t.sampleEntryType)
            put(&w, t.sampleEntry)
            putCodec(&w, t.codec)
            for n in [t.width, t.height, t.sampleRate, t.channels, t.sourceSampleBase] { w.writeInt64(Int64(n)) }
            w.writeInt64(t.presentationOffset)
            let c = t.samples.columns
            w.writeUInt64(UInt64(c.sampleCount))
            w.writeUInt8(c.offsetsAreWide ? 1 : 0)
            w.writeUInt64(UInt64(c.syncFlagCount))
            columns.add(c.runFirst, to: &w)
            columns.add(c.runStart, to: &w)
            columns.add(c.runDuration, to: &w)
            columns.add(c.sizes, to: &w)
            columns.add(c.offsetBases, to: &w)
            columns.add(c.offsetDeltas, to: &w)
            columns.add(c.wideOffsets, to: &w)
            columns.add(c.compositionOffsets, to: &w)
            columns.add(c.syncWords, to: &w)
        }
        return w.take()
    }

    private static func put(_ w: inout ByteWriter, _ s: String) { put(&w, Array(s.utf8)) }
    private static func put(_ w: inout ByteWriter, _ b: [UInt8]) {
        w.writeUInt32(UInt32(truncatingIfNeeded: b.count))
        w.write(b)
    }
    private static func put(_ w: inout ByteWriter, _ list: [[UInt8]]) {
        w.writeUInt32(UInt32(truncatingIfNeeded: list.count))
        for b in list { put(&w, b) }
    }

    private static func putCodec(_ w: inout ByteWriter, _ codec: CodecConfiguration) {
        switch codec {
        case .other:
            w.writeUInt8(0)
        case .avc(let c):
            w.writeUInt8(1)
            w.write([c.profile, c.compatibility, c.level])
            w.writeInt64(Int64(c.nalLengthSize))
            put(&w, c.sps)
            put(&w, c.pps)
        case .hevc(let c):
            w.writeUInt8(2)
            w.write([c.profileSpace, c.tierFlag ? 1 : 0, c.profileIDC])
            w.writeUInt32(c.profileCompatibilityFlags)
            put(&w, c.constraintFlags)
            w.writeUInt8(c.levelIDC)
            w.writeInt64(Int64(c.nalLengthSize))
            put(&w, c.parameterSets)
        case .aac(let c):
            w.writeUInt8(3)
            w.write([c.objectType, c.samplingFrequencyIndex])
            w.writeInt64(Int64(c.sampleRate))
            w.writeUInt8(c.channelConfiguration)
            put(&w, c.specificConfig)
        case .ac3(let specific):
            w.writeUInt8(4)
            put(&w, specific)
        case .eac3(let specific):
            w.writeUInt8(5)
            put(&w, specific)
        }
    }

    // MARK: - Reading

    /// The index a store file holds, after every check. `dataSource` gives each track's
    /// ``Track/dataSource``: the source's own locator, or its data reference resolved now (never a
    /// path taken from the file). `maxSamplesPerTrack` and `maxSamplesPerFile` are the reader's
    /// limits, as for parsing.
    public static func decode(_ file: UnsafeRawBufferPointer, key: String, maxSamplesPerTrack: Int, maxSamplesPerFile: Int,
                              dataSource: (_ reference: String?) throws -> String) throws -> MP4Index {
        let length = file.count
        guard length >= headerSize, Array(file[0..<8]) == magic,
              file.loadLE(UInt32.self, at: 8) == version, file.loadLE(UInt32.self, at: 12) == UInt32(headerSize),
              MemoryLayout<Int>.size == 8, UInt16(littleEndian: 1) == 1 else {
            throw Rejection.foreign
        }
        guard file.loadLE(UInt64.self, at: 16) == UInt64(length),
              file.loadLE(UInt64.self, at: 24) == StoreChecksum.of(UnsafeRawBufferPointer(rebasing: file[headerSize...])) else {
            throw Rejection.damaged
        }
        let keyLength = Int(file.loadLE(UInt32.self, at: 32)), descriptionLength = Int(file.loadLE(UInt32.self, at: 36))
        let keyBytes = Array(key.utf8)
        let descriptionStart = headerSize &+ padded(keyLength)
        guard keyLength <= length &- headerSize, descriptionLength <= length &- descriptionStart else {
            throw Rejection.malformed("key or description beyond the file")
        }
        guard keyLength == keyBytes.count, file[headerSize..<(headerSize &+ keyLength)].elementsEqual(keyBytes) else {
            throw Rejection.otherKey
        }
        var r = ByteReader(Array(file[descriptionStart..<(descriptionStart &+ descriptionLength)]))
        do {
            return try read(&r, file: file, maxSamplesPerTrack: maxSamplesPerTrack, maxSamplesPerFile: maxSamplesPerFile,
                            dataSource: dataSource)
        } catch let error as ByteReaderError {
            throw Rejection.malformed("description: \(error)")
        } catch let error as MediaModelError {
            throw Rejection.malformed("sample table: \(error)")
        }
    }

    private static func read(_ r: inout ByteReader, file: UnsafeRawBufferPointer, maxSamplesPerTrack: Int, maxSamplesPerFile: Int,
                             dataSource: (String?) throws -> String) throws -> MP4Index {
        let fragmented = try r.readUInt8() != 0
        let brand = try string(&r)
        let movieTimescale = try r.readUInt32()
        var references: [UInt32: String] = [:]
        let referenceCount = Int(try r.readUInt32())
        guard referenceCount <= r.remaining / 8 else { throw Rejection.malformed("data reference count") }
        for _ in 0..<referenceCount {
            let id = try r.readUInt32()
            references[id] = try string(&r)
        }
        let trackCount = Int(try r.readUInt32())
        guard trackCount <= r.remaining / 64 else { throw Rejection.malformed("track count") }
        var tracks: [Track] = []
        var total = 0
        for _ in 0..<trackCount {
            let id = try r.readUInt32()
            let kinds: [TrackKind] = [.video, .audio, .text]
            let kindCode = Int(try r.readUInt8())
            guard kindCode < kinds.count else { throw Rejection.malformed("track kind") }
            let timescale = try r.readUInt32()
            let language = try string(&r)
            let entryType = try string(&r)
            let entry = try bytes(&r)
            let codec = try readCodec(&r)
            var numbers: [Int] = []
            for _ in 0..<5 {
                // Sizes, rates, channels and a sample base: parsed ones come from 32-bit fields at most.
                let n = try r.readInt64()
                guard n >= 0, n <= Int64(UInt32.max) else { throw Rejection.malformed("track number out of range") }
                numbers.append(Int(n))
            }
            let presentationOffset = try r.readInt64()
            let count = try r.readUInt64()
            let wide = try r.readUInt8() != 0
            let syncCount = try r.readUInt64()
            guard count <= UInt64(maxSamplesPerTrack), syncCount <= count else { throw Rejection.tooLarge }
            total &+= Int(count)
            guard total <= maxSamplesPerFile else { throw Rejection.tooLarge }
            let columns = SampleTableColumns(
                sampleCount: Int(count), runFirst: try column(&r, file, Int.self), runStart: try column(&r, file, Int64.self),
                runDuration: try column(&r, file, UInt32.self), sizes: try column(&r, file, UInt32.self),
                offsetBases: try column(&r, file, UInt64.self), offsetDeltas: try column(&r, file, UInt32.self),
                wideOffsets: try column(&r, file, UInt64.self), offsetsAreWide: wide,
                compositionOffsets: try column(&r, file, Int32.self), syncFlagCount: Int(syncCount),
                syncWords: try column(&r, file, UInt64.self))
            let table = try SampleTable(columns: columns)
            var track = Track(trackID: id, kind: kinds[kindCode], timescale: timescale, language: language,
                              sampleEntryType: entryType, sampleEntry: entry, codec: codec,
                              width: numbers[0], height: numbers[1], sampleRate: numbers[2], channels: numbers[3],
                              samples: table, presentationOffset: presentationOffset,
                              dataSource: try dataSource(references[id]))
            track.sourceSampleBase = numbers[4]
            tracks.append(track)
        }
        guard r.isAtEnd else { throw Rejection.malformed("bytes after the description") }
        return MP4Index(tracks: tracks, isFragmented: fragmented, majorBrand: brand, movieTimescale: movieTimescale,
                        dataReferences: references)
    }

    /// One column: its place is checked against the file, then its bytes are copied out.
    private static func column<T: FixedWidthInteger>(_ r: inout ByteReader, _ file: UnsafeRawBufferPointer,
                                                     _ type: T.Type) throws -> [T] {
        let offset = try r.readUInt64(), count = try r.readUInt64()
        let size = UInt64(MemoryLayout<T>.stride)
        guard offset >= UInt64(headerSize), offset & 7 == 0, offset <= UInt64(file.count),
              count <= (UInt64(file.count) - offset) / size else {
            throw Rejection.malformed("column beyond the file")
        }
        let n = Int(count), start = Int(offset)
        return [T](unsafeUninitializedCapacity: n) { buffer, initialized in
            if n > 0, let destination = buffer.baseAddress, let source = file.baseAddress {
                UnsafeMutableRawPointer(destination).copyMemory(from: source + start, byteCount: n &* MemoryLayout<T>.stride)
            }
            initialized = n
        }
    }

    private static func bytes(_ r: inout ByteReader) throws -> [UInt8] {
        let n = Int(try r.readUInt32())
        return try r.readBytes(n)
    }

    private static func string(_ r: inout ByteReader) throws -> String {
        String(decoding: try bytes(&r), as: UTF8.self)
    }

    private static func byteList(_ r: inout ByteReader) throws -> [[UInt8]] {
        let n = Int(try r.readUInt32())
        guard n <= r.remaining / 4 else { throw Rejection.malformed("list count") }
        var out: [[UInt8]] = []
        for _ in 0..<n { out.append(try bytes(&r)) }
        return out
    }

    private static func nalLengthSize(_ r: inout ByteReader) throws -> Int {
        let n = try r.readInt64()
        guard (1...4).contains(n) else { throw Rejection.malformed("NAL length size") }
        return Int(n)
    }

    private static func readCodec(_ r: inout ByteReader) throws -> CodecConfiguration {
        switch try r.readUInt8() {
        case 0:
            return .other
        case 1:
            let p = try r.readBytes(3)
            let size = try nalLengthSize(&r)
            return .avc(AVCConfiguration(profile: p[0], compatibility: p[1], level: p[2], nalLengthSize: size,
                                         sps: try byteList(&r), pps: try byteList(&r)))
        case 2:
            let p = try r.readBytes(3)
            let compatibility = try r.readUInt32()
            let constraints = try bytes(&r)
            let level = try r.readUInt8()
            let size = try nalLengthSize(&r)
            return .hevc(HEVCConfiguration(profileSpace: p[0], tierFlag: p[1] != 0, profileIDC: p[2],
                                           profileCompatibilityFlags: compatibility, constraintFlags: constraints,
                                           levelIDC: level, nalLengthSize: size, parameterSets: try byteList(&r)))
        case 3:
            let p = try r.readBytes(2)
            let rate = try r.readInt64()
            guard rate >= 0, rate <= 1 << 24 else { throw Rejection.malformed("sample rate") }
            let channels = try r.readUInt8()
            return .aac(AACConfiguration(objectType: p[0], samplingFrequencyIndex: p[1], sampleRate: Int(rate),
                                         channelConfiguration: channels, specificConfig: try bytes(&r)))
        case 4:
            return .ac3(specific: try bytes(&r))
        case 5:
            return .eac3(specific: try bytes(&r))
        default:
            throw Rejection.malformed("codec kind")
        }
    }
}

extension UnsafeRawBufferPointer {
    /// A little-endian integer at `offset` (the caller checked the bounds).
    func loadLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
