import ByteIO
import DASH
import Encryption
import HLS
import ISOBMFF
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

    /// DASH `cenc`: the key, how init segments and the MPD declare it.
    struct DASHCENC: Sendable {
        let key: ContentKey
        let track: TrackEncryption
        let mpd: DASHProtection
        /// `mpd.encryption_scheme=cbcs`: segments are encrypted `cbcs` instead.
        var cbcs: CBCSEncryption? = nil
    }

    /// The HLS AES-128 setting, when `hls.key` is set and HLS is not played out in the clear.
    private(set) var hlsAES128: HLSAES128?
    /// The DASH CENC setting, when `cenc.key` or `widevine.key` is set and DASH is not clear.
    private(set) var dashCENC: DASHCENC?
    /// HLS fMP4 with `cbcs`, when `hls.key` is set and HLS is not clear (or why it cannot be made).
    private(set) var hlsCBCS: Result<HLSCBCS, EngineError>?
    /// `hls.playout=sample_aes…`: SAMPLE-AES, which Origo does not produce yet.
    private var hlsSampleAES = false
    /// Formats whose key is configured, with what their protection would be.
    private var keyed: [OutputFormat: String] = [:]
    private var playout: [OutputFormat: Playout] = [:]

    /// Whether any format is protected: then the DRM rule applies.
    var isConfigured: Bool { !keyed.isEmpty }
    /// A track of the presentation is already encrypted (`encv`/`enca` sample entries): until such
    /// tracks are passed through with their protection, nothing is made from them.
    private var preEncrypted: String?

    /// Nothing protected.
    static let none = Protection()

    private init() {}

    init(presentation: Presentation) throws(EngineError) {
        preEncrypted = presentation.tracks.first { ["encv", "enca", "enct", "encs"].contains($0.track.sampleEntryType) }?.token
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
        let hlsKey = try key("hls.key", kidRequired: false)
        var hlsKeyURI: (uri: String, iv: [UInt8]?)? = nil
        if let hlsKey {
            keyed[.hls] = "HLS AES-128"
            hlsSampleAES = hlsPlayout?.hasPrefix("sample_aes") == true
            if playout[.hls] == .default {
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
                hlsKeyURI = (uri, iv)
                if !hlsSampleAES {
                    hlsAES128 = HLSAES128(key: hlsKey, playlistKey: HLSSegmentKey(method: .aes128, uri: uri, iv: iv))
                }
            }
        }
        if try key("iss.key", kidRequired: true) != nil { keyed[.smooth] = "Smooth PIFF encryption" }
        let playReady = try key("playready.key", kidRequired: true)
        if playReady != nil { keyed[.smooth] = "Smooth PlayReady encryption" }
        let widevine = try key("widevine.key", kidRequired: true)
        let widevineSystem = try widevine.map { key throws(EngineError) in
            try Self.widevineSystem(kid: key.kid ?? [], drmSpecificData: option("widevine.drm_specific_data"))
        }
        let cenc = try key("cenc.key", kidRequired: true)
        let dashScheme = try Self.dashScheme(option("mpd.encryption_scheme"))
        if let dashKey = widevine ?? cenc {
            keyed[.dash] = "DASH CENC"
            if let cenc, cenc != dashKey {
                throw EngineError(httpStatus: 400, logReason: "server manifest options cenc.key and widevine.key name different keys (one key per presentation)")
            }
            if playReady != nil {
                keyed[.dash] = "DASH CENC with PlayReady"       // needs a PlayReady header: not yet
            } else if playout[.dash] == .default, let kid = dashKey.kid {
                dashCENC = Self.dashCENC(key: dashKey, kid: kid, widevine: widevineSystem, scheme: dashScheme)
            }
        } else if playReady != nil {
            keyed[.dash] = "DASH CENC with PlayReady"
        }
        if let hlsKey, let hlsKeyURI {
            hlsCBCS = Result { () throws(EngineError) in
                try HLSCBCS(key: hlsKey, uri: hlsKeyURI.uri, iv: hlsKeyURI.iv, playout: hlsPlayout,
                            widevine: widevine, widevineSystem: widevineSystem)
            }
        }
    }

    /// The systems of a key (ClearKey always: the W3C common `pssh` with the key ID, which EME's
    /// `org.w3.clearkey` reads; Widevine's when configured) for init segments and the MPD.
    static func systems(kid: [UInt8], widevine: ProtectionSystem?) -> [ProtectionSystem] {
        [ProtectionSystem(systemID: ProtectionSystem.commonID, kids: [kid])] + (widevine.map { [$0] } ?? [])
    }

    /// Widevine's `pssh`: `widevine.drm_specific_data` (base64), or a WidevinePsshData naming the key ID.
    private static func widevineSystem(kid: [UInt8], drmSpecificData text: String?) throws(EngineError) -> ProtectionSystem {
        var data = [0x12, 0x10] + kid                             // WidevinePsshData { key_id }
        if let text {
            guard let decoded = Base64.decode(text), !decoded.isEmpty else {
                throw EngineError(httpStatus: 400, logReason: "server manifest option widevine.drm_specific_data must be base64")
            }
            data = decoded
        }
        return ProtectionSystem(systemID: ProtectionSystem.widevineID, kids: [], data: data)
    }

    /// DASH's systems, signalled in the MPD (ClearKey under DASH-IF's ClearKey UUID), and the
    /// scheme's segments.
    private static func dashCENC(key: ContentKey, kid: [UInt8], widevine: ProtectionSystem?, scheme: String) -> DASHCENC {
        let systems = Self.systems(kid: kid, widevine: widevine)
        var mpd = [DASHProtection.System(uuid: DASHProtection.uuid(ProtectionSystem.clearKeyID), name: "ClearKey1.0",
                                         pssh: systems[0].box)]
        if let widevine {
            mpd.append(DASHProtection.System(uuid: DASHProtection.uuid(ProtectionSystem.widevineID), name: "Widevine",
                                             pssh: widevine.box))
        }
        let cbcs = scheme == "cbcs" ? CBCSEncryption(key: key, kid: kid, iv: CBCS.constantIV(for: key), systems: systems) : nil
        return DASHCENC(key: key, track: TrackEncryption(kid: kid, systems: systems),
                        mpd: DASHProtection(scheme: scheme, kid: kid, systems: mpd), cbcs: cbcs)
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
        if let preEncrypted {
            throw EngineError.notImplemented("track \(preEncrypted) is already encrypted (pre-encrypted CENC sources are not passed through yet): refused rather than served undecodable")
        }
        let format = route.format
        let group = Self.groups[format] ?? "\(format)"
        let fragmentedMP4: Bool = switch route {
        case .hlsInit, .hlsFMP4Segment, .hlsIFrameFMP4Segment: true
        case .hlsMaster, .hlsMediaPlaylist, .hlsIFramePlaylist, .hlsWebVTTSegment: hlsContainer == .fragmentedMP4
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
            if format == .hls, fragmentedMP4, let hlsCBCS { _ = try hlsCBCS.get(); return }
            if format == .dash, dashCENC != nil { return }
            let what = format == .hls ? "HLS SAMPLE-AES" : scheme
            throw EngineError.notImplemented("\(what) is not supported yet: refused rather than served in the clear")
        }
    }

    /// The ETag part that changes with the keys in use.
    var fingerprint: String {
        var out = ""
        if let hls = hlsAES128 {
            out += hls.key.fingerprint + Hex.string(hls.playlistKey.iv ?? []) + hls.playlistKey.uri
        }
        if let dash = dashCENC {
            out += "|" + dash.key.fingerprint + Hex.string(dash.track.systems.flatMap(\.box)) + dash.mpd.scheme
        }
        if case .success(let hls)? = hlsCBCS { out += "|" + hls.fingerprint }
        return out
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
                                      iv: aes.playlistKey.iv(segment: number), into: &out)
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

extension AnswerContext {
    /// The DASH CENC setting that applies to `track` (audio and video; text stays clear).
    func dashCENC(for track: PresentationTrack) -> Protection.DASHCENC? {
        track.kind == .text ? nil : protection.dashCENC
    }

    /// A DASH init segment: the encrypted form of the track's when CENC applies.
    func dashInitSegment(_ token: String) throws -> EngineResponse {
        let track = try track(token)
        guard let cenc = dashCENC(for: track) else { return try initSegment(token) }
        return try encryptedInitSegment(track, cenc.cbcs?.track(track.kind) ?? cenc.track)
    }

    /// A DASH media segment: samples encrypted with AES-CTR (`cenc`) when CENC applies, with their
    /// IVs and subsamples in `senc`, or `cbcs` when the server manifest asks; otherwise
    /// ``fragment(_:cut:index:number:)``.
    func dashFragment(_ track: PresentationTrack, cut: Cut, index: Int, number: Int) throws -> EngineResponse {
        guard let cenc = dashCENC(for: track), track.track.inlineData == nil else {
            return try fragment(track, cut: cut, index: index, number: number)
        }
        guard let range = cut.ranges[track.token]?[index], !range.isEmpty else {
            throw EngineError.notFound("segment \(number) of \(track.token) is empty")
        }
        if let cbcs = cenc.cbcs { return try cbcsFragment(track, samples: range, number: number, cbcs) }
        let salt = Self.ivSalt(track.track)
        return try encryptedFragment(track, samples: range, number: number, subsamples: CENC.subsamples) {
            data, sample, i, runs throws(EncryptionError) in
            let iv = CENC.iv(salt: salt, index: i)
            try CENC.encrypt(&data, sample: sample, subsamples: runs, key: cenc.key, iv: iv)
            return iv
        }
    }

    /// The bytes of samples `range` of `track`, in order (local reads or one coalesced upstream read).
    func sampleBytes(_ track: Track, _ range: Range<Int>) throws -> [UInt8] {
        var reads = try media.prefetch([(track, range)])
        var out: [UInt8] = []
        try FragmentWriter.forEachSampleRun(track: track, samples: range) { (offset, length) throws(any Error) in
            guard length <= UInt64(Int.max) else { throw EngineError(httpStatus: 500, logReason: "sample run too large") }
            out += try media.read(track.dataSource, at: offset, count: Int(length), reads: &reads)
        }
        return out
    }

    /// A per-track value for the IVs of its samples: from the source file and track ID, so tracks
    /// that share a key never share an IV, in any view of the presentation.
    static func ivSalt(_ track: Track) -> UInt32 {
        var hash = FNV1a()
        hash.add(track.dataSource)
        hash.add(Int64(track.trackID))
        return UInt32(truncatingIfNeeded: hash.value ^ (hash.value >> 32))
    }
}
