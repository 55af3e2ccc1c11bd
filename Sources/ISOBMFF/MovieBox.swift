import ByteIO
import MediaModel

/// A track as described by `moov/trak`, before fragments add samples.
struct TrackHeader {
    var trackID: UInt32
    var kind: TrackKind
    var timescale: UInt32
    var language: String
    var entry: SampleEntryInfo
    var tkhdWidth: Int
    var tkhdHeight: Int
    var samples: SampleTable
    /// From `elst`: the media time shown at presentation zero, and an initial empty edit (movie timescale).
    var editMediaTime: Int64?
    var editDelay: UInt64
    /// The `dref` location of the samples when they live in another file (an index MP4's
    /// `url ` entry without the self-contained flag), nil when they are in this file.
    var dataReference: String?
}

/// Defaults for fragments from `mvex/trex`.
struct TrackExtends {
    var defaultDuration: UInt32 = 0
    var defaultSize: UInt32 = 0
    var defaultFlags: UInt32 = 0
}

/// `moov`: the movie timescale, its tracks, and fragment defaults.
struct MovieBox {
    var timescale: UInt32 = 1000
    var tracks: [TrackHeader] = []
    var extends: [UInt32: TrackExtends] = [:]
    var isFragmented = false
    /// The `pssh` boxes, whole, for encrypted tracks' init segments.
    var psshBoxes: [[UInt8]] = []

    static func parse(_ moov: ByteReader, limits: ReadLimits) throws(ISOBMFFError) -> MovieBox {
        var movie = MovieBox()
        var totalSamples = 0
        var it = BoxIterator(moov)
        while let (h, r) = try it.next() {
            switch h.type {
            case "mvhd":
                movie.timescale = try within("mvhd") { () throws -> UInt32 in
                    var r = r
                    let (version, _) = try r.readFullBoxHeader()
                    try r.skip(version == 1 ? 16 : 8)
                    return try r.readUInt32()
                }
            case "trak":
                if let track = try parseTrak(r, limits: limits) {
                    totalSamples &+= track.samples.count
                    guard totalSamples <= limits.maxSamplesPerFile else {
                        throw .limitExceeded("more than \(limits.maxSamplesPerFile) samples in one file")
                    }
                    movie.tracks.append(track)
                }
            case "pssh":
                guard movie.psshBoxes.count < 32, r.remaining < 1 << 20 else { throw .limitExceeded("too many or too large pssh boxes") }
                var box = ByteWriter(capacity: 8 + r.remaining)
                box.writeUInt32(UInt32(clamping: 8 + r.remaining))
                box.write(Array("pssh".utf8))
                box.write(Array(r.remainingBytes))
                movie.psshBoxes.append(box.take())
            case "mvex":
                movie.isFragmented = true
                for trex in try BoxIterator.children(r, "trex") {
                    let (id, ext) = try within("trex") { () throws -> (UInt32, TrackExtends) in
                        var t = trex
                        _ = try t.readFullBoxHeader()
                        let id = try t.readUInt32()
                        _ = try t.readUInt32()
                        return (id, TrackExtends(defaultDuration: try t.readUInt32(), defaultSize: try t.readUInt32(),
                                                 defaultFlags: try t.readUInt32()))
                    }
                    movie.extends[id] = ext
                }
            default:
                break
            }
        }
        return movie
    }

    /// One `trak`, or nil for track types we do not serve (hint, metadata, chapters).
    private static func parseTrak(_ trak: ByteReader, limits: ReadLimits) throws(ISOBMFFError) -> TrackHeader? {
        guard let tkhd = try BoxIterator.first(trak, "tkhd") else { throw .malformed(box: "trak", reason: "no tkhd") }
        guard let mdia = try BoxIterator.first(trak, "mdia") else { throw .malformed(box: "trak", reason: "no mdia") }
        guard let mdhd = try BoxIterator.first(mdia, "mdhd") else { throw .malformed(box: "mdia", reason: "no mdhd") }
        guard let hdlr = try BoxIterator.first(mdia, "hdlr") else { throw .malformed(box: "mdia", reason: "no hdlr") }
        let handler = try within("hdlr") { () throws -> String in
            var r = hdlr
            _ = try r.readFullBoxHeader()
            _ = try r.readUInt32()
            return try r.readFourCC()
        }
        let kind: TrackKind
        switch handler {
        case "vide": kind = .video
        case "soun": kind = .audio
        case "text", "subt", "sbtl": kind = .text
        default: return nil
        }
        let (trackID, width, height) = try within("tkhd") { () throws -> (UInt32, Int, Int) in
            var r = tkhd
            let (version, _) = try r.readFullBoxHeader()
            try r.skip(version == 1 ? 16 : 8)
            let id = try r.readUInt32()
            try r.skip(4 + (version == 1 ? 8 : 4) + 8 + 2 + 2 + 2 + 2 + 36)
            let w = Int(try r.readUInt32() >> 16)
            let h = Int(try r.readUInt32() >> 16)
            return (id, w, h)
        }
        let (timescale, language) = try within("mdhd") { () throws -> (UInt32, String) in
            var r = mdhd
            let (version, _) = try r.readFullBoxHeader()
            try r.skip(version == 1 ? 16 : 8)
            let timescale = try r.readUInt32()
            try r.skip(version == 1 ? 8 : 4)
            let code = try r.readUInt16()
            return (timescale, Self.language(code))
        }
        guard timescale > 0 else { throw .malformed(box: "mdhd", reason: "timescale 0 in track \(trackID)") }

        guard let minf = try BoxIterator.first(mdia, "minf") else { throw .malformed(box: "mdia", reason: "no minf") }
        guard let stbl = try BoxIterator.first(minf, "stbl") else { throw .malformed(box: "minf", reason: "no stbl") }
        guard let stsd = try BoxIterator.first(stbl, "stsd") else { throw .malformed(box: "stbl", reason: "no stsd") }
        var entry = try SampleEntryParser.parse(stsd: stsd)
        let samples = try SampleTableBox.parse(stbl, limits: limits)
        if var protection = entry.protection, let senc = try BoxIterator.first(stbl, "senc") {
            // A progressive file keeps its samples' auxiliary information in the sample table.
            try SampleEncryptionBox.read(senc, piff: false, ivSize: Int(protection.ivSize), sizes: samples.sizes,
                                         into: &protection.samples)
            entry.protection = protection
        }
        let reference = try dataReference(minf)

        var editMediaTime: Int64?
        var editDelay: UInt64 = 0
        if let edts = try BoxIterator.first(trak, "edts"), let elst = try BoxIterator.first(edts, "elst") {
            (editMediaTime, editDelay) = try parseEditList(elst)
        }
        return TrackHeader(trackID: trackID, kind: kind, timescale: timescale, language: language, entry: entry,
                           tkhdWidth: width, tkhdHeight: height, samples: samples,
                           editMediaTime: editMediaTime, editDelay: editDelay, dataReference: reference)
    }

    /// The first non-empty edit's media time, and the duration of empty edits before it.
    /// Only that much of an edit list is honoured: it is what encoders write for priming and B-frames.
    static func parseEditList(_ elst: ByteReader) throws(ISOBMFFError) -> (Int64?, UInt64) {
        try within("elst") { () throws -> (Int64?, UInt64) in
            var r = elst
            let (version, _) = try r.readFullBoxHeader()
            let count = Int(try r.readUInt32())
            var delay: UInt64 = 0
            for _ in 0..<min(count, r.remaining / 12) {
                let duration = version == 1 ? try r.readUInt64() : UInt64(try r.readUInt32())
                let mediaTime = version == 1 ? try r.readInt64() : Int64(try r.readInt32())
                _ = try r.readUInt32()
                if mediaTime == -1 {
                    delay = delay &+ duration
                } else {
                    return (mediaTime, delay)
                }
            }
            return (nil, delay)
        }
    }

    /// The location in the first `dref` entry (the one sample entries point at with
    /// data_reference_index 1) when it is external, nil when the samples are in this file.
    /// `urn ` entries and empty locations are refused: there is nothing to resolve them against.
    static func dataReference(_ minf: ByteReader) throws(ISOBMFFError) -> String? {
        guard let dinf = try BoxIterator.first(minf, "dinf"), let dref = try BoxIterator.first(dinf, "dref") else {
            return nil
        }
        var r = dref
        try within("dref") { _ = try r.readFullBoxHeader(); _ = try r.readUInt32() }
        var it = BoxIterator(r.restReader())
        guard let (header, entry) = try it.next() else { return nil }
        var e = entry
        let flags = try within("dref") { try e.readFullBoxHeader().flags }
        if flags & 1 != 0 { return nil }
        guard header.type == "url " else {
            throw .unsupported("data reference of type \(header.type) (only url entries are resolved)")
        }
        let location = e.readCString()
        guard !location.isEmpty, location.utf8.count <= 4096,
              !location.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .malformed(box: "dref", reason: "external url entry without a usable location")
        }
        return location
    }

    /// ISO 639-2/T from mdhd's packed 3 × 5 bits.
    static func language(_ code: UInt16) -> String {
        guard code != 0 && code != 0x7FFF else { return "und" }
        let letters = [(code >> 10) & 0x1F, (code >> 5) & 0x1F, code & 0x1F].map { UInt8(truncatingIfNeeded: $0) &+ 0x60 }
        guard letters.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) else { return "und" }
        return String(decoding: letters, as: UTF8.self)
    }
}
