import XML

extension ServerManifest {
    /// The SMIL namespace written on `<smil>`.
    public static let smilNamespace = "http://www.w3.org/2001/SMIL20/Language"

    /// Writes the manifest as an `.ism` document that ``parse(_:limits:)`` reads back unchanged.
    /// Track params are written `trackID`, `trackName` first, then the others by name.
    public func serialize() -> [UInt8] {
        var w = XMLWriter()
        w.declaration()
        w.comment("Created with Origo")
        w.open("smil", attributes: [("xmlns", Self.smilNamespace)])
        w.open("head")
        for m in meta { w.empty("meta", attributes: [("name", m.name), ("content", m.content)]) }
        for group in paramGroups {
            w.open("paramGroup", attributes: [("id", group.id)])
            for m in group.entries { w.empty("meta", attributes: [("name", m.name), ("content", m.content)]) }
            w.close()
        }
        w.close()
        w.open("body")
        w.open("switch")
        for track in tracks {
            var attributes = [("src", track.src)]
            if let bitrate = track.systemBitrate { attributes.append(("systemBitrate", String(bitrate))) }
            if let language = track.systemLanguage { attributes.append(("systemLanguage", language)) }
            w.open(track.kind.rawValue, attributes: attributes)
            for name in Self.paramOrder(track.params) {
                w.empty("param", attributes: [("name", name), ("value", track.params[name] ?? ""), ("valuetype", "data")])
            }
            w.close()
        }
        return w.finish()
    }

    private static func paramOrder(_ params: [String: String]) -> [String] {
        let first = [ManifestTrack.trackIDParam, ManifestTrack.trackNameParam].filter { params[$0] != nil }
        return first + params.keys.filter { !first.contains($0) }.sorted()
    }
}
