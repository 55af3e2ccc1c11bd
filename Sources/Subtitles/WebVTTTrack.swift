import ByteIO
import MediaModel

/// Cues as an ISO/IEC 14496-30 WebVTT track (`wvtt`): samples are consecutive, non-overlapping
/// intervals; a sample holds one `vttc` box per cue active over its whole interval, and an
/// interval without cues holds one `vtte` box. A cue that spans several intervals is repeated in
/// each (readers join it back, see ``WebVTTTrack/cues(in:start:duration:)``).
///
/// The sample bytes live in memory (``Track/inlineData``), so every output format reads them
/// like any other track's samples.
public enum WebVTTTrack {
    /// A `wvtt` sample entry with a `vttC` configuration holding the `WEBVTT` header.
    public static func sampleEntry() -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        w.withSizePrefix32 { w in
            w.writeFourCC("wvtt")
            w.writeZeros(6)
            w.writeUInt16(1)                                // data_reference_index
            w.withSizePrefix32 { w in
                w.writeFourCC("vttC")
                w.write("WEBVTT")
            }
        }
        return w.take()
    }

    /// A text track of `cues` (milliseconds) in `timescale`, covering `0 ..< end` (track units).
    /// Sample intervals also break at every time in `splits` (track units), so that a
    /// segmentation cutting at those times cuts between samples. Cues are clipped to `end`.
    public static func track(cues: [Cue], trackID: UInt32, language: String, timescale: UInt32,
                             end: Int64, splits: [Int64], name: String) -> Track {
        let (table, data) = samples(cues: cues, timescale: timescale, end: end, splits: splits)
        var track = Track(trackID: trackID, kind: .text, timescale: timescale, language: language,
                          sampleEntryType: "wvtt", sampleEntry: sampleEntry(), codec: .other,
                          samples: table, dataSource: "memory:" + name)
        track.inlineData = data
        return track
    }

    /// The sample table and sample bytes (see ``track(cues:trackID:language:timescale:end:splits:name:)``).
    public static func samples(cues: [Cue], timescale: UInt32, end: Int64,
                               splits: [Int64]) -> (SampleTable, [UInt8]) {
        struct Timed { var start: Int64; var end: Int64; var cue: Cue }
        let timed = cues.compactMap { cue -> Timed? in
            let s = max(MediaTime.rescale(cue.start, from: 1000, to: timescale), 0)
            let e = min(MediaTime.rescale(cue.end, from: 1000, to: timescale), end)
            return e > s ? Timed(start: s, end: e, cue: cue) : nil
        }.sorted { $0.start < $1.start }
        var bounds: [Int64] = [0, end]
        for t in timed { bounds.append(t.start); bounds.append(t.end) }
        for s in splits where s > 0 && s < end { bounds.append(s) }
        bounds.sort()
        var unique: [Int64] = []
        unique.reserveCapacity(bounds.count)
        for b in bounds where b >= 0 && b <= end && unique.last != b { unique.append(b) }

        var table = SampleTable()
        table.reserveCapacity(unique.count)
        var data: [UInt8] = []
        var active: [Timed] = []
        var next = 0
        for k in 0..<max(unique.count - 1, 0) {
            let from = unique[k], to = unique[k + 1]
            active.removeAll { $0.end <= from }
            while next < timed.count, timed[next].start <= from {
                if timed[next].end > from { active.append(timed[next]) }
                next += 1
            }
            let offset = UInt64(data.count)
            var w = ByteWriter(capacity: 64)
            if active.isEmpty {
                w.writeUInt32(8)
                w.writeFourCC("vtte")
            } else {
                for t in active { writeCueBox(&w, t.cue) }
            }
            let bytes = w.take()
            data.append(contentsOf: bytes)
            // Durations are 32-bit; longer gaps (over 13 h at 90 kHz) are clamped, which only
            // shortens an empty interval at the very end of absurdly long media.
            table.append(decodeTime: from, duration: UInt32(clamping: to &- from), compositionOffset: 0,
                         size: UInt32(clamping: bytes.count), offset: offset, isSync: true)
        }
        return (table, data)
    }

    /// `vttc` with `iden`, `sttg` and `payl` children.
    static func writeCueBox(_ w: inout ByteWriter, _ cue: Cue) {
        w.withSizePrefix32 { w in
            w.writeFourCC("vttc")
            if !cue.identifier.isEmpty { stringBox(&w, "iden", cue.identifier) }
            if !cue.settings.isEmpty { stringBox(&w, "sttg", cue.settings) }
            stringBox(&w, "payl", cue.text)
        }
    }

    private static func stringBox(_ w: inout ByteWriter, _ type: String, _ text: String) {
        w.withSizePrefix32 { w in
            w.writeFourCC(type)
            w.write(text)
        }
    }

    /// The cues in one `wvtt` sample presented from `start` for `duration` milliseconds.
    public static func cues(in sample: [UInt8], start: Int64, duration: Int64) throws(SubtitleError) -> [Cue] {
        var out: [Cue] = []
        do {
            var r = ByteReader(sample)
            while !r.isAtEnd {
                var box = try boxReader(&r)
                guard box.type == "vttc" else { continue }
                var cue = Cue(start: start, end: start &+ duration, text: "")
                while !box.reader.isAtEnd {
                    var child = try boxReader(&box.reader)
                    let text = TextLines.decode(try child.reader.readBytes(child.reader.remaining)[...])
                    switch child.type {
                    case "payl": cue.text = text
                    case "sttg": cue.settings = text
                    case "iden": cue.identifier = text
                    default: break
                    }
                }
                out.append(cue)
            }
        } catch {
            throw SubtitleError(.malformed, "wvtt sample: \(error)")
        }
        return out
    }

    /// The next box of `r` (32-bit sizes only; text samples are small) and a reader over its body.
    static func boxReader(_ r: inout ByteReader) throws(ByteReaderError) -> (type: String, reader: ByteReader) {
        let size = Int(try r.readUInt32())
        let type = try r.readFourCC()
        guard size >= 8 else { throw .truncated(needed: 8, available: size) }
        return (type, try r.subReader(count: size - 8))
    }
}
