import XML

/// Writes TTML documents (IMSC1 text profile shape): the Smooth Streaming text fragments.
public enum TTMLWriter {
    /// A TTML document with one `<p>` per cue, times as clock times shifted by `offset`
    /// milliseconds; WebVTT markup is dropped and line breaks become `<br/>`.
    public static func document(cues: [Cue], language: String, offset: Int64 = 0) -> [UInt8] {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<tt xmlns=\"http://www.w3.org/ns/ttml\" xmlns:tts=\"http://www.w3.org/ns/ttml#styling\""
        out += " xml:lang=\"\(attribute(language.isEmpty ? "und" : language))\">"
        out += "<body><div>"
        for cue in cues {
            out += "<p begin=\"\(Timestamp.format(cue.start &+ offset))\" end=\"\(Timestamp.format(cue.end &+ offset))\">"
            out += plainLines(cue.text).map(TextLines.escaped).joined(separator: "<br/>")
            out += "</p>"
        }
        out += "</div></body></tt>\n"
        return Array(out.utf8)
    }

    /// The lines of a WebVTT payload as plain text: tags removed, references resolved.
    public static func plainLines(_ payload: String) -> [String] {
        payload.split(separator: "\n", omittingEmptySubsequences: true).map { line in
            var text = ""
            var inTag = false
            for c in line {
                if c == "<" { inTag = true } else if c == ">" && inTag { inTag = false } else if !inTag { text.append(c) }
            }
            return XMLParser.resolvingReferences(in: text)
        }
    }

    private static func attribute(_ s: String) -> String {
        TextLines.escaped(s).replacingQuotes()
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        var out = ""
        for c in self { out += c == "\"" ? "&quot;" : String(c) }
        return out
    }
}
