import ByteIO
import XML

/// A key document in DASH-IF's Content Protection Information Exchange format (CPIX 2.3), as a
/// key service hands it out: the content keys (`ContentKeyList`, keys in the clear as PSKC
/// `PlainValue`), what each DRM system needs to be told about them (`DRMSystemList`: `pssh`
/// boxes, HLS key URIs) and which tracks each key encrypts (`ContentKeyUsageRuleList`).
///
/// Only what the origin can honour is accepted: encrypted key values (`EncryptedValue`, which
/// need the document key's private half), key periods (rotation) and label filters are refused
/// with a reason, never ignored, so a document is never half applied.
public struct CPIX: Sendable, Equatable {
    public struct DRMSystem: Sendable, Equatable {
        /// The system's ID, 16 bytes.
        public var systemID: [UInt8]
        public var kid: [UInt8]
        /// The whole `pssh` box to put in init segments and manifests, when given.
        public var pssh: [UInt8]?
        /// The URI of `EXT-X-KEY` lines for this key, when given.
        public var hlsKeyURI: String?
    }

    /// What a track offers the filters of a usage rule.
    public struct Track: Sendable, Equatable {
        public enum Kind: Sendable, Equatable { case video, audio }
        public var kind: Kind
        /// Width × height (video).
        public var pixels: Int
        /// Frames per second (video; 0 when unknown).
        public var framesPerSecond: Double
        /// Channels (audio).
        public var channels: Int
        /// Bits per second.
        public var bitrate: Int

        public init(kind: Kind, pixels: Int = 0, framesPerSecond: Double = 0, channels: Int = 0, bitrate: Int = 0) {
            self.kind = kind
            self.pixels = pixels
            self.framesPerSecond = framesPerSecond
            self.channels = channels
            self.bitrate = bitrate
        }
    }

    /// One `ContentKeyUsageRule`: its key applies to tracks every filter type accepts (filters of
    /// the same type are alternatives). A rule without filters applies to every track.
    struct Rule: Sendable, Equatable {
        var kid: [UInt8]
        var video: [ClosedRange<Double>]?      // pixels
        var fps: [ClosedRange<Double>]?
        var audio: [ClosedRange<Double>]?      // channels
        var bitrate: [ClosedRange<Double>]?

        func applies(to track: Track) -> Bool {
            func accepts(_ ranges: [ClosedRange<Double>]?, _ value: Double) -> Bool {
                ranges.map { $0.contains { $0.contains(value) } } ?? true
            }
            if video != nil || fps != nil {
                guard track.kind == .video, accepts(video, Double(track.pixels)) else { return false }
                if fps != nil, !accepts(fps, track.framesPerSecond) { return false }
            }
            if audio != nil {
                guard track.kind == .audio, accepts(audio, Double(track.channels)) else { return false }
            }
            return accepts(bitrate, Double(track.bitrate))
        }
    }

    /// The content keys, each with its key ID.
    public private(set) var keys: [ContentKey] = []
    public private(set) var systems: [DRMSystem] = []
    private(set) var rules: [Rule] = []

    /// Why a document was refused: a sentence that names no key.
    public struct Invalid: Error, Equatable {
        public let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// The largest document read (a few hundred keys with their DRM data fit easily).
    public static let maxBytes = 1 << 20

    public init(parsing bytes: [UInt8]) throws(Invalid) {
        guard bytes.count <= Self.maxBytes else { throw Invalid("larger than \(Self.maxBytes) bytes") }
        let root: XMLElement
        do {
            root = try XMLParser.parse(bytes, limits: XMLLimits(maxDepth: 16, maxAttributesPerElement: 32, maxElements: 20_000))
        } catch {
            throw Invalid("not well-formed XML (\(error))")
        }
        guard root.localName == "CPIX" else { throw Invalid("the root element is \(Sanitized.text(root.localName, limit: 40)), not CPIX") }
        for element in root.children(localName: "ContentKeyList").flatMap({ $0.children(localName: "ContentKey") }) {
            let key = try Self.contentKey(element)
            guard !keys.contains(where: { $0.kid == key.kid }) else { throw Invalid("key ID \(Self.kidText(key.kid)) is listed twice") }
            keys.append(key)
        }
        guard !keys.isEmpty else { throw Invalid("no ContentKey in a ContentKeyList") }
        for element in root.children(localName: "DRMSystemList").flatMap({ $0.children(localName: "DRMSystem") }) {
            systems.append(try Self.system(element, keys: keys))
        }
        for list in root.children(localName: "ContentKeyUsageRuleList") {
            for element in list.children(localName: "ContentKeyUsageRule") {
                rules.append(try Self.rule(element, keys: keys))
            }
        }
        if rules.isEmpty {
            // Without rules one key encrypts everything; several keys need rules to be told apart.
            guard keys.count == 1, let kid = keys[0].kid else {
                throw Invalid("\(keys.count) content keys but no ContentKeyUsageRule saying which tracks each encrypts")
            }
            rules = [Rule(kid: kid)]
        }
    }

    /// The key that encrypts `track`: the one key whose usage rules apply to it. Nil when no rule
    /// does; an error when rules name two different keys.
    public func key(for track: Track) throws(Invalid) -> ContentKey? {
        let kids = rules.filter { $0.applies(to: track) }.map(\.kid)
        guard let kid = kids.first else { return nil }
        guard kids.allSatisfy({ $0 == kid }) else {
            throw Invalid("usage rules give one track the keys \(Self.kidText(kid)) and \(Self.kidText(kids.first { $0 != kid }))")
        }
        return keys.first { $0.kid == kid }
    }

    /// What `systemID` is told about key `kid`, when the document says.
    public func system(_ systemID: [UInt8], kid: [UInt8]) -> DRMSystem? {
        systems.first { $0.systemID == systemID && $0.kid == kid }
    }

    // MARK: - Elements

    private static func contentKey(_ element: XMLElement) throws(Invalid) -> ContentKey {
        let kid = try uuid(element.attribute(localName: "kid"), what: "ContentKey kid")
        if let scheme = element.attribute(localName: "commonEncryptionScheme"), !["cenc", "cbcs"].contains(scheme) {
            throw Invalid("ContentKey \(kidText(kid)): encryption scheme \(Sanitized.text(scheme, limit: 8)) is not supported (cenc, cbcs)")
        }
        guard let secret = element.firstChild(localName: "Data")?.firstChild(localName: "Secret") else {
            throw Invalid("ContentKey \(kidText(kid)) has no Data/Secret")
        }
        guard let plain = secret.firstChild(localName: "PlainValue") else {
            if secret.firstChild(localName: "EncryptedValue") != nil {
                throw Invalid("ContentKey \(kidText(kid)) is encrypted for a recipient; the origin reads keys in the clear (PlainValue) only")
            }
            throw Invalid("ContentKey \(kidText(kid)) has no PlainValue")
        }
        guard let bytes = Base64.decode(plain.trimmedText) else { throw Invalid("ContentKey \(kidText(kid)): the value is not base64") }
        do {
            return try ContentKey(kid: kid, bytes: bytes)
        } catch {
            throw Invalid("ContentKey \(kidText(kid)): \(error.reason)")
        }
    }

    private static func system(_ element: XMLElement, keys: [ContentKey]) throws(Invalid) -> DRMSystem {
        let kid = try uuid(element.attribute(localName: "kid"), what: "DRMSystem kid")
        let systemID = try uuid(element.attribute(localName: "systemId"), what: "DRMSystem systemId", allowZero: true)
        guard keys.contains(where: { $0.kid == kid }) else { throw Invalid("DRMSystem names key ID \(kidText(kid)), which is not in the ContentKeyList") }
        var system = DRMSystem(systemID: systemID, kid: kid)
        if let text = element.firstChild(localName: "PSSH")?.trimmedText, !text.isEmpty {
            guard let box = Base64.decode(text), Self.isPSSH(box) else {
                throw Invalid("DRMSystem \(kidText(systemID)): PSSH is not a base64 pssh box")
            }
            system.pssh = box
        }
        if let text = element.firstChild(localName: "URIExtXKey")?.trimmedText, !text.isEmpty {
            guard let bytes = Base64.decode(text), let uri = String(validating: bytes, as: UTF8.self),
                  !uri.isEmpty, uri.utf8.count <= 2048, !uri.contains(where: { $0 == "\"" || $0.isNewline || $0 == "\0" }) else {
                throw Invalid("DRMSystem \(kidText(systemID)): URIExtXKey is not a base64 URI usable in a playlist")
            }
            system.hlsKeyURI = uri
        }
        return system
    }

    private static func rule(_ element: XMLElement, keys: [ContentKey]) throws(Invalid) -> Rule {
        let kid = try uuid(element.attribute(localName: "kid"), what: "ContentKeyUsageRule kid")
        guard keys.contains(where: { $0.kid == kid }) else {
            throw Invalid("ContentKeyUsageRule names key ID \(kidText(kid)), which is not in the ContentKeyList")
        }
        var rule = Rule(kid: kid)
        for filter in element.children {
            func range(_ minName: String, _ maxName: String) throws(Invalid) -> ClosedRange<Double> {
                let low = try number(filter.attribute(localName: minName), minName) ?? 0
                let high = try number(filter.attribute(localName: maxName), maxName) ?? .greatestFiniteMagnitude
                guard low <= high else { throw Invalid("\(filter.localName): \(minName) is above \(maxName)") }
                return low...high
            }
            switch filter.localName {
            case "VideoFilter":
                rule.video = (rule.video ?? []) + [try range("minPixels", "maxPixels")]
                if filter.attribute(localName: "minFps") != nil || filter.attribute(localName: "maxFps") != nil {
                    rule.fps = (rule.fps ?? []) + [try range("minFps", "maxFps")]
                }
            case "AudioFilter":
                rule.audio = (rule.audio ?? []) + [try range("minChannels", "maxChannels")]
            case "BitrateFilter":
                rule.bitrate = (rule.bitrate ?? []) + [try range("minBitrate", "maxBitrate")]
            case "KeyPeriodFilter":
                throw Invalid("key periods (KeyPeriodFilter, key rotation) are not supported")
            case "LabelFilter":
                throw Invalid("LabelFilter is not supported (tracks have no CPIX labels here)")
            default:
                continue  // extensions and signatures
            }
        }
        return rule
    }

    private static func number(_ text: String?, _ name: String) throws(Invalid) -> Double? {
        guard let text else { return nil }
        guard let value = Double(text), value.isFinite, value >= 0 else {
            throw Invalid("\(name) is not a number: \(Sanitized.text(text, limit: 20))")
        }
        return value
    }

    /// A UUID attribute (`01234567-89ab-cdef-0123-456789abcdef`), 16 bytes.
    private static func uuid(_ text: String?, what: String, allowZero: Bool = false) throws(Invalid) -> [UInt8] {
        guard let text else { throw Invalid("\(what) is missing") }
        guard let bytes = Hex.bytes(text.filter { $0 != "-" }), bytes.count == 16 else {
            throw Invalid("\(what) is not a UUID: \(Sanitized.text(text, limit: 40))")
        }
        guard allowZero || bytes.contains(where: { $0 != 0 }) else { throw Invalid("\(what) is all zeros") }
        return bytes
    }

    /// A box of type `pssh` whose size is the whole of `bytes`.
    private static func isPSSH(_ bytes: [UInt8]) -> Bool {
        var r = ByteReader(bytes)
        guard let size = try? r.readUInt32(), let type = try? r.readBytes(4) else { return false }
        return Int(size) == bytes.count && type == Array("pssh".utf8)
    }

    static func kidText(_ kid: [UInt8]?) -> String { kid.map { Hex.string($0) } ?? "?" }
}
