/// Writes the relative URLs that manifests point at, the inverse of ``VirtualPath/parse``.
/// Every child URL carries the request's query string, so options (and session ids) reach
/// every playlist and segment request of the same playback.
public struct ChildURL: Sendable {
    /// The server manifest's name without extension, percent-encoded for a path segment.
    public let base: String
    /// The query string to append (without `?`), or empty.
    public let query: String
    /// Whether URLs end in ``queryPlaceholder`` / ``templateQueryPlaceholder`` instead of the query.
    private let placeholders: Bool

    public init(base: String, query: String) {
        self.base = ChildURL.encodePathSegment(base)
        self.query = ChildURL.safeQuery(query)
        self.placeholders = false
    }

    /// URLs for a manifest template: each URL ends in a placeholder where `?<query>` goes, so one
    /// manifest serves every query that differs only in options the origin does not consume
    /// (session ids). Templates (DASH) get ``templateQueryPlaceholder``, everything else
    /// ``queryPlaceholder``. Both survive XML escaping unchanged.
    public static func template(base: String) -> ChildURL { ChildURL(base: base, placeholders: true) }

    private init(base: String, placeholders: Bool) {
        self.base = ChildURL.encodePathSegment(base)
        self.query = ""
        self.placeholders = placeholders
    }

    /// Stands for `?` plus the query (nothing when the query is empty). U+F8F0, a private-use character.
    public static let queryPlaceholder = "\u{F8F0}"
    /// The same inside a DASH template, where `$` in the query must be doubled. U+F8F1.
    public static let templateQueryPlaceholder = "\u{F8F1}"

    /// What a template's placeholder becomes for `rawQuery`: `?` plus the query made safe for a URL
    /// (``safeQuery(_:)``), with `$` doubled when `inTemplate`; empty for an empty query.
    public static func querySuffix(_ rawQuery: String, inTemplate: Bool) -> String {
        let safe = safeQuery(rawQuery)
        guard !safe.isEmpty else { return "" }
        return "?" + (inTemplate ? safe.replacingDollars() : safe)
    }

    /// The query as it may appear in a URL written into a playlist or an XML attribute: bytes that
    /// RFC 3986 does not allow in a query (quotes, spaces, `<>{}|\^` and backquote, controls,
    /// non-ASCII) are percent-encoded; `%` escapes already there are kept.
    public static func safeQuery(_ raw: String) -> String {
        var out = ""
        out.reserveCapacity(raw.utf8.count)
        for byte in raw.utf8 {
            switch byte {
            case 0x21, 0x24...0x3B, 0x3D, 0x3F...0x5A, 0x5F, 0x61...0x7A, 0x7E:
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xF)])
            }
        }
        return out
    }

    public func hlsMediaPlaylist(tokens: [String]) -> String { withQuery("\(base)-\(join(tokens)).m3u8") }
    public func hlsTSSegment(tokens: [String], number: Int) -> String { withQuery("\(base)-\(join(tokens))-\(number).ts") }
    public func hlsInit(token: String) -> String { withQuery("\(base)-\(enc(token)).m4s") }
    public func hlsFMP4Segment(token: String, number: Int) -> String { withQuery("\(base)-\(enc(token))-\(number).m4s") }
    /// The I-frame playlist of a video track, `keyframes/<base>-<token>.m3u8`. Inside it, segment and
    /// init URLs are relative to `keyframes/` and use the same names as ``hlsTSSegment(tokens:number:)``,
    /// ``hlsFMP4Segment(token:number:)`` and ``hlsInit(token:)``, numbered by key frame.
    public func hlsIFramePlaylist(token: String) -> String { withQuery("\(VirtualPath.keyFramesDirectory)/\(base)-\(enc(token)).m3u8") }
    public func hlsWebVTTSegment(token: String, number: Int) -> String { withQuery("\(base)-\(enc(token))-\(number).webvtt") }

    /// DASH templates (`$` in the query is escaped as `$$`, as the template syntax requires).
    public var dashInitTemplate: String { templateWithQuery("\(base)-$RepresentationID$.dash") }
    public var dashTimeTemplate: String { templateWithQuery("\(base)-$RepresentationID$-$Time$.dash") }
    public var dashNumberTemplate: String { templateWithQuery("\(base)-$RepresentationID$-n$Number$.dash") }

    /// The Smooth `StreamIndex` `Url` template of one track name:
    /// `QualityLevels({bitrate})/Fragments(<name>={start time})`, plus the query.
    public func smoothFragmentTemplate(trackName: String) -> String {
        withQuery("QualityLevels({bitrate})/Fragments(\(enc(trackName))={start time})")
    }

    /// The HDS `media@url` of a rendition, `<base>-<tokens>-`, to which clients append
    /// `Seg1-Frag<N>`. No query: clients build fragment URLs by appending to this string.
    public func hdsMediaPrefix(tokens: [String]) -> String { "\(base)-\(join(tokens))-" }
    /// An HDS fragment URL, `<base>-<tokens>-Seg<segment>-Frag<fragment>`, plus the query.
    public func hdsFragment(tokens: [String], segment: Int = 1, fragment: Int) -> String {
        withQuery("\(hdsMediaPrefix(tokens: tokens))Seg\(segment)-Frag\(fragment)")
    }

    private func join(_ tokens: [String]) -> String { tokens.map(enc).joined(separator: "-") }
    private func enc(_ token: String) -> String { ChildURL.encodePathSegment(token) }

    private func withQuery(_ path: String) -> String {
        if placeholders { return path + Self.queryPlaceholder }
        return query.isEmpty ? path : path + "?" + query
    }
    private func templateWithQuery(_ path: String) -> String {
        if placeholders { return path + Self.templateQueryPlaceholder }
        return query.isEmpty ? path : path + "?" + query.replacingDollars()
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters and the sub-delimiters that are
    /// safe in a relative path segment (`=` stays readable in tokens).
    public static func encodePathSegment(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "="), UInt8(ascii: "+"),
                 UInt8(ascii: ","), UInt8(ascii: "@"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xF)])
            }
        }
        return out
    }
}

extension String {
    fileprivate func replacingDollars() -> String {
        var out = ""
        for c in self { out += c == "$" ? "$$" : String(c) }
        return out
    }
}
