import ByteIO

/// The HDS fragment part of the virtual path grammar: `<base>-<tokens>-Seg<S>-Frag<N>`, the name
/// an HDS client makes by appending `Seg<S>-Frag<N>` to a media's `url` (the F4M writes
/// `<base>-<tokens>-`). `=` in tokens may reach the origin percent-encoded (`audio%3D64000`);
/// the web server decodes the path before it gets here.
///
/// A path ending in `-Seg<word>-Frag<word>` is an HDS fragment: numbers that
/// are not decimal, too long, or a fragment 0 make it malformed (400); the segment number is
/// returned as given (only segment 1 exists, the engine answers others with 404).
enum HDSPath {
    /// nil when `bytes` (the UTF-8 of `path`) does not end like an HDS fragment name, so the other
    /// grammars can try it.
    static func parse(_ bytes: [UInt8], path: String, trackNames: Set<String>) throws(PlayerURLError) -> PlayerRequest? {
        guard let (seg, frag) = fragmentName(bytes) else { return nil }
        let segmentDigits = bytes[seg.upperBound..<frag.lowerBound]
        let fragmentDigits = bytes[frag.upperBound...]
        let segment = try number(segmentDigits, what: "segment", path: path)
        let fragment = try number(fragmentDigits, what: "fragment", path: path)
        guard fragment >= 1 else { throw .malformed("HDS fragment numbers start at 1 in \(Sanitized.text(path))") }
        let tokens = try VirtualPath.requireTokens(bytes[..<seg.lowerBound], trackNames: trackNames, path: path)
        return .hdsFragment(tokens: tokens, segment: segment, fragment: fragment)
    }

    /// Where `-Seg` and `-Frag` are in a name that ends in `-Seg<word>-Frag<word>`, or nil. Only
    /// such a name is meant as a fragment; a server manifest whose name happens to contain `-Seg`
    /// and `-Frag` keeps its other URLs.
    static func fragmentName(_ bytes: [UInt8]) -> (seg: Range<Int>, frag: Range<Int>)? {
        guard let frag = PathBytes.lastRange(of: "-Frag", in: bytes[...]),
              let seg = PathBytes.lastRange(of: "-Seg", in: bytes[..<frag.lowerBound]) else { return nil }
        func isWord(_ part: ArraySlice<UInt8>) -> Bool {
            !part.contains { $0 == PathBytes.dash || $0 == PathBytes.dot || $0 == PathBytes.equalsSign }
        }
        guard isWord(bytes[seg.upperBound..<frag.lowerBound]), isWord(bytes[frag.upperBound...]) else { return nil }
        return (seg, frag)
    }

    private static func number(_ digits: ArraySlice<UInt8>, what: String, path: String) throws(PlayerURLError) -> Int {
        guard let value = PathBytes.decimal(digits, maxDigits: 9) else {
            throw .malformed("HDS \(what) must be a decimal number of at most 9 digits in \(Sanitized.text(path))")
        }
        return Int(value)
    }
}
