import Encryption
import HLS
import MediaModel
import PlayerURL

/// What the server manifest says about encryption, with Unified Origin's option names (as
/// `<meta name="hls.key">` or in `<paramGroup id="hls">`): `hls.key` (`[KID]:CEK`), `hls.key_iv`,
/// `hls.license_server_url`, `hls.playout`; the keys of the other systems (`iss.key`,
/// `widevine.key`, `playready.key`); and `<format>.playout` per output format.
///
/// Only the server manifest sets these (or a CMS that serves it): a query never does, so a viewer
/// cannot turn protection off. The DRM rule: once any key is configured, an output format that is
/// not protected is not served (403) unless its `playout` is `clear`; a format whose protection
/// Origo cannot produce yet is refused (501), never served in the clear. Keys appear in no message.
struct Protection: Sendable {
    enum Playout: Sendable, Equatable {
        /// Protected when a key applies; refused when another format is protected and none does.
        case `default`
        /// Served in the clear, whatever keys are configured.
        case clear
        /// Not served at all.
        case disabled
    }

    /// HLS `METHOD=AES-128` of TS segments: the key, and how playlists name it.
    struct HLSAES128: Sendable {
        let key: ContentKey
        let playlistKey: HLSSegmentKey
    }

    /// The HLS AES-128 setting, when `hls.key` is set and HLS is not played out in the clear.
    private(set) var hlsAES128: HLSAES128?
    /// `hls.playout=sample_aes…`: SAMPLE-AES, which Origo does not produce yet.
    private var hlsSampleAES = false
    /// Formats whose key is configured, with what their protection would be.
    private var keyed: [OutputFormat: String] = [:]
    private var playout: [OutputFormat: Playout] = [:]

    /// Whether any format is protected: then the DRM rule applies.
    var isConfigured: Bool { !keyed.isEmpty }

    /// Nothing protected.
    static let none = Protection()

    private init() {}

    init(presentation: Presentation) throws(EngineError) {
        func option(_ name: String) -> String? {
            let dot = name.firstIndex(of: ".") ?? name.endIndex
            return presentation.option(group: String(name[..<dot]), String(name[dot...].dropFirst()))
        }
        func key(_ name: String, kidRequired: Bool) throws(EngineError) -> ContentKey? {
            guard let text = option(name) else { return nil }
            do {
                return try ContentKey(parsing: text, kidRequired: kidRequired)
            } catch {
                throw EngineError(httpStatus: 400, logReason: "server manifest option \(name): \(error.reason)")
            }
        }
        for (format, group) in Self.groups {
            playout[format] = try Self.playout(option("\(group).playout"), group: group)
        }
        let hlsPlayout = option("hls.playout")?.lowercased()
        if let hlsKey = try key("hls.key", kidRequired: false) {
            keyed[.hls] = "HLS AES-128"
            if hlsPlayout?.hasPrefix("sample_aes") == true {
                hlsSampleAES = true
            } else if playout[.hls] == .default {
                guard let uri = option("hls.license_server_url"), !uri.isEmpty else {
                    throw EngineError(httpStatus: 400, logReason: "server manifest option hls.key needs hls.license_server_url (the key's URI for players)")
                }
                var iv: [UInt8]? = nil
                if let text = option("hls.key_iv") {
                    guard let bytes = Hex.bytes(text), bytes.count == 16 else {
                        throw EngineError(httpStatus: 400, logReason: "server manifest option hls.key_iv must be 16 bytes (32 hexadecimal digits)")
                    }
                    iv = bytes
                }
                hlsAES128 = HLSAES128(key: hlsKey, playlistKey: HLSSegmentKey(method: .aes128, uri: uri, iv: iv))
            }
        }
        if try key("iss.key", kidRequired: true) != nil { keyed[.smooth] = "Smooth PIFF encryption" }
        if try key("playready.key", kidRequired: true) != nil {
            keyed[.smooth] = "Smooth PlayReady encryption"
            keyed[.dash] = "DASH CENC"
        }
        if try key("widevine.key", kidRequired: true) != nil { keyed[.dash] = "DASH CENC" }
    }

    /// The option group of each format.
    private static let groups: [OutputFormat: String] = [.hls: "hls", .dash: "mpd", .smooth: "iss", .hds: "hds"]

    private static func playout(_ text: String?, group: String) throws(EngineError) -> Playout {
        switch text?.lowercased() {
        case nil, "", "true", "1", "on", "yes": return .default
        case "clear": return .clear
        case "false", "0", "off", "no": return .disabled
        case let value?:
            // HLS names its scheme here; other formats their DRM system.
            if group == "hls", value == "sample_aes" || value == "sample_aes_streamingkeydelivery" { return .default }
            if group != "hls", ["playready", "widevine", "cenc", "cbcs"].contains(value) { return .default }
            throw EngineError(httpStatus: 400, logReason: "server manifest option \(group).playout must be clear, true or false, got \(Sanitized.text(value, limit: 40))")
        }
    }

    /// Throws unless `route` may be answered (the DRM rule and `playout`); `hlsContainer` is what
    /// HLS playlists list.
    func check(_ route: PlayerRequest, hlsContainer: HLSLayout.Container) throws(EngineError) {
        let format = route.format
        let group = Self.groups[format] ?? "\(format)"
        let fragmentedMP4: Bool = switch route {
        case .hlsInit, .hlsFMP4Segment, .hlsIFrameFMP4Segment: true
        case .hlsMaster, .hlsMediaPlaylist, .hlsIFramePlaylist: hlsContainer == .fragmentedMP4
        default: false
        }
        switch playout[format] ?? .default {
        case .clear: return
        case .disabled:
            throw EngineError(httpStatus: 403, logReason: "\(group).playout disables this format in the server manifest")
        case .default:
            guard isConfigured else { return }
            guard let scheme = keyed[format] else {
                throw EngineError(httpStatus: 403, logReason: "\(group) output is not protected while other formats are (DRM rule); \(group).playout=clear in the server manifest serves it in the clear")
            }
            if format == .hls, hlsAES128 != nil, !hlsSampleAES, !fragmentedMP4 { return }
            let what = format == .hls && fragmentedMP4 ? "HLS encryption of fMP4 (cbcs)"
                : format == .hls ? "HLS SAMPLE-AES" : scheme
            throw EngineError.notImplemented("\(what) is not supported yet: refused rather than served in the clear")
        }
    }

    /// The ETag part that changes with the keys in use.
    var fingerprint: String {
        hlsAES128.map { $0.key.fingerprint + ($0.playlistKey.iv.map(Hex.string) ?? "") + $0.playlistKey.uri } ?? ""
    }
}

extension AnswerContext {
    /// `response` (an HLS segment) encrypted as HLS `METHOD=AES-128` says, when the server manifest
    /// asks for it: the whole body in CBC mode with PKCS#7 padding, the IV `hls.key_iv` or the
    /// segment's media sequence number (`number`). Otherwise `response` as it is.
    func encrypted(_ response: consuming EngineResponse, number: Int) throws -> EngineResponse {
        guard let aes = protection.hlsAES128 else { return response }
        var clear: [[UInt8]] = []
        for piece in response.body {
            guard case .bytes(let bytes) = piece else {
                throw EngineError.serverManifest("an HLS segment to encrypt refers to file bytes")
            }
            clear.append(bytes)
        }
        response.body = []
        var out = buffers.take(minimumCapacity: clear.reduce(16) { $0 + $1.count })
        do {
            try AES128.cbcWithPadding(clear, key: aes.key,
                                      iv: aes.playlistKey.iv ?? AES128.sequenceIV(number), into: &out)
        } catch {
            throw EngineError(httpStatus: 500, logReason: "encrypting an HLS segment failed: \(error)")
        }
        if response.bodyIsPooled {
            while let bytes = clear.popLast() { buffers.give(bytes) }
        }
        response.body = [.bytes(out)]
        response.bodyIsPooled = true
        return response
    }
}
