/// Which files the engine serves, by name: server manifests and media files addressed directly.
/// The one list of extensions; the web server modules ask through the C ABI
/// (`origo_manifest_length`) where the file part of a request path ends.
public enum ManifestPath {
    public enum Kind: Sendable, Equatable {
        /// `.ism`, `.isml`, `.smil`: a SMIL server manifest.
        case serverManifest
        /// `.mp4`, `.ismv`, `.isma`, `.cmfv`, `.cmfa`, `.m4v`, `.m4a`: one media file, all its tracks.
        case media
    }

    private static let extensions: [(StaticString, Kind)] = [
        (".ism", .serverManifest), (".isml", .serverManifest), (".smil", .serverManifest),
        (".mp4", .media), (".ismv", .media), (".isma", .media), (".cmfv", .media), (".cmfa", .media),
        (".m4v", .media), (".m4a", .media),
    ]

    /// What `name` names by its extension (ASCII letters compared without case), or nil. The name
    /// before the extension must not be empty: `/dir/.ism` is nothing.
    public static func kind(of name: String) -> Kind? {
        kind(ofBytes: Array(name.utf8)[...])
    }

    static func kind(ofBytes name: ArraySlice<UInt8>) -> Kind? {
        for (ext, kind) in extensions {
            let n = ext.withUTF8Buffer { $0.count }
            guard name.count > n else { continue }
            let tail = name[(name.endIndex - n)...]
            if PathBytes.equals(tail, ext, ignoringCase: true), name[name.endIndex - n - 1] != PathBytes.slash {
                return kind
            }
        }
        return nil
    }

    /// The length in bytes of the file part of `path`: its shortest prefix that names a served
    /// file and is followed by `/` or the end (`a/b/x.ism` of `a/b/x.ism/.m3u8`); nil when none.
    public static func length(of path: [UInt8]) -> Int? {
        var end = 0
        while end <= path.count {
            if end == path.count || path[end] == PathBytes.slash, kind(ofBytes: path[..<end]) != nil { return end }
            end += 1
        }
        return nil
    }
}
