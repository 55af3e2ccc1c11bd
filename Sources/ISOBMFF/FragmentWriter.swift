import ByteIO
import MediaModel

/// Writes CMAF-style fragmented MP4: one init segment per track (`ftyp` + `moov` with `mvex`) and
/// media segments (`styp` + `moof` + `mdat`) whose sample bytes stay in the source file.
///
/// Timing: the fragment timeline is the presentation timeline. Decode times are shifted by one
/// constant per track (`presentationOffset` minus the first sample's composition offset) so that
/// `tfdt` runs on continuously across segments and composition offsets keep their pattern; offsets
/// may become negative, hence `trun` version 1.
public enum FragmentWriter {
    public struct Options: Sendable {
        /// Write `styp` before `moof` (DASH and CMAF segments; harmless for HLS).
        public var segmentType = true
        /// Write every time of the fragment (`tfdt`, `trun` durations and composition offsets) in
        /// this timescale instead of the track's. Times are rescaled from cumulative positions on
        /// the fragment timeline, never per duration, so rounding does not drift (see
        /// ``fragmentTime(_:sample:timescale:)``). Smooth Streaming needs its 10 MHz clock here.
        public var timescale: UInt32? = nil
        /// Write the PIFF `tfxd` box (fragment absolute time and duration) into `traf`.
        public var piffFragmentTimes = false
        public init() {}

        /// Smooth Streaming / PIFF 1.1: no `styp`, 10 MHz times, `tfxd`.
        public static var smooth: Options {
            var o = Options()
            o.segmentType = false
            o.timescale = 10_000_000
            o.piffFragmentTimes = true
            return o
        }
    }

    /// PIFF 1.1 `TfxdBox` extended type (`6D1D9B05-42D5-44E6-80E2-141DAFF757B2`).
    public static let tfxdUUID: [UInt8] = [0x6D, 0x1D, 0x9B, 0x05, 0x42, 0xD5, 0x44, 0xE6,
                                           0x80, 0xE2, 0x14, 0x1D, 0xAF, 0xF7, 0x57, 0xB2]

    public static func initSegment(for track: Track) -> [UInt8] {
        var w = ByteWriter(capacity: 1024 + track.sampleEntry.count)
        box(&w, "ftyp") { w in
            w.writeFourCC("iso6")
            w.writeUInt32(0)
            for brand in ["iso6", "cmfc", "mp41", "dash"] { w.writeFourCC(brand) }
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
                                w.write(track.sampleEntry)
                            }
                            for empty in ["stts", "stsc", "stco"] {
                                fullBox(&w, empty, version: 0, flags: 0) { w in w.writeUInt32(0) }
                            }
                            fullBox(&w, "stsz", version: 0, flags: 0) { w in w.writeUInt32(0); w.writeUInt32(0) }
                        }
                    }
                }
            }
        }
        return w.take()
    }

    /// The constant added to decode times of `track` on the fragment timeline (see the type's notes).
    public static func decodeTimeShift(_ track: Track) -> Int64 {
        guard !track.samples.isEmpty else { return 0 }
        return Int64(track.samples.compositionOffset(0)) &- track.presentationOffset
    }

    /// Decode time of sample `index` on the fragment timeline (see the type's notes), in
    /// `timescale` (the track's when nil). A fragment starting at this sample has this `tfdt`.
    public static func fragmentTime(_ track: Track, sample index: Int, timescale: UInt32? = nil) -> Int64 {
        let s = track.samples
        guard index >= 0, index < s.count else { return fragmentEnd(track, timescale: timescale) }
        return scaled(s.decodeTimes[index] &+ decodeTimeShift(track), track, timescale)
    }

    /// Where the last sample of `track` ends on the fragment timeline, in `timescale`.
    public static func fragmentEnd(_ track: Track, timescale: UInt32? = nil) -> Int64 {
        let s = track.samples
        guard let last = s.decodeTimes.last, let duration = s.durations.last else { return 0 }
        return scaled(last &+ Int64(duration) &+ decodeTimeShift(track), track, timescale)
    }

    /// Start of the sample after `index` (its decode time; the track end after the last sample).
    private static func nextTime(_ track: Track, after index: Int, timescale: UInt32?) -> Int64 {
        index + 1 < track.samples.count
            ? fragmentTime(track, sample: index + 1, timescale: timescale)
            : fragmentEnd(track, timescale: timescale)
    }

    private static func scaled(_ value: Int64, _ track: Track, _ timescale: UInt32?) -> Int64 {
        guard let timescale, timescale != track.timescale else { return value }
        return MediaTime.rescale(value, from: track.timescale, to: timescale)
    }

    /// One media segment holding `samples` of `track`; sample bytes are file ranges of the source.
    public static func mediaSegment(track: Track, samples range: Range<Int>, sequenceNumber: UInt32,
                                    options: Options = Options()) throws(ISOBMFFError) -> [BodyPiece] {
        let s = track.samples
        guard !range.isEmpty, range.lowerBound >= 0, range.upperBound <= s.count else {
            throw .malformed(box: "segment", reason: "sample range \(range) outside 0..<\(s.count)")
        }
        let shift = decodeTimeShift(track)
        let firstCTO = s.compositionOffset(0)
        let hasCTO = s.hasCompositionOffsets
        let rescaled = options.timescale.map { $0 != track.timescale } ?? false
        let outTimescale = options.timescale ?? track.timescale
        let startTime = fragmentTime(track, sample: range.lowerBound, timescale: outTimescale)
        var dataSize: UInt64 = 0
        for i in range { dataSize &+= UInt64(s.sizes[i]) }

        var w = ByteWriter(capacity: 160 + range.count * 16)
        if options.segmentType {
            box(&w, "styp") { w in
                w.writeFourCC("msdh")
                w.writeUInt32(0)
                for brand in ["msdh", "msix", "cmfs"] { w.writeFourCC(brand) }
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
                fullBox(&w, "trun", version: hasCTO ? 1 : 0, flags: flags) { w in
                    w.writeUInt32(UInt32(range.count))
                    dataOffsetPosition = w.count
                    w.writeUInt32(0)                        // data_offset, patched below
                    var time = startTime
                    for i in range {
                        if rescaled {
                            // Durations and offsets from rescaled positions: exact, no drift.
                            let next = nextTime(track, after: i, timescale: outTimescale)
                            w.writeUInt32(UInt32(clamping: next &- time))
                            w.writeUInt32(s.sizes[i])
                            w.writeUInt32(sampleFlags(track, i))
                            if hasCTO {
                                let presented = s.decodeTimes[i] &+ shift &+ Int64(s.compositionOffset(i) &- firstCTO)
                                w.writeInt32(Int32(clamping: scaled(presented, track, outTimescale) &- time))
                            }
                            time = next
                        } else {
                            w.writeUInt32(s.durations[i])
                            w.writeUInt32(s.sizes[i])
                            w.writeUInt32(sampleFlags(track, i))
                            if hasCTO { w.writeInt32(s.compositionOffset(i) &- firstCTO) }
                        }
                    }
                }
                if options.piffFragmentTimes {
                    let end = nextTime(track, after: range.upperBound - 1, timescale: outTimescale)
                    box(&w, "uuid") { w in
                        w.write(tfxdUUID)
                        w.writeUInt32(1 << 24)              // version 1, flags 0
                        w.writeUInt64(UInt64(clamping: startTime))
                        w.writeUInt64(UInt64(clamping: end &- startTime))
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
        var pieces: [BodyPiece] = [.bytes(w.take())]
        for i in range {
            pieces.appendFileRange(locator: track.dataSource, offset: s.offsets[i], length: UInt64(s.sizes[i]))
        }
        return pieces
    }

    /// ISO/IEC 14496-12 sample flags: depends-on and non-sync bits from the sync table.
    static func sampleFlags(_ track: Track, _ i: Int) -> UInt32 {
        if track.kind != .video { return 0x0200_0000 }
        return track.samples.isSync(i) ? 0x0200_0000 : 0x0101_0000
    }

    // MARK: - Box helpers

    static func box(_ w: inout ByteWriter, _ type: String, _ body: (inout ByteWriter) -> Void) {
        w.withSizePrefix32 { w in
            w.writeFourCC(type)
            body(&w)
        }
    }

    static func fullBox(_ w: inout ByteWriter, _ type: String, version: UInt8, flags: UInt32, _ body: (inout ByteWriter) -> Void) {
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

    static func handler(_ kind: TrackKind) -> String {
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
