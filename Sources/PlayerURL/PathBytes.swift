/// Byte-level pieces of the path grammars. Paths are parsed as UTF-8 bytes, never as Characters:
/// this runs for every request, and every delimiter of the grammar is ASCII.
enum PathBytes {
    static let slash = UInt8(ascii: "/"), dot = UInt8(ascii: "."), dash = UInt8(ascii: "-")
    static let equalsSign = UInt8(ascii: "=")

    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// The value of 1 to `maxDigits` (at most 18, so it fits) ASCII digits, or nil.
    static func decimal(_ digits: ArraySlice<UInt8>, maxDigits: Int) -> Int64? {
        guard !digits.isEmpty, digits.count <= min(maxDigits, 18) else { return nil }
        var value: Int64 = 0
        for b in digits {
            guard isDigit(b) else { return nil }
            value = value &* 10 &+ Int64(b &- 0x30)
        }
        return value
    }

    /// Whether `bytes` begins with `prefix`, ASCII letters compared without case when `ignoringCase`
    /// (`prefix` is then written in lower case).
    static func hasPrefix(_ bytes: ArraySlice<UInt8>, _ prefix: StaticString, ignoringCase: Bool = false) -> Bool {
        prefix.withUTF8Buffer { p in
            guard bytes.count >= p.count else { return false }
            for (b, l) in zip(bytes, p) {
                let folded = ignoringCase && b >= 0x41 && b <= 0x5A ? b | 0x20 : b
                if folded != l { return false }
            }
            return true
        }
    }

    static func equals(_ bytes: ArraySlice<UInt8>, _ literal: StaticString, ignoringCase: Bool = false) -> Bool {
        bytes.count == literal.withUTF8Buffer { $0.count } && hasPrefix(bytes, literal, ignoringCase: ignoringCase)
    }

    /// The last occurrence of `needle` in `haystack` (absolute indices).
    static func lastRange(of needle: StaticString, in haystack: ArraySlice<UInt8>) -> Range<Int>? {
        needle.withUTF8Buffer { n in
            guard let first = n.first, haystack.count >= n.count else { return nil }
            var start = haystack.endIndex - n.count
            while start >= haystack.startIndex {
                if haystack[start] == first, haystack[start..<(start + n.count)].elementsEqual(n) {
                    return start..<(start + n.count)
                }
                start -= 1
            }
            return nil
        }
    }

    static func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }
}
