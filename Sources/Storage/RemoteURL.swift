/// URL helpers for remote locators: which locators are remote, and resolving a server manifest's
/// `src` against the manifest's URL. Works on plain strings (no Foundation).
public enum RemoteURL {
    /// Whether `locator` is an `http://` or `https://` URL (case-insensitive scheme).
    public static func isRemote(_ locator: String) -> Bool {
        schemeEnd(locator) != nil
    }

    /// `url` without `?query` and `#fragment`.
    public static func withoutQuery(_ url: String) -> String {
        if let i = url.firstIndex(where: { $0 == "?" || $0 == "#" }) { return String(url[..<i]) }
        return url
    }

    /// Appends a raw query string (without `?`) to `url`, joining with `&` if it already has one.
    public static func appendingQuery(_ url: String, _ query: String?) -> String {
        guard let query, !query.isEmpty else { return url }
        return url + (url.contains("?") ? "&" : "?") + query
    }

    /// Resolves `reference` (a `src` attribute) against `base` (the manifest URL): absolute
    /// http(s) URLs stay as they are, `/path` keeps the base's scheme and host, anything else is
    /// relative to the base's directory. `.` and `..` segments are removed; `..` never climbs
    /// above the host. Returns nil for references that cannot be resolved (other schemes, empty).
    public static func resolve(_ reference: String, against base: String) -> String? {
        guard !reference.isEmpty, !reference.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
        if isRemote(reference) { return normalized(reference) }
        if hasScheme(reference) { return nil }  // s3://, file://, data: ...: not ours to fetch
        guard let (origin, basePath) = split(withoutQuery(base)) else { return nil }
        if reference.hasPrefix("//") { return nil }  // scheme-relative: refuse rather than guess
        let (refPath, refQuery) = splitQuery(reference)
        let path: String
        if refPath.hasPrefix("/") {
            path = refPath
        } else {
            let directory = basePath.lastIndex(of: "/").map { String(basePath[...$0]) } ?? "/"
            path = directory + refPath
        }
        return origin + removeDotSegments(path) + refQuery
    }

    /// Normalizes an absolute URL's path (dot segments).
    static func normalized(_ url: String) -> String? {
        let (noQuery, query) = splitQuery(url)
        guard let (origin, path) = split(noQuery) else { return nil }
        return origin + removeDotSegments(path) + query
    }

    /// `http://host:port` and `/path` (at least `/`).
    static func split(_ url: String) -> (origin: String, path: String)? {
        guard let end = schemeEnd(url) else { return nil }
        let rest = url[end...]
        guard let slash = rest.firstIndex(of: "/") else {
            return rest.isEmpty ? nil : (url, "/")
        }
        guard slash != rest.startIndex else { return nil }  // no host
        return (String(url[..<slash]), String(url[slash...]))
    }

    private static func splitQuery(_ s: String) -> (String, String) {
        if let i = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { return (String(s[..<i]), String(s[i...])) }
        return (s, "")
    }

    /// The index after `http://` or `https://`, or nil.
    private static func schemeEnd(_ s: String) -> String.Index? {
        guard let first = s.utf8.first, lower(first) == UInt8(ascii: "h") else { return nil }  // most are paths
        for scheme in ["http://", "https://"] {
            let u = s.utf8
            if u.count >= scheme.utf8.count,
               zip(u.prefix(scheme.utf8.count), scheme.utf8).allSatisfy({ lower($0) == $1 }) {
                return s.utf8.index(s.startIndex, offsetBy: scheme.utf8.count)
            }
        }
        return nil
    }

    private static func hasScheme(_ s: String) -> Bool {
        guard let colon = s.firstIndex(of: ":") else { return false }
        let scheme = s[..<colon]
        guard let first = scheme.unicodeScalars.first, first.properties.isAlphabetic else { return false }
        return scheme.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0)) }
            && !scheme.contains("/")
    }

    private static func lower(_ b: UInt8) -> UInt8 { (0x41...0x5A).contains(b) ? b | 0x20 : b }

    /// RFC 3986 §5.2.4, on `/`-separated segments.
    static func removeDotSegments(_ path: String) -> String {
        var out: [Substring] = []
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for (i, segment) in segments.enumerated() {
            let isLast = i == segments.count - 1
            switch segment {
            case ".":
                if isLast { out.append("") }
            case "..":
                if !out.isEmpty { out.removeLast() }
                if isLast { out.append("") }
            default:
                out.append(segment)
            }
        }
        return "/" + out.joined(separator: "/")
    }
}
