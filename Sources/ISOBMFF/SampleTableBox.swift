import ByteIO
import MediaModel

/// Builds a ``SampleTable`` from the boxes of a progressive `stbl`: `stts`, `ctts`, `stss`, `stsc`,
/// `stsz`/`stz2`, `stco`/`co64`. Every count read from the file is checked against the bytes that
/// back it and against ``ReadLimits``, so a lying header cannot allocate without bound.
enum SampleTableBox {
    static func parse(_ stbl: ByteReader, limits: ReadLimits) throws(ISOBMFFError) -> SampleTable {
        var boxes: [String: ByteReader] = [:]
        var it = BoxIterator(stbl)
        while let (h, r) = try it.next() {
            if boxes[h.type] == nil { boxes[h.type] = r }
        }
        let sizes: [UInt32]
        if let stsz = boxes["stsz"] {
            sizes = try readSTSZ(stsz, limits: limits)
        } else if let stz2 = boxes["stz2"] {
            sizes = try readSTZ2(stz2, limits: limits)
        } else {
            throw .malformed(box: "stbl", reason: "no stsz or stz2")
        }
        let count = sizes.count
        guard count > 0 else { return SampleTable() }

        guard let stts = boxes["stts"] else { throw .malformed(box: "stbl", reason: "no stts") }
        let timing = try readSTTS(stts, count: count)
        let offsets: [Int32] = try boxes["ctts"].map { b throws(ISOBMFFError) in try readCTTS(b, count: count) } ?? []
        let sync: SyncFlags = try boxes["stss"].map { b throws(ISOBMFFError) in try readSTSS(b, count: count) } ?? SyncFlags()
        let chunkOffsets: [UInt64]
        if let stco = boxes["stco"] {
            chunkOffsets = try readChunkOffsets(stco, wide: false)
        } else if let co64 = boxes["co64"] {
            chunkOffsets = try readChunkOffsets(co64, wide: true)
        } else {
            throw .malformed(box: "stbl", reason: "no stco or co64")
        }
        guard let stsc = boxes["stsc"] else { throw .malformed(box: "stbl", reason: "no stsc") }
        let sampleOffsets = try placeSamples(stsc, chunkOffsets: chunkOffsets, sizes: sizes)

        let table = SampleTable(timing: timing, sizes: sizes, offsets: sampleOffsets,
                                compositionOffsets: offsets, syncFlags: sync)
        do {
            try table.validate()
        } catch {
            throw .malformed(box: "stbl", reason: "\(error)")
        }
        return table
    }

    static func readSTSZ(_ box: ByteReader, limits: ReadLimits) throws(ISOBMFFError) -> [UInt32] {
        try within("stsz") {
            var r = box
            _ = try r.readFullBoxHeader()
            let fixed = try r.readUInt32()
            let count = Int(try r.readUInt32())
            guard count <= limits.maxSamplesPerTrack else {
                throw ISOBMFFError.limitExceeded("\(count) samples in one track (limit \(limits.maxSamplesPerTrack))")
            }
            if fixed != 0 { return [UInt32](repeating: fixed, count: count) }
            guard count <= r.remaining / 4 else {
                throw ISOBMFFError.malformed(box: "stsz", reason: "\(count) sizes but only \(r.remaining) bytes")
            }
            var sizes = [UInt32]()
            sizes.reserveCapacity(count)
            for _ in 0..<count { sizes.append(try r.readUInt32()) }
            return sizes
        }
    }

    static func readSTZ2(_ box: ByteReader, limits: ReadLimits) throws(ISOBMFFError) -> [UInt32] {
        try within("stz2") {
            var r = box
            _ = try r.readFullBoxHeader()
            let fieldSize = Int(try r.readUInt32() & 0xFF)
            let count = Int(try r.readUInt32())
            guard count <= limits.maxSamplesPerTrack else {
                throw ISOBMFFError.limitExceeded("\(count) samples in one track (limit \(limits.maxSamplesPerTrack))")
            }
            guard [4, 8, 16].contains(fieldSize) else {
                throw ISOBMFFError.malformed(box: "stz2", reason: "field size \(fieldSize)")
            }
            guard count <= r.remaining * 8 / fieldSize else {
                throw ISOBMFFError.malformed(box: "stz2", reason: "\(count) sizes but only \(r.remaining) bytes")
            }
            var sizes = [UInt32]()
            sizes.reserveCapacity(count)
            var i = 0
            while i < count {
                switch fieldSize {
                case 4:
                    let b = try r.readUInt8()
                    sizes.append(UInt32(b >> 4))
                    if i + 1 < count { sizes.append(UInt32(b & 0x0F)) }
                    i += 2
                case 8:
                    sizes.append(UInt32(try r.readUInt8())); i += 1
                default:
                    sizes.append(UInt32(try r.readUInt16())); i += 1
                }
            }
            return sizes
        }
    }

    /// Decode times and durations of `count` samples. Extra `stts` entries past `count` are ignored
    /// (some muxers write a trailing zero-count entry); too few is an error.
    static func readSTTS(_ box: ByteReader, count: Int) throws(ISOBMFFError) -> SampleTiming {
        try within("stts") {
            var r = box
            _ = try r.readFullBoxHeader()
            let entries = Int(try r.readUInt32())
            guard entries <= r.remaining / 8 else {
                throw ISOBMFFError.malformed(box: "stts", reason: "\(entries) entries but only \(r.remaining) bytes")
            }
            var timing = SampleTiming()
            var covered = 0
            var t: Int64 = 0
            for _ in 0..<entries where covered < count {
                let n = Int(try r.readUInt32())
                let d = try r.readUInt32()
                for _ in 0..<min(n, count - covered) {
                    timing.append(decodeTime: t, duration: d)
                    covered += 1
                    t &+= Int64(d)   // at most 2^32 samples of 2^32 units: fits in Int64
                }
            }
            guard covered == count else {
                throw ISOBMFFError.malformed(box: "stts", reason: "covers \(covered) of \(count) samples")
            }
            return timing
        }
    }

    static func readCTTS(_ box: ByteReader, count: Int) throws(ISOBMFFError) -> [Int32] {
        try within("ctts") {
            var r = box
            _ = try r.readFullBoxHeader()
            let entries = Int(try r.readUInt32())
            guard entries <= r.remaining / 8 else {
                throw ISOBMFFError.malformed(box: "ctts", reason: "\(entries) entries but only \(r.remaining) bytes")
            }
            var offsets = [Int32]()
            offsets.reserveCapacity(count)
            for _ in 0..<entries where offsets.count < count {
                let n = Int(try r.readUInt32())
                // Version 0 says unsigned, but writers store negative offsets there too: read signed.
                let o = try r.readInt32()
                offsets.append(contentsOf: repeatElement(o, count: min(n, count - offsets.count)))
            }
            guard offsets.count == count else {
                throw ISOBMFFError.malformed(box: "ctts", reason: "covers \(offsets.count) of \(count) samples")
            }
            return offsets
        }
    }

    static func readSTSS(_ box: ByteReader, count: Int) throws(ISOBMFFError) -> SyncFlags {
        try within("stss") {
            var r = box
            _ = try r.readFullBoxHeader()
            let entries = Int(try r.readUInt32())
            guard entries <= r.remaining / 4 else {
                throw ISOBMFFError.malformed(box: "stss", reason: "\(entries) entries but only \(r.remaining) bytes")
            }
            var sync = SyncFlags(repeating: false, count: count)
            for _ in 0..<entries {
                let n = Int(try r.readUInt32())
                // Sample numbers are 1-based; out-of-range entries are ignored rather than fatal.
                if n >= 1 && n <= count { sync.set(n - 1, to: true) }
            }
            return sync
        }
    }

    static func readChunkOffsets(_ box: ByteReader, wide: Bool) throws(ISOBMFFError) -> [UInt64] {
        let name = wide ? "co64" : "stco"
        return try within(name) {
            var r = box
            _ = try r.readFullBoxHeader()
            let entries = Int(try r.readUInt32())
            guard entries <= r.remaining / (wide ? 8 : 4) else {
                throw ISOBMFFError.malformed(box: name, reason: "\(entries) entries but only \(r.remaining) bytes")
            }
            var out = [UInt64]()
            out.reserveCapacity(entries)
            for _ in 0..<entries { out.append(wide ? try r.readUInt64() : UInt64(try r.readUInt32())) }
            return out
        }
    }

    /// Absolute offset of every sample from the sample-to-chunk runs and the chunk offsets.
    static func placeSamples(_ box: ByteReader, chunkOffsets: [UInt64], sizes: [UInt32]) throws(ISOBMFFError) -> SampleOffsets {
        try within("stsc") {
            var r = box
            _ = try r.readFullBoxHeader()
            let entries = Int(try r.readUInt32())
            guard entries <= r.remaining / 12 else {
                throw ISOBMFFError.malformed(box: "stsc", reason: "\(entries) entries but only \(r.remaining) bytes")
            }
            var runs: [(firstChunk: Int, perChunk: Int)] = []
            runs.reserveCapacity(entries)
            for _ in 0..<entries {
                let first = Int(try r.readUInt32())
                let perChunk = Int(try r.readUInt32())
                _ = try r.readUInt32()   // sample description index: one entry is served
                guard first >= 1, first > (runs.last?.firstChunk ?? 0) else {
                    throw ISOBMFFError.malformed(box: "stsc", reason: "first_chunk \(first) out of order")
                }
                // A chunk cannot hold more samples than the whole track has (stsz disagrees).
                guard perChunk <= sizes.count else {
                    throw ISOBMFFError.malformed(box: "stsc", reason: "\(perChunk) samples per chunk but \(sizes.count) in the track")
                }
                runs.append((first, perChunk))
            }
            var offsets = SampleOffsets()
            offsets.reserveCapacity(sizes.count)
            for (k, run) in runs.enumerated() {
                let lastChunk = k + 1 < runs.count ? runs[k + 1].firstChunk - 1 : chunkOffsets.count
                guard run.firstChunk <= chunkOffsets.count || offsets.count == sizes.count else {
                    throw ISOBMFFError.malformed(box: "stsc", reason: "chunk \(run.firstChunk) beyond \(chunkOffsets.count) chunk offsets")
                }
                var chunk = run.firstChunk
                while chunk <= min(lastChunk, chunkOffsets.count) && offsets.count < sizes.count {
                    var position = chunkOffsets[chunk - 1]
                    for _ in 0..<min(run.perChunk, sizes.count - offsets.count) {
                        offsets.append(position)
                        let (next, overflow) = position.addingReportingOverflow(UInt64(sizes[offsets.count - 1]))
                        guard !overflow else { throw ISOBMFFError.malformed(box: "stsc", reason: "sample offset overflows") }
                        position = next
                    }
                    chunk += 1
                }
            }
            guard offsets.count == sizes.count else {
                throw ISOBMFFError.malformed(box: "stsc", reason: "chunks hold \(offsets.count) of \(sizes.count) samples")
            }
            return offsets
        }
    }
}
