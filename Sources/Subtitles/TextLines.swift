/// Byte-level helpers shared by the text readers: BOM removal, line splitting (LF, CRLF, CR)
/// and UTF-8 decoding that replaces invalid sequences instead of failing.
enum TextLines {
    static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// `bytes` without a leading UTF-8 byte order mark.
    static func withoutBOM(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        bytes.starts(with: bom) ? bytes[3...] : bytes[...]
    }

    /// The lines of `bytes` (decoded as UTF-8, invalid sequences replaced), without terminators.
    /// NUL characters become U+FFFD, as WebVTT asks.
    static func lines(_ bytes: ArraySlice<UInt8>) -> [String] {
        var out: [String] = []
        var start = bytes.startIndex
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == 0x0A || b == 0x0D {
                out.append(decode(bytes[start..<i]))
                if b == 0x0D, i + 1 < bytes.endIndex, bytes[i + 1] == 0x0A { i += 1 }
                start = i + 1
            }
            i += 1
        }
        if start < bytes.endIndex { out.append(decode(bytes[start..<bytes.endIndex])) }
        return out
    }

    static func decode(_ bytes: ArraySlice<UInt8>) -> String {
        let s = String(decoding: bytes, as: UTF8.self)
        return s.contains("\0") ? String(s.map { $0 == "\0" ? "\u{FFFD}" : $0 }) : s
    }

    /// `s` cut to at most `limit` UTF-8 bytes at a character boundary.
    static func truncated(_ s: String, limit: Int) -> String {
        guard s.utf8.count > limit else { return s }
        var out = ""
        var used = 0
        for c in s {
            let n = c.utf8.count
            if used + n > limit { break }
            out.append(c)
            used += n
        }
        return out
    }

    static func isBlank(_ line: String) -> Bool {
        line.utf8.allSatisfy { $0 == 0x20 || $0 == 0x09 }
    }

    /// The runs of non-blank lines, in order (the blocks of WebVTT and SubRip files).
    static func blocks(_ lines: [String]) -> [[String]] {
        var out: [[String]] = []
        var block: [String] = []
        for line in lines {
            if isBlank(line) {
                if !block.isEmpty { out.append(block) }
                block = []
            } else {
                block.append(line)
            }
        }
        if !block.isEmpty { out.append(block) }
        return out
    }

    static func trimmed(_ s: Substring) -> Substring {
        var t = s
        while let f = t.first, f == " " || f == "\t" { t = t.dropFirst() }
        while let l = t.last, l == " " || l == "\t" { t = t.dropLast() }
        return t
    }

    /// Escapes `&`, `<` and `>` for a WebVTT payload or XML text.
    static func escaped(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(c)
            }
        }
        return out
    }
}
