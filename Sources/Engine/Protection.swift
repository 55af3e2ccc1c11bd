import ByteIO
import DASH
import Encryption
import HLS
import ISOBMFF
import MediaModel
import PlayerURL
import Smooth

/// What the server manifest says about encryption, with Unified Origin's option names (as
/// `<meta name="hls.key">` or in `<paramGroup id="hls">`): `hls.key` (`[KID]:CEK`), `hls.key_iv`,
/// `hls.license_server_url`, `hls.playout`; the keys of the other systems (`iss.key`,
/// `widevine.key`, `playready.key`, `cenc.key`) and license URLs; and `<format>.playout` per output
/// format.
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

    /// An HLS key of TS segments (`METHOD=AES-128`, or `SAMPLE-AES` with `hls.playout=sample_aes…`):
    /// the key, and how playlists name it.
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

    /// Smooth's PIFF encryption (`cenc` with 8-byte IVs): the key and the manifest's header.
    struct SmoothPIFF: Sendable {
        let key: ContentKey
        let header: SmoothProtectionHeader
    }

    /// The HLS AES-128 settings of audio and video tracks, by token, when HLS is protected and
    /// not played out in the clear.
    private var hls: [String: HLSAES128] = [:]
    /// The DASH CENC settings of audio and video tracks, by token, when DASH is protected and not clear.
    private var dash: [String: DASHCENC] = [:]
    /// The track whose key text tracks and muxed segments use: the first video track, else the first audio.
    private var leadToken: String?
    /// The Smooth setting, when `iss.key` or `playready.key` is set and Smooth is not clear.
    private(set) var smoothPIFF: SmoothPIFF?
    /// HLS fMP4 with `cbcs` of audio and video tracks, by token, when HLS is protected and not clear.
    private var hlsCBCS: [String: HLSCBCS] = [:]
    /// Why HLS fMP4 cannot be encrypted with the keys given (HLS TS may still be).
    private var hlsCBCSError: EngineError?
    /// Why HLS is not protected while other formats are, for the DRM rule's log line.
    private var hlsRefusal: String?
    /// Formats whose key is configured, with what their protection would be.
    private var keyed: [OutputFormat: String] = [:]
    private var playout: [OutputFormat: Playout] = [:]

    /// Whether any format is protected: then the DRM rule applies.
    var isConfigured: Bool { !keyed.isEmpty }
    /// Tracks encrypted in their source, passed through (DASH and HLS fMP4), with their MPD
    /// signalling and their HLS keys (empty: HLS cannot name them).
    private var passThrough: [String: DASHProtection] = [:]
    private var passThroughHLS: [String: [HLSSegmentKey]] = [:]
    /// Their PlayReady header for Smooth (nil: Smooth cannot carry them).
    private var passThroughSmooth: [String: SmoothProtectionHeader?] = [:]
    /// Why an encrypted source track cannot be passed through: then nothing is made of the presentation.
    private var preEncryptedProblem: String?

    /// Nothing protected.
    static let none = Protection()

    private init() {}

    /// The settings of `presentation`'s server manifest; `keyDocument` is the CPIX document its
    /// `cpix` option names, already read.
    init(presentation: Presentation, keyDocument: CPIX? = nil) throws(EngineError) {
        preEncryptedProblem = presentation.tracks.lazy.compactMap(PreEncrypted.problem).first
        // Keys of the server manifest encrypt clear tracks only: an encrypted one is never encrypted again.
        let media = presentation.tracks.filter { $0.kind != .text && $0.track.protection == nil }
        leadToken = (media.first { $0.kind == .video } ?? media.first)?.token
        func option(_ name: String) -> String? {
            let dot = name.firstIndex(of: ".") ?? name.endIndex
            return presentation.option(group: String(name[..<dot]), String(name[dot...].dropFirst()))
        }
        for track in presentation.tracks {
            guard let source = track.track.protection else { continue }
            passThrough[track.token] = PreEncrypted.mpd(source)
            passThroughHLS[track.token] = PreEncrypted.hlsKeys(source, identityURI: option("hls.license_server_url"))
            passThroughSmooth[track.token] = PreEncrypted.smoothHeader(source)
        }
        func key(_ name: String, kidRequired: Bool) throws(EngineError) -> ContentKey? {
            guard let text = option(name) else { return nil }
            do {
                return try ContentKey(parsing: text, kidRequired: kidRequired)
            } catch {
                throw EngineError(httpStatus: 400, logReason: "server manifest option \(name): \(error.reason)")
            }
        }
        /// The one key that the options present name; 400 when two name different keys.
        func sameKey(_ keys: KeyValuePairs<String, ContentKey?>) throws(EngineError) -> ContentKey? {
            let present = keys.compactMap { name, key in key.map { (name, $0) } }
            if let (first, key) = present.first, let (other, _) = present.first(where: { $0.1 != key }) {
                throw EngineError(httpStatus: 400, logReason: "server manifest options \(first) and \(other) name different keys (one key per presentation)")
            }
            return present.first?.1
        }
        /// PlayReady's header for `key`, naming the license server of option `urlOption` (an
        /// absolute URL) when it is set.
        func playReadyHeader(_ key: ContentKey, urlOption: String) throws(EngineError) -> PlayReadyHeader {
            let url = option(urlOption)
            if let url, !url.contains("://") {
                throw EngineError(httpStatus: 400, logReason: "server manifest option \(urlOption) must be an absolute URL")
            }
            do {
                return try PlayReadyHeader(key: key, licenseURL: url)
            } catch {
                throw EngineError(httpStatus: 400, logReason: "server manifest option \(urlOption): \(error)")
            }
        }
        for (format, group) in Self.groups {
            playout[format] = try Self.playout(option("\(group).playout"), group: group)
        }
        let hlsPlayout = option("hls.playout")?.lowercased()
        let hlsKey = try key("hls.key", kidRequired: false)
        let issKey = try key("iss.key", kidRequired: true)
        let playReady = try key("playready.key", kidRequired: true)
        let widevine = try key("widevine.key", kidRequired: true)
        let cenc = try key("cenc.key", kidRequired: true)
        let dashScheme = try Self.dashScheme(option("mpd.encryption_scheme"))
        if let keyDocument {
            let named = [("hls.key", hlsKey), ("iss.key", issKey), ("playready.key", playReady), ("widevine.key", widevine),
                         ("cenc.key", cenc)].filter { $0.1 != nil }.map(\.0)
            guard named.isEmpty else {
                throw EngineError(httpStatus: 400, logReason: "server manifest options cpix and \(named.joined(separator: ", ")) both give keys: use one")
            }
            try configure(media, keys: keyDocument, hlsPlayout: hlsPlayout, dashScheme: dashScheme, option: option)
            fingerprint = settingsFingerprint()
            return
        }
        if let hlsKey {
            keyed[.hls] = "HLS AES-128"
            if playout[.hls] == .default {
                guard let uri = option("hls.license_server_url"), !uri.isEmpty else {
                    throw EngineError(httpStatus: 400, logReason: "server manifest option hls.key needs hls.license_server_url (the key's URI for players)")
                }
                let iv = try Self.hlsIV(option)
                let setting = HLSAES128(key: hlsKey, playlistKey: try Self.hlsPlaylistKey(playout: hlsPlayout, uri: uri, iv: iv))
                for track in media { hls[track.token] = setting }
                let widevineSystem = try widevine.map { key throws(EngineError) in
                    try Self.widevineSystem(kid: key.kid ?? [], drmSpecificData: option("widevine.drm_specific_data"))
                }
                do {
                    let cbcs = try HLSCBCS(key: hlsKey, uri: uri, iv: iv, playout: hlsPlayout, widevine: widevine,
                                           widevineSystem: widevineSystem)
                    for track in media { hlsCBCS[track.token] = cbcs }
                } catch {
                    hlsCBCSError = error
                }
            }
        }
        if let smoothKey = try sameKey(["iss.key": issKey, "playready.key": playReady]) {
            keyed[.smooth] = "Smooth PIFF encryption"
            if playout[.smooth] == .default {
                let url = option("iss.license_server_url") != nil ? "iss.license_server_url" : "playready.license_server_url"
                let header = try playReadyHeader(smoothKey, urlOption: url)
                smoothPIFF = SmoothPIFF(key: smoothKey, header: Self.smoothHeader(playReadyObject: header.object))
            }
        }
        if let dashKey = try sameKey(["cenc.key": cenc, "widevine.key": widevine, "playready.key": playReady]) {
            keyed[.dash] = "DASH CENC"
            if playout[.dash] == .default, let kid = dashKey.kid {
                let systems = try widevine.map { _ throws(EngineError) in
                    [try Self.widevineSystem(kid: kid, drmSpecificData: option("widevine.drm_specific_data"))]
                } ?? []
                if playReady != nil, dashScheme == "cbcs" {
                    // The header Origo writes (WRMHEADER 4.0) says AES-CTR.
                    throw EngineError(httpStatus: 400, logReason: "server manifest options playready.key and mpd.encryption_scheme=cbcs: PlayReady's header here describes cenc only")
                }
                let playReadyHeader = try playReady.map { key throws(EngineError) in
                    try playReadyHeader(key, urlOption: "playready.license_server_url")
                }
                let widevineURL = option("widevine.license_server_url")
                if let widevineURL, !widevineURL.contains("://") || widevineURL.utf8.count > 2048 {
                    throw EngineError(httpStatus: 400, logReason: "server manifest option widevine.license_server_url must be an absolute URL")
                }
                let setting = Self.dashCENC(key: dashKey, kid: kid, systems: systems, playReady: playReadyHeader,
                                            widevineURL: widevine == nil ? nil : widevineURL, scheme: dashScheme)
                for track in media { dash[track.token] = setting }
            }
        }
        fingerprint = settingsFingerprint()
    }

    /// Keys from a CPIX document: each audio and video track gets the key its usage rules give it
    /// (a track without one is a configuration error). DASH is protected with `cenc`, told about
    /// every system the document gives a `pssh` for; HLS with AES-128 when a key URI is known
    /// (the document's `URIExtXKey` for the key, else `hls.license_server_url`).
    private mutating func configure(_ media: [PresentationTrack], keys document: CPIX, hlsPlayout: String?,
                                    dashScheme: String, option: (String) -> String?) throws(EngineError) {
        func invalid(_ reason: String) -> EngineError {
            EngineError(httpStatus: 400, logReason: "server manifest option cpix: \(reason)")
        }
        var keys: [String: ContentKey] = [:]
        for track in media {
            let traits = CPIX.Track(kind: track.kind == .video ? .video : .audio,
                                    pixels: track.track.width &* track.track.height,
                                    framesPerSecond: track.track.frameRate.map { Double($0.numerator) / Double(max($0.denominator, 1)) } ?? 0,
                                    channels: track.track.channels, bitrate: track.bitrate)
            let found: ContentKey?
            do { found = try document.key(for: traits) } catch { throw invalid(error.reason) }
            guard let key = found else { throw invalid("no ContentKeyUsageRule gives track \(track.token) a key") }
            keys[track.token] = key
        }
        keyed[.dash] = "DASH CENC"
        keyed[.hls] = "HLS AES-128"
        let iv = try Self.hlsIV(option)
        var settings: [[UInt8]: DASHCENC] = [:]
        var hlsUnreachable = false
        for (token, key) in keys {
            guard let kid = key.kid else { continue }
            if playout[.dash] == .default {
                var systems: [ProtectionSystem] = []
                for entry in document.systems where entry.kid == kid {
                    guard let box = entry.pssh else { continue }
                    let system: ProtectionSystem
                    do { system = try ProtectionSystem(parsing: box) } catch { throw invalid("PSSH of \(Hex.string(entry.systemID)): \(error.logReason)") }
                    guard system.systemID == entry.systemID else { throw invalid("the PSSH of \(Hex.string(entry.systemID)) names another system") }
                    systems.append(system)
                }
                let setting = settings[kid] ?? Self.dashCENC(key: key, kid: kid, systems: systems, scheme: dashScheme)
                settings[kid] = setting
                dash[token] = setting
            }
            if playout[.hls] == .default {
                let uri = document.systems.first { $0.kid == kid && $0.systemID == Self.aes128SystemID && $0.hlsKeyURI != nil }?.hlsKeyURI
                    ?? document.systems.first { $0.kid == kid && $0.hlsKeyURI != nil }?.hlsKeyURI
                    ?? option("hls.license_server_url").flatMap { $0.isEmpty ? nil : $0 }
                guard let uri else {
                    // HLS players would not find this key: HLS stays unprotected, and so refused.
                    hlsUnreachable = true
                    continue
                }
                hls[token] = HLSAES128(key: key, playlistKey: try Self.hlsPlaylistKey(playout: hlsPlayout, uri: uri, iv: iv))
                hlsCBCS[token] = try HLSCBCS(key: key, uri: uri, iv: iv, playout: hlsPlayout, widevine: nil, widevineSystem: nil)
            }
        }
        if hlsUnreachable {
            hls = [:]
            hlsCBCS = [:]
            keyed[.hls] = nil
            hlsRefusal = "the CPIX document gives no URIExtXKey for some key and there is no hls.license_server_url"
        }
    }

    /// DASH-IF's system ID for HLS AES-128 keys in CPIX documents (`3ea8778f-7742-4bf9-b18b-e834b2acbd47`).
    static let aes128SystemID: [UInt8] = [0x3E, 0xA8, 0x77, 0x8F, 0x77, 0x42, 0x4B, 0xF9,
                                          0xB1, 0x8B, 0xE8, 0x34, 0xB2, 0xAC, 0xBD, 0x47]

    /// `hls.key_iv`: 16 bytes, or nil (each segment's IV is its sequence number).
    private static func hlsIV(_ option: (String) -> String?) throws(EngineError) -> [UInt8]? {
        guard let text = option("hls.key_iv") else { return nil }
        guard let bytes = Hex.bytes(text), bytes.count == 16 else {
            throw EngineError(httpStatus: 400, logReason: "server manifest option hls.key_iv must be 16 bytes (32 hexadecimal digits)")
        }
        return bytes
    }

    /// The HLS AES-128 setting of a playlist or segment of `tracks`: a muxed segment has one key,
    /// its video track's; text follows the presentation's first video (else audio) track.
    func hlsAES128(for tracks: [PresentationTrack]) -> HLSAES128? { setting(hls, for: tracks) }

    /// The setting in `settings` (by token) of a playlist or segment of `tracks`: its video
    /// track's, else its audio track's, else (text, the master) the presentation's lead track's.
    private func setting<T>(_ settings: [String: T], for tracks: [PresentationTrack]) -> T? {
        guard !settings.isEmpty else { return nil }
        let lead = tracks.first { $0.kind == .video } ?? tracks.first { $0.kind == .audio }
        return (lead?.token ?? leadToken).flatMap { settings[$0] }
    }

    /// The setting of the presentation's lead track (what a master playlist announces).
    var hlsAES128: HLSAES128? { leadToken.flatMap { hls[$0] } }

    /// The `cbcs` setting of HLS fMP4 playlists and segments of `tracks` (as ``hlsAES128(for:)`` picks).
    func hlsCBCS(for tracks: [PresentationTrack]) -> HLSCBCS? { setting(hlsCBCS, for: tracks) }

    /// The `EXT-X-KEY` lines of HLS playlists of `tracks` in `container`: AES-128 or SAMPLE-AES
    /// for TS, `cbcs` for fMP4.
    func hlsPlaylistKeys(_ container: HLSLayout.Container, tracks: [PresentationTrack]) -> [HLSSegmentKey] {
        switch container {
        case .transportStream:
            return hlsAES128(for: tracks).map { [$0.playlistKey] } ?? []
        case .fragmentedMP4:
            let source = tracks.first { passThroughHLS[$0.token] != nil }?.token
                ?? (tracks.isEmpty ? passThroughHLS.keys.min() : nil)
            return source.flatMap { passThroughHLS[$0] } ?? hlsCBCS(for: tracks)?.playlistKeys ?? []
        }
    }

    /// The client manifest's `ProtectionHeader` of a PlayReady object.
    static func smoothHeader(playReadyObject: [UInt8]) -> SmoothProtectionHeader {
        SmoothProtectionHeader(systemID: DASHProtection.uuid(PlayReadyHeader.systemID).uppercased(), data: Base64.encode(playReadyObject))
    }

    /// The Smooth client manifest's `ProtectionHeader`: the origin's PlayReady header, or the one of
    /// sources that arrive encrypted.
    var smoothHeader: SmoothProtectionHeader? {
        smoothPIFF?.header ?? passThroughSmooth.values.lazy.compactMap { $0 }.first
    }

    /// The DASH CENC setting of `token` (audio and video; text stays clear).
    func dashCENC(for token: String) -> DASHCENC? { dash[token] }

    /// The MPD's `ContentProtection` of each encrypted track (by the origin or its source), by token.
    var dashMPD: [String: DASHProtection] { dash.mapValues(\.mpd).merging(passThrough) { own, _ in own } }

    /// ClearKey always (the W3C common `pssh` with the key ID, which EME's `org.w3.clearkey` reads;
    /// signalled in the MPD under DASH-IF's ClearKey UUID), then each of `systems`, then PlayReady's
    /// header made from the key when `playReady` is given.
    /// `scheme`: `cenc`, or `cbcs` (`mpd.encryption_scheme`).
    /// `widevineURL`: Widevine's license server (`widevine.license_server_url`), for the MPD.
    private static func dashCENC(key: ContentKey, kid: [UInt8], systems: [ProtectionSystem],
                                 playReady: PlayReadyHeader? = nil, widevineURL: String? = nil, scheme: String) -> DASHCENC {
        var all = Self.systems(kid: kid, widevine: nil) + systems
        if let playReady { all.append(ProtectionSystem(systemID: PlayReadyHeader.systemID, kids: [], data: playReady.object)) }
        let mpd = all.map { system in
            let url = system.systemID == PlayReadyHeader.systemID ? playReady?.licenseURL
                : system.systemID == ProtectionSystem.widevineID ? widevineURL : nil
            return mpdSystem(system, licenseURL: url)
        }
        let cbcs = scheme == "cbcs" ? CBCSEncryption(key: key, kid: kid, iv: CBCS.constantIV(for: key), systems: all) : nil
        return DASHCENC(key: key, track: TrackEncryption(kid: kid, systems: all),
                        mpd: DASHProtection(scheme: scheme, kid: kid, systems: mpd), cbcs: cbcs)
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

    /// How the MPD names `system`: the common `pssh` under ClearKey's UUID, PlayReady's with its
    /// header object (`mspr:pro`) and license URL.
    static func mpdSystem(_ system: ProtectionSystem, licenseURL: String? = nil) -> DASHProtection.System {
        let id = system.systemID == ProtectionSystem.commonID ? ProtectionSystem.clearKeyID : system.systemID
        let playReady = system.systemID == PlayReadyHeader.systemID
        return DASHProtection.System(uuid: DASHProtection.uuid(id), name: systemName(system.systemID), pssh: system.box,
                                     playReadyObject: playReady ? system.data : nil, licenseURL: licenseURL)
    }

    /// The `value` of a system's `ContentProtection`.
    static func systemName(_ systemID: [UInt8]) -> String {
        switch systemID {
        case ProtectionSystem.widevineID: "Widevine"
        case PlayReadyHeader.systemID: "MSPR 2.0"
        case ProtectionSystem.commonID, ProtectionSystem.clearKeyID: "ClearKey1.0"
        default: ""
        }
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
        if let preEncryptedProblem {
            throw EngineError.notImplemented("\(preEncryptedProblem): refused rather than served undecodable")
        }
        let format = route.format
        let group = Self.groups[format] ?? "\(format)"
        let fragmentedMP4: Bool = switch route {
        case .hlsInit, .hlsFMP4Segment, .hlsIFrameFMP4Segment: true
        case .hlsMaster, .hlsMediaPlaylist, .hlsIFramePlaylist, .hlsWebVTTSegment: hlsContainer == .fragmentedMP4
        default: false
        }
        if let (token, source) = passThrough.min(by: { $0.key < $1.key }) {
            if playout[format] == .disabled {
                throw EngineError(httpStatus: 403, logReason: "\(group).playout disables this format in the server manifest")
            }
            switch format {
            case .dash:
                break
            case .hls where fragmentedMP4:
                if let (silent, _) = passThroughHLS.first(where: { $0.value.isEmpty }) {
                    throw EngineError(httpStatus: 403, logReason: "track \(silent) is encrypted in its source for no DRM system HLS can name (Widevine, PlayReady, or a key at hls.license_server_url)")
                }
            case .smooth:
                let headers = passThroughSmooth.values.map { $0?.data }
                guard let first = headers.first, let header = first, headers.allSatisfy({ $0 == header }) else {
                    throw EngineError(httpStatus: 403, logReason: "track \(token) is encrypted in its source without one PlayReady header for all tracks (cenc): Smooth cannot pass it through")
                }
            default:
                throw EngineError(httpStatus: 403, logReason: "track \(token) is encrypted in its source (\(source.scheme)): only DASH, HLS with fMP4 segments (hls.fmp4) and Smooth (PlayReady, cenc) pass it through")
            }
        }
        switch playout[format] ?? .default {
        case .clear: return
        case .disabled:
            throw EngineError(httpStatus: 403, logReason: "\(group).playout disables this format in the server manifest")
        case .default:
            guard isConfigured else { return }
            guard let scheme = keyed[format] else {
                let why = format == .hls ? hlsRefusal.map { " (\($0))" } ?? "" : ""
                throw EngineError(httpStatus: 403, logReason: "\(group) output is not protected while other formats are (DRM rule)\(why); \(group).playout=clear in the server manifest serves it in the clear")
            }
            if format == .hls, !hls.isEmpty, !fragmentedMP4 { return }
            if format == .hls, fragmentedMP4, let hlsCBCSError { throw hlsCBCSError }
            if format == .hls, fragmentedMP4, !hlsCBCS.isEmpty { return }
            if format == .dash, !dash.isEmpty { return }
            if format == .smooth, smoothPIFF != nil { return }
            let what = format == .hls && fragmentedMP4 ? "HLS encryption of fMP4 (cbcs)" : scheme
            throw EngineError.notImplemented("\(what) is not supported yet: refused rather than served in the clear")
        }
    }

    /// The ETag part that changes with the keys in use, made once with the settings (every segment
    /// of a protected presentation adds it to its ETag).
    private(set) var fingerprint = ""

    private func settingsFingerprint() -> String {
        var out = ""
        for (token, setting) in hls.sorted(by: { $0.key < $1.key }) {
            out += token + ":" + setting.key.fingerprint + Hex.string(setting.playlistKey.iv ?? []) + setting.playlistKey.uri
                + (setting.playlistKey.method == .sampleAES ? ":sample-aes|" : "|")
        }
        for (token, setting) in dash.sorted(by: { $0.key < $1.key }) {
            out += token + ":" + setting.key.fingerprint + Hex.string(setting.track.systems.flatMap(\.box)) + setting.mpd.scheme + "|"
        }
        for (token, setting) in hlsCBCS.sorted(by: { $0.key < $1.key }) {
            out += token + ":" + setting.fingerprint + "|"
        }
        if let smooth = smoothPIFF {
            out += "|" + smooth.key.fingerprint + smooth.header.data
        }
        return out
    }
}

extension AnswerContext {
    /// `response` (an HLS segment) encrypted as HLS `METHOD=AES-128` says, when the server manifest
    /// asks for it (SAMPLE-AES encrypts inside TS segments instead, and leaves WebVTT clear): the whole body in CBC mode with PKCS#7 padding, the IV `hls.key_iv` or the
    /// segment's media sequence number (`number`). Otherwise `response` as it is.
    func encrypted(_ response: consuming EngineResponse, tracks: [PresentationTrack], number: Int) throws -> EngineResponse {
        guard let aes = protection.hlsAES128(for: tracks), aes.playlistKey.method == .aes128 else { return response }
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
        track.kind == .text ? nil : protection.dashCENC(for: track.token)
    }

    /// A DASH init segment: the encrypted form of the track's when CENC applies.
    func dashInitSegment(_ token: String) throws -> EngineResponse {
        let track = try track(token)
        if let source = track.track.protection { return passThroughInit(track, source) }
        guard let cenc = dashCENC(for: track) else { return try initSegment(token) }
        return try encryptedInitSegment(track, cenc.cbcs?.track(track.kind) ?? cenc.track)
    }

    /// A DASH media segment: samples encrypted with AES-CTR (`cenc`) when CENC applies, with their
    /// IVs and subsamples in `senc`; otherwise ``fragment(_:cut:index:number:)``.
    func dashFragment(_ track: PresentationTrack, cut: Cut, index: Int, number: Int) throws -> EngineResponse {
        let protection: SampleProtection = if let source = track.track.protection { .source(source) }
            else if let cenc = dashCENC(for: track), track.track.inlineData == nil {
                if let cbcs = cenc.cbcs { .cbcs(cbcs) } else { .cenc(cenc.key) }
            }
            else { .clear }
        return try fmp4Segment(track, samples: try Self.samples(track, cut: cut, index: index, number: number), number: number, protection)
    }

    /// A media segment of samples `range` of `track` encrypted with `key` as `cenc` says (AES-CTR,
    /// 8-byte IVs, video NAL units as subsamples), its IVs and subsamples written as `options`
    /// say (`senc`, or PIFF's box): the header and the encrypted sample bytes.
    func cencFragment(_ track: PresentationTrack, samples range: Range<Int>, sequenceNumber number: Int, key: ContentKey,
                      options: FragmentWriter.Options) throws -> [BodyPiece] {
        let salt = Self.ivSalt(track.track)
        return try encryptedFragment(track, samples: range, number: number, options: options, subsamples: CENC.subsamples) {
            data, sample, i, runs throws(EncryptionError) in
            // By the sample's place in its source, so a subclip never reuses a whole view's IVs.
            let iv = CENC.iv(salt: salt, index: track.track.sourceSampleBase &+ i)
            try CENC.encrypt(&data, sample: sample, subsamples: runs, key: key, iv: iv)
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
