/// The subtitle file formats a server manifest's `<textstream src=>` may name directly.
public enum SidecarFormat: String, Sendable, CaseIterable {
    case webVTT, srt, ttml

    /// The format of a source by its file name (query and fragment ignored), or nil for media
    /// files (`.ismt`, `.cmft`, `.mp4`), which are read as ISO-BMFF.
    public init?(path: String) {
        var name = Substring(path)
        if let q = name.firstIndex(where: { $0 == "?" || $0 == "#" }) { name = name[..<q] }
        guard let dot = name.lastIndex(of: "."), !name[dot...].contains("/") else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "vtt", "webvtt": self = .webVTT
        case "srt": self = .srt
        case "ttml", "dfxp", "xml": self = .ttml
        default: return nil
        }
    }

    /// The cues of a whole file in this format, normalized (sorted, duplicates joined).
    public func parse(_ bytes: [UInt8], limits: SubtitleLimits = .default) throws(SubtitleError) -> [Cue] {
        switch self {
        case .webVTT: try WebVTTReader.parse(bytes, limits: limits).normalized()
        case .srt: try SRTReader.parse(bytes, limits: limits).normalized()
        case .ttml: try TTMLReader.parse(bytes, limits: limits).normalized()
        }
    }
}
