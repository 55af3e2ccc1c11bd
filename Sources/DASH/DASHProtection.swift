import ByteIO
import XML

/// How an MPD signals encrypted representations (ISO/IEC 23009-1 §5.8.4.1, DASH-IF IOP): one
/// `ContentProtection` for the scheme (`urn:mpeg:dash:mp4protection:2011` with `cenc:default_KID`)
/// and one per DRM system, with its `pssh` box as `cenc:pssh`, in every audio and video
/// adaptation set.
public struct DASHProtection: Sendable, Equatable {
    public struct System: Sendable, Equatable {
        /// The system's UUID, lowercase with dashes.
        public var uuid: String
        /// The `value` attribute (`ClearKey1.0`, `Widevine`).
        public var name: String
        /// The whole `pssh` box.
        public var pssh: [UInt8]

        public init(uuid: String, name: String, pssh: [UInt8]) {
            self.uuid = uuid
            self.name = name
            self.pssh = pssh
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

    func write(_ w: inout XMLWriter) {
        w.empty("ContentProtection", attributes: [("schemeIdUri", "urn:mpeg:dash:mp4protection:2011"),
                                                  ("value", scheme), ("cenc:default_KID", Self.uuid(kid))])
        for system in systems {
            w.open("ContentProtection", attributes: [("schemeIdUri", "urn:uuid:" + system.uuid), ("value", system.name)])
            w.open("cenc:pssh")
            w.text(Base64.encode(system.pssh))
            w.close()
            w.close()
        }
    }
}
