import XML

/// The kind of a `<switch>` entry: the element name in the server manifest.
public enum ManifestTrackKind: String, Sendable, CaseIterable {
    case video
    case audio
    case textstream
}

/// One `<meta name= content=>` entry.
public struct ManifestMeta: Sendable, Equatable {
    public var name: String
    public var content: String

    public init(name: String, content: String) {
        self.name = name
        self.content = content
    }
}

/// A `<paramGroup id=>` of options for one output format (`hls`, `mpd`, `iss`, `widevine`, ...).
public struct ManifestParamGroup: Sendable, Equatable {
    public var id: String
    /// Entries in document order; written as `<meta name= content=>`.
    public var entries: [ManifestMeta]

    public init(id: String, entries: [ManifestMeta] = []) {
        self.id = id
        self.entries = entries
    }
}

/// One track of the presentation: a `<video>`, `<audio>` or `<textstream>` inside `<switch>`.
public struct ManifestTrack: Sendable, Equatable {
    public var kind: ManifestTrackKind
    /// The media file, relative to the server manifest's directory or absolute (path or URL).
    public var src: String
    /// `systemBitrate`: the bitrate in the track's URL token.
    public var systemBitrate: Int?
    /// `systemLanguage`.
    public var systemLanguage: String?
    /// Every `<param name= value=>` child (`trackID`, `trackName`, `FourCC`, ...).
    public var params: [String: String]

    public init(kind: ManifestTrackKind, src: String, systemBitrate: Int? = nil, systemLanguage: String? = nil,
                params: [String: String] = [:]) {
        self.kind = kind
        self.src = src
        self.systemBitrate = systemBitrate
        self.systemLanguage = systemLanguage
        self.params = params
    }

    /// The `trackID` param: the track's id inside `src`. Parsing guarantees it is a valid UInt32.
    public var trackID: UInt32? {
        get { param(Self.trackIDParam).flatMap { UInt32($0) } }
        set { setParam(Self.trackIDParam, newValue.map { String($0) }) }
    }

    /// The `trackName` param: the name in the track's URL token (`audio_eng`).
    public var trackName: String? {
        get { param(Self.trackNameParam) }
        set { setParam(Self.trackNameParam, newValue) }
    }

    static let trackIDParam = "trackID"
    static let trackNameParam = "trackName"

    /// A param by name; exact spelling first, then ignoring ASCII case (`trackId`, `TrackID`).
    public func param(_ name: String) -> String? {
        if let value = params[name] { return value }
        let lower = name.lowercased()
        return params.first { $0.key.lowercased() == lower }?.value
    }

    private mutating func setParam(_ name: String, _ value: String?) {
        let lower = name.lowercased()
        for key in params.keys where key.lowercased() == lower { params[key] = nil }
        if let value { params[name] = value }
    }
}

/// A parsed `.ism`/`.isml`/`.smil` server manifest: SMIL 2.0 with presentation options in
/// `head/meta` and `head/paramGroup`, and one `switch` entry per track.
public struct ServerManifest: Sendable, Equatable {
    /// `head/meta` entries in document order (`hls_minimum_fragment_length`, `creator`, ...).
    public var meta: [ManifestMeta]
    /// `head/paramGroup` blocks in document order.
    public var paramGroups: [ManifestParamGroup]
    /// Tracks in document order.
    public var tracks: [ManifestTrack]

    public init(meta: [ManifestMeta] = [], paramGroups: [ManifestParamGroup] = [], tracks: [ManifestTrack] = []) {
        self.meta = meta
        self.paramGroups = paramGroups
        self.tracks = tracks
    }

    /// All options as one dictionary: `head/meta` by name (`hls_minimum_fragment_length`) and
    /// `paramGroup` entries as `<group id>.<name>` (`hls.minimum_fragment_length`). A later entry
    /// with the same key wins. `Presentation.option(group:_:)` looks up both spellings.
    public var options: [String: String] {
        var options: [String: String] = [:]
        for m in meta { options[m.name] = m.content }
        for group in paramGroups {
            for m in group.entries { options[group.id + "." + m.name] = m.content }
        }
        return options
    }

    /// Sets an option the way the packager's command line does: `group.name` goes into
    /// `<paramGroup id="group">`, a name without a dot into `head/meta`. Replaces an existing value.
    public mutating func setOption(_ key: String, _ value: String) {
        if let dot = key.firstIndex(of: "."), dot != key.startIndex, key.index(after: dot) != key.endIndex {
            let id = String(key[..<dot])
            let name = String(key[key.index(after: dot)...])
            let groupIndex: Int
            if let existing = paramGroups.firstIndex(where: { $0.id == id }) {
                groupIndex = existing
            } else {
                paramGroups.append(ManifestParamGroup(id: id))
                groupIndex = paramGroups.count - 1
            }
            Self.set(&paramGroups[groupIndex].entries, name, value)
        } else {
            Self.set(&meta, key, value)
        }
    }

    private static func set(_ entries: inout [ManifestMeta], _ name: String, _ value: String) {
        if let i = entries.firstIndex(where: { $0.name == name }) {
            entries[i].content = value
        } else {
            entries.append(ManifestMeta(name: name, content: value))
        }
    }
}
