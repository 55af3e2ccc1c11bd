import ByteIO
import MediaModel

/// A track as a live encoder's `moov` announces it: what the ingest checks later fragments
/// against (codec identity, timescale) and what a publishing point lists.
public struct AnnouncedTrack: Sendable, Equatable {
    public var trackID: UInt32
    public var kind: TrackKind
    public var timescale: UInt32
    public var language: String
    /// The sample entry's four-character code (`avc1`, `mp4a`, …).
    public var sampleEntryType: String
    /// The whole first sample entry: two announcements of one track with different bytes here are
    /// a codec change.
    public var sampleEntry: [UInt8]
    public var width: Int
    public var height: Int
    public var sampleRate: Int
    public var channels: Int
    /// RFC 6381 codec string when the entry is one we know (`avc1.64001f`), else the entry type.
    public var codecString: String
}

extension AnnouncedTrack {
    /// What the media model says of an announced (sample-less) track.
    init(_ model: Track) {
        self.init(trackID: model.trackID, kind: model.kind, timescale: model.timescale, language: model.language,
                  sampleEntryType: model.sampleEntryType, sampleEntry: model.sampleEntry,
                  width: model.width, height: model.height, sampleRate: model.sampleRate, channels: model.channels,
                  codecString: model.codecsString)
    }
}

/// The header an encoder sends before its fragments (`moov`, with `mvex` defaults).
public struct IngestMovie {
    public let tracks: [AnnouncedTrack]
    let movie: MovieBox
    /// Each announced track in the media model, without samples (for init segments).
    private let models: [UInt32: Track]

    /// Parses a `moov` payload (the bytes after its box header).
    public init(moovPayload: [UInt8]) throws(ISOBMFFError) {
        // No samples may come in the moov of a live stream, so the sample limits only guard memory.
        let limits = ReadLimits(maxIndexBytes: 1 << 20, maxSamplesPerTrack: 0, maxBoxDepth: 16, maxSamplesPerFile: 0)
        let movie = try MovieBox.parse(ByteReader(moovPayload), limits: limits)
        var seen = Set<UInt32>()
        var tracks: [AnnouncedTrack] = []
        var models: [UInt32: Track] = [:]
        for t in movie.tracks {
            guard seen.insert(t.trackID).inserted else { throw .malformed(box: "moov", reason: "track \(t.trackID) announced twice") }
            guard t.timescale > 0 else { throw .malformed(box: "mdhd", reason: "track \(t.trackID) has timescale 0") }
            let type = t.entry.protection?.originalFormat ?? t.entry.type
            let width = t.entry.width > 0 ? t.entry.width : t.tkhdWidth
            let height = t.entry.height > 0 ? t.entry.height : t.tkhdHeight
            // The codec string is the media model's; a sample-less Track is the way to ask it.
            let model = Track(trackID: t.trackID, kind: t.kind, timescale: t.timescale, language: t.language,
                              sampleEntryType: type, sampleEntry: t.entry.bytes, codec: t.entry.codec,
                              width: t.kind == .video ? width : 0, height: t.kind == .video ? height : 0,
                              sampleRate: t.kind == .audio ? t.entry.sampleRate : 0,
                              channels: t.kind == .audio ? t.entry.channels : 0,
                              samples: SampleTable(), dataSource: "")
            models[t.trackID] = model
            tracks.append(AnnouncedTrack(model))
        }
        guard !tracks.isEmpty else { throw .malformed(box: "moov", reason: "no track") }
        self.tracks = tracks
        self.movie = movie
        self.models = models
    }

    /// An announced track in the media model, without samples: what an init segment describes.
    public func track(_ id: UInt32) -> Track? { models[id] }

    /// A stored fragment (`moof` bytes, header included) as players need it: with a `tfdt` of
    /// `time` when it has none (Smooth ingest times fragments with `tfxd`, which only Smooth
    /// clients read), its `traf` and `moof` sizes and a moof-relative `trun` data offset moved by
    /// the inserted bytes. Nil when the fragment has a `tfdt` already (it is served as stored).
    public static func moofWithDecodeTime(_ moof: [UInt8], time: UInt64) throws(ISOBMFFError) -> [UInt8]? {
        var r = ByteReader(moof)
        let header = try BoxHeader.read(&r, available: UInt64(moof.count))
        guard header.type == "moof", header.size == UInt64(moof.count), header.headerSize == 8 else {
            throw .malformed(box: "moof", reason: "a stored fragment does not start with a moof")
        }
        // Where the traf and its tfhd are, and whether a tfdt or a trun data offset is there.
        var it = BoxIterator(ByteReader(Array(moof[8...])))
        var trafStart: Int?, trafSize = 0
        while let (h, payload) = try it.next() {
            guard h.type == "traf" else { continue }
            trafStart = payload.position - h.headerSize + 8
            trafSize = Int(clamping: h.size)
            break
        }
        guard let trafStart, trafSize > 8 else { throw .malformed(box: "moof", reason: "no traf") }
        let traf = ByteReader(Array(moof[(trafStart + 8)..<(trafStart + trafSize)]))
        if try BoxIterator.first(traf, "tfdt") != nil { return nil }
        var insertAt: Int?
        var dataOffsetAt: Int?
        var children = BoxIterator(traf)
        while let (h, payload) = try children.next() {
            let start = trafStart + 8 + payload.position - h.headerSize
            if h.type == "tfhd" {
                insertAt = start + Int(h.size)
                var t = payload
                let flags = try within("tfhd") { () throws -> UInt32 in try t.readFullBoxHeader().flags }
                guard flags & 0x01 == 0 else { throw .unsupported("a stored fragment with a tfhd base data offset") }
            } else if h.type == "trun" {
                var t = payload
                let flags = try within("trun") { () throws -> UInt32 in try t.readFullBoxHeader().flags }
                if flags & 0x01 != 0 { dataOffsetAt = start + 8 + 8 }   // after size, type, version/flags, count
            }
        }
        guard let insertAt else { throw .malformed(box: "traf", reason: "no tfhd") }
        let tfdtSize = 20
        var out: [UInt8] = []
        out.reserveCapacity(moof.count + tfdtSize)
        out += moof[..<insertAt]
        out += [0, 0, 0, 20] + Array("tfdt".utf8) + [1, 0, 0, 0]
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: time >> UInt64(shift))) }
        out += moof[insertAt...]
        func addToUInt32(at position: Int, _ delta: Int) throws(ISOBMFFError) {
            guard position >= 0, position + 4 <= out.count else { throw .malformed(box: "moof", reason: "field outside the box") }
            let value = out[position..<position + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let (sum, overflow) = value.addingReportingOverflow(UInt32(delta))
            guard !overflow else { throw .malformed(box: "moof", reason: "size overflows") }
            for k in 0..<4 { out[position + k] = UInt8(truncatingIfNeeded: sum >> UInt32(24 - 8 * k)) }
        }
        try addToUInt32(at: 0, tfdtSize)                 // moof size
        try addToUInt32(at: trafStart, tfdtSize)         // traf size
        // The data offset counts from the moof's first byte (default-base-is-moof or the implicit
        // base of a first traf): the mdat moved by the inserted bytes. The trun sits after the
        // insertion point, so its position moved too.
        if let dataOffsetAt { try addToUInt32(at: dataOffsetAt + (dataOffsetAt > insertAt ? tfdtSize : 0), tfdtSize) }
        return out
    }

    /// The timing and extent of one fragment (`moof` payload plus the size of the `mdat` that
    /// follows it), checked against this movie: exactly one `traf`, for an announced track, and
    /// every sample inside the `mdat`.
    ///
    /// `previousEnd` is where the track's last fragment ended (used when the fragment carries
    /// neither `tfdt` nor `tfxd`).
    public func fragment(moofPayload: [UInt8], moofSize: UInt64, mdatHeaderSize: UInt64, mdatPayloadSize: UInt64,
                         previousEnd: [UInt32: Int64]) throws(ISOBMFFError) -> IngestFragment {
        let moof = ByteReader(moofPayload)
        let trafs = try BoxIterator.children(moof, "traf")
        guard trafs.count == 1, let traf = trafs.first else {
            throw .unsupported("a moof with \(trafs.count) track fragments (one track per moof is ingested)")
        }
        guard let trackID = try Self.trackID(moofPayload: moofPayload) else { throw .malformed(box: "traf", reason: "no tfhd") }
        // The caller refuses unannounced tracks with its own error first (Self.trackID); this is the backstop.
        guard movie.tracks.contains(where: { $0.trackID == trackID }) else {
            throw .malformed(box: "tfhd", reason: "track \(trackID) was not announced in the moov")
        }
        // tfxd (Smooth) gives the absolute time when tfdt is absent; MovieFragment reads tfdt itself.
        var start = previousEnd
        if try BoxIterator.first(traf, "tfdt") == nil, let time = try Self.tfxdTime(traf) {
            start[trackID] = time
        }
        var tables: [UInt32: SampleTable] = [trackID: SampleTable()]
        var auxiliary: [UInt32: SampleAuxiliaryInfo] = [:]
        let limits = ReadLimits(maxIndexBytes: 1 << 26, maxSamplesPerTrack: 1 << 20, maxBoxDepth: 16, maxSamplesPerFile: 1 << 20)
        try MovieFragment.append(moof: moof, moofOffset: 0, movie: movie, tables: &tables, nextDecodeTime: &start,
                                 auxiliary: &auxiliary, limits: limits)
        let table = tables[trackID] ?? SampleTable()
        guard table.count > 0 else { throw .malformed(box: "moof", reason: "track \(trackID): a fragment without samples") }
        // Offsets are relative to the moof's first byte: the samples must lie in the mdat payload.
        let dataStart = moofSize &+ mdatHeaderSize
        let dataEnd = dataStart &+ mdatPayloadSize
        for i in 0..<table.count where table.sizes[i] > 0 {
            let (end, overflow) = table.offsets[i].addingReportingOverflow(UInt64(table.sizes[i]))
            guard !overflow, table.offsets[i] >= dataStart, end <= dataEnd else {
                throw .malformed(box: "trun", reason: "sample \(i + 1) of track \(trackID) lies outside its mdat")
            }
        }
        let first = table.decodeTimes[0]
        let duration = table.totalDuration
        guard first.magnitude <= UInt64(Int64.max / 4), duration >= 0, first <= Int64.max - duration else {
            throw .malformed(box: "traf", reason: "track \(trackID): fragment time out of range")
        }
        return IngestFragment(trackID: trackID, decodeTime: first, duration: UInt64(duration),
                              sampleCount: table.count, startsWithSync: table.isSync(0))
    }

    /// The track a `moof` payload's first `traf` is for, nil when it has none.
    public static func trackID(moofPayload: [UInt8]) throws(ISOBMFFError) -> UInt32? {
        guard let traf = try BoxIterator.first(ByteReader(moofPayload), "traf"),
              let tfhd = try BoxIterator.first(traf, "tfhd") else { return nil }
        return try within("tfhd") { () throws -> UInt32 in
            var r = tfhd
            _ = try r.readFullBoxHeader()
            return try r.readUInt32()
        }
    }

    /// Smooth Streaming's `tfxd` (MS-SSTR 2.2.4.4): absolute time and duration of the fragment.
    static let tfxdUUID: [UInt8] = [0x6d, 0x1d, 0x9b, 0x05, 0x42, 0xd5, 0x44, 0xe6, 0x80, 0xe2, 0x14, 0x1d, 0xaf, 0xf7, 0x57, 0xb2]

    private static func tfxdTime(_ traf: ByteReader) throws(ISOBMFFError) -> Int64? {
        var it = BoxIterator(traf)
        while let (h, payload) = try it.next() {
            // BoxHeader has already consumed the 16-byte extended type: read it from before the payload.
            guard h.type == "uuid", payload.position >= 16,
                  Array(payload.bytes[(payload.position - 16)..<payload.position]) == tfxdUUID else { continue }
            return try within("tfxd") { () throws -> Int64 in
                var r = payload
                let (version, _) = try r.readFullBoxHeader()
                // Unsigned in MS-SSTR, but ffmpeg writes an AAC track's negative start (encoder
                // delay) as its two's complement: read as signed, within a sane range.
                let time = version == 1 ? try r.readInt64() : Int64(try r.readUInt32())
                guard time.magnitude <= UInt64(Int64.max / 4) else { throw ISOBMFFError.malformed(box: "tfxd", reason: "time \(time) out of range") }
                return time
            }
        }
        return nil
    }
}

/// One fragment of one track, as the ingest commits it.
public struct IngestFragment: Sendable, Equatable {
    public var trackID: UInt32
    /// Decode time of its first sample (track timescale).
    public var decodeTime: Int64
    public var duration: UInt64
    public var sampleCount: Int
    public var startsWithSync: Bool

    public init(trackID: UInt32, decodeTime: Int64, duration: UInt64, sampleCount: Int, startsWithSync: Bool) {
        self.trackID = trackID
        self.decodeTime = decodeTime
        self.duration = duration
        self.sampleCount = sampleCount
        self.startsWithSync = startsWithSync
    }
}
