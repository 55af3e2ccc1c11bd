/// Reads SubRip (`.srt`) files: numbered blocks of `hh:mm:ss,mmm --> hh:mm:ss,mmm` and text.
/// The SubRip tags WebVTT knows (`<b>`, `<i>`, `<u>`) are kept, every other tag (`<font>`,
/// `{\an8}`) is dropped, and `&`, `<`, `>` in the text are escaped. Malformed blocks are skipped.
public enum SRTReader {
    public static func parse(_ bytes: [UInt8], limits: SubtitleLimits = .default) throws(SubtitleError) -> [Cue] {
        guard bytes.count <= limits.maxBytes else {
            throw SubtitleError(.tooLarge, "SRT file larger than \(limits.maxBytes) bytes")
        }
        let lines = TextLines.lines(TextLines.withoutBOM(bytes))
        var cues: [Cue] = []
        for block in TextLines.blocks(lines) {
            // The counter line is optional in practice; the timing line is what counts.
            guard let t = block.prefix(2).firstIndex(where: { $0.contains("-->") }),
                  let (start, end, _) = WebVTTReader.timing(block[t]) else { continue }
            let text = block[(t + 1)...].map(webVTTPayload).joined(separator: "\n")
            guard cues.count < limits.maxCues else {
                throw SubtitleError(.tooLarge, "SRT file has more than \(limits.maxCues) cues")
            }
            cues.append(Cue(start: start, end: end, text: TextLines.truncated(text, limit: limits.maxCueBytes)))
        }
        return cues
    }

    static let keptTags: Set<String> = ["b", "i", "u", "/b", "/i", "/u"]

    /// One line of SubRip text as a WebVTT payload line.
    static func webVTTPayload(_ line: String) -> String {
        var out = ""
        var rest = Substring(line)
        // Once no `>` (or `}`) follows, none will: remembering it keeps a line of unclosed `<`
        // linear instead of searching to its end once per `<`.
        var angleMayClose = true
        var braceMayClose = true
        while let c = rest.first {
            if c == "<", angleMayClose {
                if let close = rest.firstIndex(of: ">") {
                    let tag = rest[rest.index(after: rest.startIndex)..<close].lowercased()
                    if keptTags.contains(tag) { out += "<" + tag + ">" }
                    rest = rest[rest.index(after: close)...]
                    continue
                }
                angleMayClose = false
            } else if c == "{", braceMayClose, rest.dropFirst().first == "\\" {
                if let close = rest.firstIndex(of: "}") {
                    rest = rest[rest.index(after: close)...]
                    continue
                }
                braceMayClose = false
            }
            out += TextLines.escaped(String(c))
            rest = rest.dropFirst()
        }
        return out
    }
}
