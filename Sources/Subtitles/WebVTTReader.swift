/// Reads WebVTT files (W3C WebVTT): the `WEBVTT` signature, then blocks separated by blank lines.
/// Cue blocks become ``Cue``s; `NOTE`, `STYLE` and `REGION` blocks and malformed cue blocks are
/// skipped, as the WebVTT parsing rules do. A file without the signature is refused.
public enum WebVTTReader {
    public static func parse(_ bytes: [UInt8], limits: SubtitleLimits = .default) throws(SubtitleError) -> [Cue] {
        guard bytes.count <= limits.maxBytes else {
            throw SubtitleError(.tooLarge, "WebVTT file larger than \(limits.maxBytes) bytes")
        }
        let lines = TextLines.lines(TextLines.withoutBOM(bytes))
        guard let first = lines.first, first.hasPrefix("WEBVTT"),
              first.utf8.count == 6 || [0x20, 0x09].contains(Array(first.utf8)[6]) else {
            throw SubtitleError(.malformed, "WebVTT file does not start with WEBVTT")
        }
        var cues: [Cue] = []
        // The first block is the header (the signature line up to the first blank line).
        for block in TextLines.blocks(lines).dropFirst() {
            guard let cue = cue(block, limits: limits) else { continue }
            guard cues.count < limits.maxCues else {
                throw SubtitleError(.tooLarge, "WebVTT file has more than \(limits.maxCues) cues")
            }
            cues.append(cue)
        }
        return cues
    }

    /// One block as a cue, or nil for other blocks and malformed cues.
    static func cue(_ block: [String], limits: SubtitleLimits) -> Cue? {
        guard let first = block.first else { return nil }
        var identifier = ""
        var timingIndex = 0
        if !first.contains("-->") {
            if first.hasPrefix("NOTE") || first == "STYLE" || first == "REGION" { return nil }
            identifier = first
            timingIndex = 1
        }
        guard timingIndex < block.count,
              let (start, end, settings) = timing(block[timingIndex]) else { return nil }
        let payload = block[(timingIndex + 1)...].joined(separator: "\n")
        return Cue(start: start, end: end, text: TextLines.truncated(payload, limit: limits.maxCueBytes),
                   settings: settings, identifier: TextLines.truncated(identifier, limit: 1024))
    }

    /// `start --> end [settings]`.
    static func timing(_ line: String) -> (Int64, Int64, String)? {
        guard let arrow = line.firstRange(of: "-->") else { return nil }
        let left = TextLines.trimmed(line[..<arrow.lowerBound])
        let right = TextLines.trimmed(line[arrow.upperBound...])
        let endText = right.prefix { $0 != " " && $0 != "\t" }
        let settings = TextLines.trimmed(right.dropFirst(endText.count))
        guard let start = Timestamp.parse(left), let end = Timestamp.parse(endText) else { return nil }
        return (start, end, String(settings.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")))
    }
}
