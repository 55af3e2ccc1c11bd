import ByteIO
import MediaModel

/// Writes CMAF-style fragmented MP4: one init segment per track (`ftyp` + `moov` with `mvex`) and
/// media segments (`styp` + `moof` + `mdat`) whose sample bytes stay in the source file.
///
/// Timing follows ``FragmentTiming``: decode times shifted by one constant per track, so `tfdt` runs on
/// continuously across segments; composition offsets never negative (`trun` version 0, which every
/// player reads the same way); an edit list in the init segment maps media time back to presentation
/// time when B-frames make them differ.
///
/// Smooth Streaming fragments have no init segment, hence no edit list and no timescale of their
/// own: they are written on a ``RescaledTimeline`` instead (see there).
public enum FragmentWriter {
    public struct Options: Sendable {
        /// Write `styp` before `moof` (DASH and CMAF segments; harmless for HLS).
        public var segmentType = true
        /// Write every time of the fragment on this timeline instead of the track's own.
        public var rescaled: RescaledTimeline? = nil
        /// Write the PIFF `tfxd` box (fragment absolute time and duration) into `traf`.
        public var piffFragmentTimes = false
        /// Write `saiz`, `saio` and `senc` for these encrypted samples into `traf`.
        public var encryption: FragmentEncryption? = nil
        /// Write ``encryption`` as PIFF's sample encryption `uuid` box instead.
        public var piffSampleEncryption = false
        public init() {}

        /// Smooth Streaming / PIFF 1.1: no `styp`, times on a 10 MHz timeline, `tfxd`, PIFF's
        /// sample encryption box when encrypted.
        public static func smooth(offset: Int64) -> Options {
            var o = Options()
            o.segmentType = false
            o.rescaled = RescaledTimeline(timescale: 10_000_000, offset: offset)
            o.piffFragmentTimes = true
            o.piffSampleEncryption = true
            return o
        }
    }

    /// PIFF 1.1 `TfxdBox` extended type (`6D1D9B05-42D5-44E6-80E2-141DAFF757B2`).
    public static let tfxdUUID: [UInt8] = [0x6D, 0x1D, 0x9B, 0x05, 0x42, 0xD5, 0x44, 0xE6,
                                           0x80, 0xE2, 0x14, 0x1D, 0xAF, 0xF7, 0x57, 0xB2]

    /// The init segment of `track`; with `encryption`, of its encrypted form (nil when its
    /// sample entry cannot be rewritten).
    public static func initSegment(for track: Track, encryption: TrackEncryption?) -> [UInt8]? {
        guard let encryption else { return initSegment(for: track) }
        guard let entry = encrypted(sampleEntry: track.sampleEntry, kind: track.kind, encryption: encryption) else { return nil }
        return initSegment(for: track, sampleEntry: entry, systems: encryption.systems)
    }

    public static func initSegment(for track: Track) -> [UInt8] {
        initSegment(for: track, sampleEntry: track.sampleEntry, systems: [])
    }

    /// The init segment of a track whose samples are not known yet (live): its edit list starts
    /// presentation at `mediaTimeOffset` (an AAC encoder's delay, so decode times stay >= 0).
    public static func initSegment(for track: Track, mediaTimeOffset: Int64) -> [UInt8] {
        initSegment(for: track, sampleEntry: track.sampleEntry, systems: [], mediaTimeOffset: mediaTimeOffset)
    }

    /// The init segment of `track` with `sampleEntry` as its only sample entry and a `pssh` per system.
    /// `mediaTimeOffset` overrides what the track's samples say (nil: from its samples).
    public static func initSegment(for track: Track, sampleEntry: [UInt8], systems: [ProtectionSystem],
                                   mediaTimeOffset: Int64? = nil) -> [UInt8] {
        var w = ByteWriter(capacity: 1024 + sampleEntry.count)
        box(&w, "ftyp") { w in
            w.writeFourCC("iso6")
            w.writeUInt32(0)
            for brand: StaticString in ["iso6", "cmfc", "mp41", "dash"] { w.writeFourCC(brand) }
        }
        box(&w, "moov") { w in
            fullBox(&w, "mvhd", version: 0, flags: 0) { w in
                w.writeUInt32(0); w.writeUInt32(0)          // creation, modification
                w.writeUInt32(track.timescale)
                w.writeUInt32(0)                            // duration: unknown, fragmented
                w.writeUInt32(0x0001_0000)                  // rate 1.0
                w.writeUInt16(0x0100)                       // volume 1.0
                w.writeZeros(10)
                writeMatrix(&w)
                w.writeZeros(24)
                w.writeUInt32(track.trackID &+ 1)           // next_track_ID
            }
            box(&w, "mvex") { w in
                fullBox(&w, "trex", version: 0, flags: 0) { w in
                    w.writeUInt32(track.trackID)
                    w.writeUInt32(1)
                    w.writeUInt32(0); w.writeUInt32(0); w.writeUInt32(0)
                }
            }
            box(&w, "trak") { w in
                var timing = FragmentTiming(track: track)
                if let mediaTimeOffset { timing.mediaTimeOffset = mediaTimeOffset }
                fullBox(&w, "tkhd", version: 0, flags: 0x3) { w in
                    w.writeUInt32(0); w.writeUInt32(0)
                    w.writeUInt32(track.trackID)
                    w.writeUInt32(0)
                    w.writeUInt32(0)                        // duration
                    w.writeZeros(8)
                    w.writeUInt16(0)                        // layer
                    w.writeUInt16(0)                        // alternate group
                    w.writeUInt16(track.kind == .audio ? 0x0100 : 0)
                    w.writeUInt16(0)
                    writeMatrix(&w)
                    w.writeUInt32(UInt32(clamping: track.width) << 16)
                    w.writeUInt32(UInt32(clamping: track.height) << 16)
                }
                if timing.mediaTimeOffset > 0 {
                    box(&w, "edts") { w in
                        fullBox(&w, "elst", version: 1, flags: 0) { w in
                            w.writeUInt32(1)
                            w.writeUInt64(0)                // duration 0: the whole (fragmented) track
                            w.writeInt64(timing.mediaTimeOffset)
                            w.writeUInt32(0x0001_0000)      // rate 1.0
                        }
                    }
                }
                box(&w, "mdia") { w in
                    fullBox(&w, "mdhd", version: 0, flags: 0) { w in
                        w.writeUInt32(0); w.writeUInt32(0)
                        w.writeUInt32(track.timescale)
                        w.writeUInt32(0)
                        w.writeUInt16(packedLanguage(track.language))
                        w.writeUInt16(0)
                    }
                    fullBox(&w, "hdlr", version: 0, flags: 0) { w in
                        w.writeUInt32(0)
                        w.writeFourCC(handler(track.kind))
                        w.writeZeros(12)
                        w.write(handlerName(track.kind))
                        w.writeUInt8(0)
                    }
                    box(&w, "minf") { w in
                        switch track.kind {
                        case .video:
                            fullBox(&w, "vmhd", version: 0, flags: 1) { w in w.writeZeros(8) }
                        case .audio:
                            fullBox(&w, "smhd", version: 0, flags: 0) { w in w.writeZeros(4) }
                        case .text:
                            fullBox(&w, "sthd", version: 0, flags: 0) { _ in }
                        }
                        box(&w, "dinf") { w in
                            fullBox(&w, "dref", version: 0, flags: 0) { w in
                                w.writeUInt32(1)
                                fullBox(&w, "url ", version: 0, flags: 1) { _ in }
                            }
                        }
                        box(&w, "stbl") { w in
                            fullBox(&w, "stsd", version: 0, flags: 0) { w in
                                w.writeUInt32(1)
                                w.write(sampleEntry)
                            }
                            for empty: StaticString in ["stts", "stsc", "stco"] {
                                fullBox(&w, empty, version: 0, flags: 0) { w in w.writeUInt32(0) }
                            }
                            fullBox(&w, "stsz", version: 0, flags: 0) { w in w.writeUInt32(0); w.writeUInt32(0) }
                        }
                    }
                }
            }
            for system in systems { w.write(system.box) }
        }
        return w.take()
    }

    /// One media segment holding `samples` of `track`; sample bytes are file ranges of the source.
    public static func mediaSegment(track: Track, samples range: Range<Int>, sequenceNumber: UInt32,
                                    options: Options = Options()) throws(ISOBMFFError) -> [BodyPiece] {
        let s = track.samples
        guard !range.isEmpty, range.lowerBound >= 0, range.upperBound <= s.count else {
            throw .malformed(box: "segment", reason: "sample range \(range) outside 0..<\(s.count)")
        }
        let timing = FragmentTiming(track: track)
        let hasCTO = s.hasCompositionOffsets
        let rescaled = options.rescaled
        let startTime = rescaled?.start(of: range.lowerBound, in: track)
            ?? s.decodeTimes[range.lowerBound] &+ timing.decodeShift
        var dataSize: UInt64 = 0
        for i in range { dataSize &+= UInt64(s.sizes[i]) }

        var w = ByteWriter(capacity: 160 + range.count * 16)
        if options.segmentType {
            box(&w, "styp") { w in
                w.writeFourCC("msdh")
                w.writeUInt32(0)
                for brand: StaticString in ["msdh", "msix", "cmfs"] { w.writeFourCC(brand) }
            }
        }
        let moofStart = w.count
        var dataOffsetPosition = 0
        box(&w, "moof") { w in
            fullBox(&w, "mfhd", version: 0, flags: 0) { w in w.writeUInt32(sequenceNumber) }
            box(&w, "traf") { w in
                fullBox(&w, "tfhd", version: 0, flags: 0x02_0000) { w in w.writeUInt32(track.trackID) }
                fullBox(&w, "tfdt", version: 1, flags: 0) { w in
                    w.writeUInt64(UInt64(clamping: startTime))
                }
                let flags: UInt32 = 0x001 | 0x100 | 0x200 | 0x400 | (hasCTO ? 0x800 : 0)
                fullBox(&w, "trun", version: 0, flags: flags) { w in
                    w.writeUInt32(UInt32(range.count))
                    dataOffsetPosition = w.count
                    w.writeUInt32(0)                        // data_offset, patched below
                    if let rescaled {
                        var time = startTime
                        for i in range {
                            let next = rescaled.start(of: i + 1, in: track)
                            w.writeUInt32(UInt32(clamping: next &- time))
                            w.writeUInt32(s.sizes[i])
                            w.writeUInt32(sampleFlags(track, i))
                            if hasCTO {
                                w.writeUInt32(UInt32(clamping: rescaled.compositionOffset(of: i, in: track, start: time)))
                            }
                            time = next
                        }
                    } else {
                        let fields = hasCTO ? 4 : 3
                        let first = range.lowerBound, base = timing.compositionBase
                        w.writeUInt32s(count: range.count &* fields) { k in
                            let i = first &+ k / fields
                            switch k % fields {
                            case 0: return s.durations[i]
                            case 1: return s.sizes[i]
                            case 2: return sampleFlags(track, i)
                            default: return UInt32(bitPattern: s.compositionOffset(i) &- base)
                            }
                        }
                    }
                }
                if options.piffFragmentTimes {
                    let end = rescaled?.start(of: range.upperBound, in: track)
                        ?? s.decodeTimes[range.upperBound - 1] &+ Int64(s.durations[range.upperBound - 1]) &+ timing.decodeShift
                    box(&w, "uuid") { w in
                        w.write(tfxdUUID)
                        w.writeUInt32(1 << 24)              // version 1, flags 0
                        w.writeUInt64(UInt64(clamping: startTime))
                        w.writeUInt64(UInt64(clamping: end &- startTime))
                    }
                }
                if let encryption = options.encryption {
                    if options.piffSampleEncryption {
                        encryption.writePIFF(&w)
                    } else {
                        encryption.write(&w, moofStart: moofStart)
                    }
                }
            }
        }
        let moofSize = w.count - moofStart
        let wideMdat = dataSize > UInt64(UInt32.max) - 16
        let mdatHeader = wideMdat ? 16 : 8
        w.patchUInt32(UInt32(moofSize + mdatHeader), at: dataOffsetPosition)
        if wideMdat {
            w.writeUInt32(1); w.writeFourCC("mdat"); w.writeUInt64(dataSize &+ 16)
        } else {
            w.writeUInt32(UInt32(dataSize) + 8); w.writeFourCC("mdat")
        }
        if track.inlineData != nil {
            for i in range { w.write(track.inlineSample(i) ?? []) }
            return [.bytes(w.take())]
        }
        // The samples as file ranges, one per run of adjacent samples (usually one per segment).
        var pieces: [BodyPiece] = []
        pieces.reserveCapacity(2)
        pieces.append(.bytes(w.take()))
        forEachSampleRun(track: track, samples: range) { offset, length in
            pieces.append(.file(locator: track.dataSource, offset: offset, length: length))
        }
        return pieces
    }

    /// Calls `body` with where samples `range` of `track` lie in its data source: one byte range
    /// (offset, length) per run of adjacent samples, in sample order (empty samples left out).
    public static func forEachSampleRun<E: Error>(track: Track, samples range: Range<Int>,
                                                  _ body: (UInt64, UInt64) throws(E) -> Void) throws(E) {
        let s = track.samples
        var run: (offset: UInt64, end: UInt64)? = nil
        for i in range where s.sizes[i] > 0 {
            let offset = s.offsets[i], end = offset &+ UInt64(s.sizes[i])
            if let r = run, r.end == offset {
                run = (r.offset, end)
            } else {
                if let r = run { try body(r.offset, r.end &- r.offset) }
                run = (offset, end)
            }
        }
        if let r = run { try body(r.offset, r.end &- r.offset) }
    }

    /// ISO/IEC 14496-12 sample flags: depends-on and non-sync bits from the sync table.
    static func sampleFlags(_ track: Track, _ i: Int) -> UInt32 {
        if track.kind != .video { return 0x0200_0000 }
        return track.samples.isSync(i) ? 0x0200_0000 : 0x0101_0000
    }

    // MARK: - Box helpers

    static func box(_ w: inout ByteWriter, _ type: StaticString, _ body: (inout ByteWriter) -> Void) {
        w.withSizePrefix32 { w in
            w.writeFourCC(type)
            body(&w)
        }
    }

    static func fullBox(_ w: inout ByteWriter, _ type: StaticString, version: UInt8, flags: UInt32, _ body: (inout ByteWriter) -> Void) {
        box(&w, type) { w in
            w.writeUInt32(UInt32(version) << 24 | flags & 0xFF_FFFF)
            body(&w)
        }
    }

    static func writeMatrix(_ w: inout ByteWriter) {
        for v: UInt32 in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] { w.writeUInt32(v) }
    }

    static func packedLanguage(_ code: String) -> UInt16 {
        let letters = Array(code.utf8)
        guard letters.count == 3, letters.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) else { return 0x55C4 } // "und"
        return UInt16(letters[0] - 0x60) << 10 | UInt16(letters[1] - 0x60) << 5 | UInt16(letters[2] - 0x60)
    }

    static func handler(_ kind: TrackKind) -> StaticString {
        switch kind {
        case .video: "vide"
        case .audio: "soun"
        case .text: "subt"
        }
    }

    static func handlerName(_ kind: TrackKind) -> String {
        switch kind {
        case .video: "Origo video"
        case .audio: "Origo audio"
        case .text: "Origo text"
        }
    }
}
