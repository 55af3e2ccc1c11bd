import ByteIO
import MediaModel

/// Cues as an ISO/IEC 14496-30 WebVTT track (`wvtt`): samples are consecutive, non-overlapping
/// intervals; a sample holds one `vttc` box per cue active over its whole interval, and an
/// interval without cues holds one `vtte` box. A cue that spans several intervals is repeated in
/// each (readers join it back, see ``WebVTTTrack/cues(in:start:duration:)``).
///
/// Such tracks are built by ``CueTrack`` (format `.webVTT`) with their sample bytes in memory
/// (``Track/inlineData``), so every output format reads them like any other track's samples; this
/// type holds the `wvtt` boxes.
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

    /// One sample: a `vttc` box per cue in `active`, or one `vtte` box when it is empty.
    static func payload(_ active: [Cue]) -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        if active.isEmpty {
            w.writeUInt32(8)
            w.writeFourCC("vtte")
        } else {
            for cue in active { writeCueBox(&w, cue) }
        }
        return w.take()
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

    private static func stringBox(_ w: inout ByteWriter, _ type: StaticString, _ text: String) {
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
