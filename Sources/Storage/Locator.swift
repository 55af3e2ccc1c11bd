/// Locators name stored objects: a local path or an `http(s)://` URL.
public enum Locator {
    /// Resolves `reference`, found inside the object at `base` (an index MP4's data reference),
    /// the way a browser resolves a link: an absolute http(s) URL stays as it is; otherwise it is
    /// relative to `base`'s directory (its URL path for a remote base, its directory for a local
    /// one) unless it is absolute (`/...`). A reference inside a remote object always stays on the
    /// network: it can name another path of the same host, never a local file. Other schemes
    /// (`file:`, `s3:`, `data:`), `//host` references and control characters give nil.
    public static func resolve(_ reference: String, against base: String) -> String? {
        guard !reference.isEmpty, !reference.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            return nil
        }
        if RemoteURL.isRemote(base) || RemoteURL.isRemote(reference) {
            return RemoteURL.resolve(reference, against: base)
        }
        if reference.hasPrefix("//") || reference.contains(":") && hasScheme(reference) { return nil }
        if reference.hasPrefix("/") { return reference }
        let directory = base.lastIndex(of: "/").map { String(base[..<$0]) } ?? "."
        return (directory.isEmpty ? "" : directory) + "/" + reference
    }

    /// `scheme:` with a scheme of letters, digits, `+`, `-`, `.` before any `/`.
    private static func hasScheme(_ s: String) -> Bool {
        guard let colon = s.firstIndex(of: ":") else { return false }
        let scheme = s[..<colon]
        guard let first = scheme.unicodeScalars.first, first.properties.isAlphabetic else { return false }
        return scheme.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0))
        }
    }
}
