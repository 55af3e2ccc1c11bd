import XML

extension ServerManifest {
    /// Parses a server manifest. Elements are matched by local name, so any SMIL namespace or
    /// prefix is accepted; unknown elements are ignored. Tracks are read from `body/switch`, from
    /// `body`, or straight under `smil` (some generated manifests omit `body/switch`).
    public static func parse(_ bytes: [UInt8], limits: XMLLimits = .default) throws(ServerManifestError) -> ServerManifest {
        let root: XMLElement
        do {
            root = try XMLParser.parse(bytes, limits: limits)
        } catch {
            throw ServerManifestError(error.logReason)
        }
        guard root.hasLocalName("smil") else { throw ServerManifestError("root element is <\(root.name)>, not <smil>") }
        var manifest = ServerManifest()
        for child in root.children {
            if child.hasLocalName("head") {
                try readHead(child, into: &manifest)
            } else {
                try collectTracks(child, into: &manifest.tracks)
            }
        }
        return manifest
    }

    private static func readHead(_ head: XMLElement, into manifest: inout ServerManifest) throws(ServerManifestError) {
        for child in head.children {
            switch child.localName {
            case "meta":
                manifest.meta.append(try meta(child))
            case "paramGroup":
                guard let id = nonEmpty(child.attribute("id") ?? child.attribute(localName: "id")) else {
                    throw ServerManifestError("<paramGroup> without id")
                }
                var group = ManifestParamGroup(id: id)
                for entry in child.children {
                    if entry.hasLocalName("meta") {
                        group.entries.append(try meta(entry))
                    } else if entry.hasLocalName("param") {
                        let (name, value) = try param(entry)
                        group.entries.append(ManifestMeta(name: name, content: value))
                    }
                }
                manifest.paramGroups.append(group)
            default:
                continue
            }
        }
    }

    /// Walks `body` and `switch` containers in document order, collecting track elements.
    private static func collectTracks(_ element: XMLElement, into tracks: inout [ManifestTrack]) throws(ServerManifestError) {
        let name = element.localName
        if let kind = ManifestTrackKind(rawValue: name) {
            tracks.append(try track(element, kind: kind))
        } else if name == "body" || name == "switch" {
            for child in element.children { try collectTracks(child, into: &tracks) }
        } else if name == "seq" || name == "par" {
            throw ServerManifestError("<\(name)> (a remix playlist) is not supported in a server manifest")
        }
    }

    private static func track(_ element: XMLElement, kind: ManifestTrackKind) throws(ServerManifestError) -> ManifestTrack {
        guard let src = nonEmpty(element.attribute("src")) else {
            throw ServerManifestError("<\(element.name)> without src")
        }
        var track = ManifestTrack(kind: kind, src: src)
        if let text = element.attribute("systemBitrate") ?? element.attribute("system-bitrate") {
            guard let bitrate = Int(trimmed(text)), bitrate >= 0 else {
                throw ServerManifestError("systemBitrate \"\(text)\" of \(src) is not a bitrate")
            }
            track.systemBitrate = bitrate
        }
        track.systemLanguage = nonEmpty(element.attribute("systemLanguage") ?? element.attribute("system-language"))
        for child in element.children where child.hasLocalName("param") {
            let (name, value) = try param(child)
            track.params[name] = value
        }
        if let id = track.param(ManifestTrack.trackIDParam), UInt32(trimmed(id)) == nil {
            throw ServerManifestError("trackID \"\(id)\" of \(src) is not a track id")
        }
        if let id = track.param(ManifestTrack.trackIDParam) { track.trackID = UInt32(trimmed(id)) }
        return track
    }

    private static func meta(_ element: XMLElement) throws(ServerManifestError) -> ManifestMeta {
        guard let name = nonEmpty(element.attribute("name")) else { throw ServerManifestError("<meta> without name") }
        return ManifestMeta(name: name, content: element.attribute("content") ?? "")
    }

    private static func param(_ element: XMLElement) throws(ServerManifestError) -> (String, String) {
        guard let name = nonEmpty(element.attribute("name")) else { throw ServerManifestError("<param> without name") }
        return (name, element.attribute("value") ?? "")
    }

    private static func nonEmpty(_ s: String?) -> String? {
        guard let s else { return nil }
        let t = trimmed(s)
        return t.isEmpty ? nil : t
    }

    private static func trimmed(_ s: String) -> String {
        XMLElement(name: "", text: s).trimmedText
    }
}
