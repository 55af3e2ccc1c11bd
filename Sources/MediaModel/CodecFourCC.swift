extension Track {
    /// The four-character code manifests and track filters name this track's codec by: `H264`,
    /// `HVC1` or `HEV1` (after the sample entry), `AACL`, `AC-3`, `EC-3`, and `TTML` for text in any
    /// of the text formats Origo reads (`wvtt`, `stpp`, `tx3g`, all written out as TTML where a
    /// FourCC is asked for). nil for a codec Origo does not package, or one on the wrong kind of
    /// track.
    public var fourCC: String? {
        switch codec {
        case .avc where kind == .video: "H264"
        case .hevc where kind == .video: sampleEntryType == "hev1" ? "HEV1" : "HVC1"
        case .aac where kind == .audio: "AACL"
        case .ac3 where kind == .audio: "AC-3"
        case .eac3 where kind == .audio: "EC-3"
        case .other where kind == .text && ["wvtt", "stpp", "tx3g"].contains(sampleEntryType): "TTML"
        default: nil
        }
    }
}
