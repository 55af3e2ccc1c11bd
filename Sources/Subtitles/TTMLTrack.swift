import ByteIO
import MediaModel

/// Cues as an ISO/IEC 14496-30 TTML track (`stpp`, codecs `stpp.ttml.im1t`): every sample is a
/// whole TTML document (``TTMLWriter``) holding the cues shown during the sample, each cut to the
/// sample's interval. Times in the documents are on the track's presentation timeline (14496-30
/// §5.3), which for tracks built by ``CueTrack`` is presentation time: decode times start at 0
/// and the track has no edit (``Track/presentationOffset`` 0).
public enum TTMLTrack {
    /// The one namespace the documents use.
    public static let namespace = "http://www.w3.org/ns/ttml"

    /// An `stpp` sample entry (XMLSubtitleSampleEntry): the TTML namespace, no schema location,
    /// no auxiliary MIME types (the documents reference no images or fonts).
    public static func sampleEntry() -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        w.withSizePrefix32 { w in
            w.writeFourCC("stpp")
            w.writeZeros(6)
            w.writeUInt16(1)                                // data_reference_index
            w.write(namespace)
            w.writeUInt8(0)
            w.writeUInt8(0)                                 // schema_location: empty
            w.writeUInt8(0)                                 // auxiliary_mime_types: empty
        }
        return w.take()
    }

    /// One sample covering `from ..< to` (milliseconds): a TTML document with the cues of `active`
    /// cut to the interval (an empty `<div>` when there is none).
    static func payload(_ active: [Cue], from: Int64, to: Int64, language: String) -> [UInt8] {
        let cut = active.compactMap { cue -> Cue? in
            var c = cue
            c.start = max(c.start, from)
            c.end = min(c.end, to)
            return c.end > c.start ? c : nil
        }
        return TTMLWriter.document(cues: cut, language: language)
    }
}
