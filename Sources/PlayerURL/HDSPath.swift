/// The HDS fragment part of the virtual path grammar: `<base>-<tokens>-Seg<S>-Frag<N>`, the name
/// an HDS client makes by appending `Seg<S>-Frag<N>` to a media's `url` (the F4M writes
/// `<base>-<tokens>-`). `=` in tokens may reach the origin percent-encoded (`audio%3D64000`);
/// the web server decodes the path before it gets here.
///
/// A path ending in `-Seg<word>-Frag<word>` is an HDS fragment: numbers that
/// are not decimal, too long, or a fragment 0 make it malformed (400); the segment number is
/// returned as given (only segment 1 exists, the engine answers others with 404).
enum HDSPath {
    /// nil when `path` does not end like an HDS fragment name, so the other grammars can try it.
    static func parse(_ path: String, trackNames: Set<String>) throws(PlayerURLError) -> PlayerRequest? {
        let bytes = Array(path.utf8)
        guard let frag = lastRange(of: Array("-Frag".utf8), in: bytes[...]),
              let seg = lastRange(of: Array("-Seg".utf8), in: bytes[..<frag.lowerBound]) else { return nil }
        let segmentDigits = bytes[seg.upperBound..<frag.lowerBound]
        let fragmentDigits = bytes[frag.upperBound...]
        // Only a name that ends in `Seg<word>-Frag<word>` is meant as a fragment; a server manifest
        // whose name happens to contain `-Seg` and `-Frag` keeps its other URLs.
        func isWord(_ part: ArraySlice<UInt8>) -> Bool {
            !part.contains { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "=") }
        }
        guard isWord(segmentDigits), isWord(fragmentDigits) else { return nil }
        let segment = try number(segmentDigits, what: "segment", path: path)
        let fragment = try number(fragmentDigits, what: "fragment", path: path)
        guard fragment >= 1 else { throw .malformed("HDS fragment numbers start at 1 in \(Sanitized.text(path))") }
        let stem = String(decoding: bytes[..<seg.lowerBound], as: UTF8.self)
        let tokens = try VirtualPath.requireTokens(stem, trackNames: trackNames, path: path)
        return .hdsFragment(tokens: tokens, segment: segment, fragment: fragment)
    }

    private static func number(_ digits: ArraySlice<UInt8>, what: String, path: String) throws(PlayerURLError) -> Int {
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let value = Int(String(decoding: digits, as: UTF8.self)) else {
            throw .malformed("HDS \(what) must be a decimal number of at most 9 digits in \(Sanitized.text(path))")
        }
        return value
    }

    /// The last occurrence of `needle` in `haystack` (absolute indices).
    private static func lastRange(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Range<Int>? {
        guard haystack.count >= needle.count else { return nil }
        var start = haystack.endIndex - needle.count
        while start >= haystack.startIndex {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return start..<(start + needle.count) }
            start -= 1
        }
        return nil
    }
}
