/// The output format a virtual path asks for, from its shape alone (the names need not exist):
/// what requests are counted by. The shapes are those ``VirtualPath`` parses.
public enum OutputFormat: Sendable, Equatable {
    case hls, dash, smooth, hds

    /// nil when the path has none of the shapes of the grammar.
    public init?(virtualPath: String) {
        self.init(virtualPath: Array(virtualPath.utf8))
    }

    public init?(virtualPath bytes: UnsafeBufferPointer<UInt8>) {
        self.init(virtualPath: Array(bytes))
    }

    init?(virtualPath bytes: [UInt8]) {
        if PathBytes.hasPrefix(bytes[...], VirtualPath.keyFramesPrefix) {
            self = .hls
        } else if PathBytes.equals(bytes[...], "manifest", ignoringCase: true) || SmoothPath.isFragmentName(bytes) {
            self = .smooth
        } else if bytes.contains(PathBytes.slash) {
            return nil
        } else if HDSPath.fragmentName(bytes) != nil {
            self = .hds
        } else if let dot = bytes.lastIndex(of: PathBytes.dot) {
            switch PathBytes.text(bytes[(dot + 1)...]) {
            case "m3u8", "ts", "m4s", "webvtt": self = .hls
            case "mpd", "dash": self = .dash
            case "f4m": self = .hds
            default: return nil
            }
        } else {
            return nil
        }
    }
}
