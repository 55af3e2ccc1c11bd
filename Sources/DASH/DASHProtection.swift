import ByteIO
import XML

/// How an MPD signals encrypted representations (ISO/IEC 23009-1 §5.8.4.1, DASH-IF IOP): one
/// `ContentProtection` for the scheme (`urn:mpeg:dash:mp4protection:2011` with `cenc:default_KID`)
/// and one per DRM system, with its `pssh` box as `cenc:pssh` (PlayReady's also with `mspr:pro`)
/// and its license URL, in every audio and video adaptation set.
public struct DASHProtection: Sendable, Equatable {
    public struct System: Sendable, Equatable {
        /// The system's UUID, lowercase with dashes.
        public var uuid: String
        /// The `value` attribute (`ClearKey1.0`, `Widevine`).
        public var name: String
        /// The whole `pssh` box.
        public var pssh: [UInt8]
        /// PlayReady's header object (`mspr:pro`), for clients that read it rather than the `pssh`.
        public var playReadyObject: [UInt8]?
        /// Where clients ask for a license (`dashif:Laurl`, DASH-IF's element, which dash.js and
        /// Shaka Player read for every system).
        public var licenseURL: String?

        public init(uuid: String, name: String, pssh: [UInt8], playReadyObject: [UInt8]? = nil, licenseURL: String? = nil) {
            self.uuid = uuid
            self.name = name
            self.pssh = pssh
            self.playReadyObject = playReadyObject
            self.licenseURL = licenseURL
        }
    }

    /// The scheme (`cenc`).
    public var scheme: String
    /// The default key ID, 16 bytes.
    public var kid: [UInt8]
    public var systems: [System]

    public init(scheme: String = "cenc", kid: [UInt8], systems: [System]) {
        self.scheme = scheme
        self.kid = kid
        self.systems = systems
    }

    /// 16 bytes as a UUID: `01234567-89ab-cdef-0123-456789abcdef`.
    public static func uuid(_ bytes: [UInt8]) -> String {
        var text = Hex.string(bytes)
        for at in [20, 16, 12, 8] where at < text.utf8.count {
            text.insert("-", at: text.utf8.index(text.utf8.startIndex, offsetBy: at))
        }
        return text
    }

    /// The namespaces the `MPD` element declares for these elements.
    var namespaces: [(String, String)] {
        var out = [("xmlns:cenc", "urn:mpeg:cenc:2013")]
        if systems.contains(where: { $0.playReadyObject != nil }) { out.append(("xmlns:mspr", "urn:microsoft:playready")) }
        if systems.contains(where: { $0.licenseURL != nil }) { out.append(("xmlns:dashif", "https://dashif.org/CPS")) }
        return out
    }

    /// The namespaces an `MPD` with all of `protections` declares, each once, in a fixed order.
    static func namespaces(of protections: [DASHProtection]) -> [(String, String)] {
        let used = protections.flatMap(\.namespaces)
        var out: [(String, String)] = []
        for name in ["xmlns:cenc", "xmlns:mspr", "xmlns:dashif"] {
            if let pair = used.first(where: { $0.0 == name }) { out.append(pair) }
        }
        return out
    }

    func write(_ w: inout XMLWriter) {
        w.empty("ContentProtection", attributes: [("schemeIdUri", "urn:mpeg:dash:mp4protection:2011"),
                                                  ("value", scheme), ("cenc:default_KID", Self.uuid(kid))])
        for system in systems {
            w.open("ContentProtection", attributes: [("schemeIdUri", "urn:uuid:" + system.uuid), ("value", system.name)])
            w.element("cenc:pssh", text: Base64.encode(system.pssh))
            if let pro = system.playReadyObject { w.element("mspr:pro", text: Base64.encode(pro)) }
            if let url = system.licenseURL { w.element("dashif:Laurl", text: url) }
            w.close()
        }
    }
}
