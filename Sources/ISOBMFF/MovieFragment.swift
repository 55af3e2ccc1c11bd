import ByteIO
import MediaModel

/// Appends the samples of one `moof` to the tracks' sample tables.
///
/// `moofOffset` is the absolute file offset of the `moof` box; data offsets in `trun` are resolved
/// against it (default-base-is-moof, or the first `traf`'s implicit base) or `tfhd`'s base offset.
enum MovieFragment {
    /// `auxiliary` gets the samples' encryption entries of the tracks whose sample entry is encrypted.
    static func append(moof: ByteReader, moofOffset: UInt64, movie: MovieBox,
                       tables: inout [UInt32: SampleTable], nextDecodeTime: inout [UInt32: Int64],
                       auxiliary: inout [UInt32: SampleAuxiliaryInfo], limits: ReadLimits) throws(ISOBMFFError) {
        var it = BoxIterator(moof)
        var implicitBase = moofOffset
        while let (h, traf) = try it.next() {
            guard h.type == "traf" else { continue }
            try appendTrack(traf, moofOffset: moofOffset, implicitBase: &implicitBase, movie: movie,
                            tables: &tables, nextDecodeTime: &nextDecodeTime, auxiliary: &auxiliary, limits: limits)
        }
    }

    private static func appendTrack(_ traf: ByteReader, moofOffset: UInt64, implicitBase: inout UInt64,
                                    movie: MovieBox, tables: inout [UInt32: SampleTable],
                                    nextDecodeTime: inout [UInt32: Int64], auxiliary: inout [UInt32: SampleAuxiliaryInfo],
                                    limits: ReadLimits) throws(ISOBMFFError) {
        guard let tfhd = try BoxIterator.first(traf, "tfhd") else { throw .malformed(box: "traf", reason: "no tfhd") }
        var defaults = TrackExtends()
        var base = implicitBase
        let trackID = try within("tfhd") { () throws -> UInt32 in
            var r = tfhd
            let (_, flags) = try r.readFullBoxHeader()
            let id = try r.readUInt32()
            defaults = movie.extends[id] ?? TrackExtends()
            if flags & 0x01 != 0 { base = try r.readUInt64() } else if flags & 0x02_0000 != 0 { base = moofOffset }
            if flags & 0x02 != 0 { _ = try r.readUInt32() }
            if flags & 0x08 != 0 { defaults.defaultDuration = try r.readUInt32() }
            if flags & 0x10 != 0 { defaults.defaultSize = try r.readUInt32() }
            if flags & 0x20 != 0 { defaults.defaultFlags = try r.readUInt32() }
            return id
        }
        // Fragments of tracks the movie does not declare (or that we skip) are ignored.
        guard var table = tables[trackID] else { return }
        tables[trackID] = nil   // keep the table uniquely referenced while appending
        let firstNew = table.count

        var decodeTime = nextDecodeTime[trackID] ?? table.totalDurationEnd
        if let tfdt = try BoxIterator.first(traf, "tfdt") {
            decodeTime = try within("tfdt") { () throws -> Int64 in
                var r = tfdt
                let (version, _) = try r.readFullBoxHeader()
                let t = version == 1 ? try r.readUInt64() : UInt64(try r.readUInt32())
                guard t <= UInt64(Int64.max / 2) else { throw ISOBMFFError.malformed(box: "tfdt", reason: "decode time \(t) too large") }
                return Int64(t)
            }
        }
        var dataEnd = base
        var it = BoxIterator(traf)
        while let (h, trun) = try it.next() {
            guard h.type == "trun" else { continue }
            try within("trun") {
                var r = trun
                let (_, flags) = try r.readFullBoxHeader()
                let count = Int(try r.readUInt32())
                guard count <= limits.maxSamplesPerTrack - table.count else {
                    throw ISOBMFFError.limitExceeded("more than \(limits.maxSamplesPerTrack) samples in track \(trackID)")
                }
                let total = tables.values.reduce(table.count) { $0 &+ $1.count }
                guard count <= limits.maxSamplesPerFile &- total else {
                    throw ISOBMFFError.limitExceeded("more than \(limits.maxSamplesPerFile) samples in one file")
                }
                let perSample = (flags & 0x100 != 0 ? 4 : 0) + (flags & 0x200 != 0 ? 4 : 0)
                    + (flags & 0x400 != 0 ? 4 : 0) + (flags & 0x800 != 0 ? 4 : 0)
                var offset = dataEnd
                if flags & 0x01 != 0 {
                    let delta = Int64(try r.readInt32())
                    let (o, overflow) = Int64(clamping: base).addingReportingOverflow(delta)
                    guard !overflow, o >= 0 else { throw ISOBMFFError.malformed(box: "trun", reason: "data offset before the file start") }
                    offset = UInt64(o)
                }
                let firstFlags: UInt32? = flags & 0x04 != 0 ? try r.readUInt32() : nil
                guard perSample == 0 || count <= r.remaining / perSample else {
                    throw ISOBMFFError.malformed(box: "trun", reason: "\(count) samples but only \(r.remaining) bytes")
                }
                table.reserve(additional: count)
                for i in 0..<count {
                    let duration = flags & 0x100 != 0 ? try r.readUInt32() : defaults.defaultDuration
                    let size = flags & 0x200 != 0 ? try r.readUInt32() : defaults.defaultSize
                    var sampleFlags = flags & 0x400 != 0 ? try r.readUInt32() : defaults.defaultFlags
                    if i == 0, let f = firstFlags { sampleFlags = f }
                    let cto = flags & 0x800 != 0 ? try r.readInt32() : 0
                    table.append(decodeTime: decodeTime, duration: duration, compositionOffset: cto,
                                 size: size, offset: offset, isSync: sampleFlags & 0x0001_0000 == 0)
                    decodeTime &+= Int64(duration)
                    let (next, overflow) = offset.addingReportingOverflow(UInt64(size))
                    guard !overflow else { throw ISOBMFFError.malformed(box: "trun", reason: "sample offset overflows") }
                    offset = next
                }
                dataEnd = offset
            }
        }
        implicitBase = dataEnd
        nextDecodeTime[trackID] = decodeTime
        if let protection = movie.tracks.first(where: { $0.trackID == trackID })?.entry.protection {
            try appendEncryption(traf, track: trackID, ivSize: Int(protection.ivSize),
                                 sizes: table.sizes[firstNew...], into: &auxiliary)
        }
        tables[trackID] = table
    }

    /// The `senc` (or PIFF `uuid`) entries of an encrypted track's fragment. A fragment without
    /// them (a clear lead) or with sample groups that change keys (`seig`) is not passed through.
    private static func appendEncryption(_ traf: ByteReader, track: UInt32, ivSize: Int, sizes: ArraySlice<UInt32>,
                                         into auxiliary: inout [UInt32: SampleAuxiliaryInfo]) throws(ISOBMFFError) {
        var box: (payload: ByteReader, piff: Bool)?
        var it = BoxIterator(traf)
        while let (h, child) = try it.next() {
            switch h.type {
            case "senc": box = (child, false)
            case "uuid" where box == nil && SampleEncryptionBox.isPIFF(child): box = (child, true)
            case "sgpd", "sbgp":
                var r = child
                let grouping = try within(h.type) { () throws -> String in _ = try r.readFullBoxHeader(); return try r.readFourCC() }
                if grouping == "seig" {
                    throw .unsupported("encrypted track \(track) changes keys or leads in the clear (seig sample groups)")
                }
            default: break
            }
        }
        var info = auxiliary[track] ?? SampleAuxiliaryInfo()
        auxiliary[track] = nil
        if let box {
            try SampleEncryptionBox.read(box.payload, piff: box.piff, ivSize: ivSize, sizes: sizes, into: &info)
        } else if ivSize == 0, info.count == 0 || !info.hasSubsamples {
            // A constant IV and whole samples encrypted: there is nothing per sample to say.
            for _ in sizes { info.append([], hasSubsamples: false) }
        } else {
            throw .unsupported("a fragment of encrypted track \(track) has no sample encryption box (senc)")
        }
        auxiliary[track] = info
    }
}

extension SampleTable {
    /// Decode time just after the last sample (where a following fragment continues).
    var totalDurationEnd: Int64 {
        guard let last = decodeTimes.last, let d = durations.last else { return 0 }
        return last &+ Int64(d)
    }

    mutating func reserve(additional: Int) {
        reserveCapacity(count &+ additional)
    }
}
