import ByteIO
import HLS
import DASH
import MediaModel
import PlayerURL

/// Format options for one request: the query string overrides the server manifest, which
/// overrides the defaults (HLS 4 s segments in TS; DASH, Smooth and HDS one GOP per segment,
/// `$Time$`; 2 s for audio-only DASH, Smooth and HDS, as the reference origin does).
struct PlayoutOptions {
    var hlsContainer: HLSLayout.Container
    /// `hls.client_manifest_version` (1, 3, 4, 5, 7; default 4) and `hls.no_audio_only` (default
    /// true: audio-only variants only with `hls.no_audio_only=false`).
    var hls: HLSOptions
    var hlsCut: CutKey
    var dashCut: CutKey
    var dashAddressing: MPDWriter.Addressing
    /// Smooth Streaming: `iss.minimum_fragment_length` (`iss_minimum_fragment_length` as a meta).
    var smoothCut: CutKey
    /// HDS: `hds.minimum_fragment_length` (`hds_minimum_fragment_length` as a meta).
    var hdsCut: CutKey

    init(query: QueryOptions, presentation: Presentation) throws(EngineError) {
        func setting(_ group: String, _ name: String) -> String? {
            query.value("\(group).\(name)") ?? presentation.option(group: group, name)
        }
        func length(_ group: String) throws(EngineError) -> FragmentLength? {
            guard let text = setting(group, "minimum_fragment_length") else { return nil }
            guard let value = FragmentLength(parsing: text), value.numerator > 0 else {
                throw EngineError.badRequest("\(group).minimum_fragment_length must be seconds or a fraction, got \(Sanitized.text(text))")
            }
            return value
        }
        func flag(_ group: String, _ name: String) throws(EngineError) -> Bool {
            guard let text = setting(group, name) else { return false }
            switch text.lowercased() {
            case "", "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw EngineError.badRequest("\(group).\(name) must be true or false, got \(Sanitized.text(text))")
            }
        }
        hlsContainer = try flag("hls", "fmp4") ? .fragmentedMP4 : .transportStream
        hls = HLSOptions(clientVersion: try Self.clientManifestVersion(setting("hls", "client_manifest_version")),
                         audioOnlyVariants: setting("hls", "no_audio_only") == nil ? false : !(try flag("hls", "no_audio_only")))
        hlsCut = CutKey(minimumLength: try length("hls") ?? .seconds(4), fallbackLength: .seconds(4))
        dashCut = CutKey(minimumLength: try length("mpd"), fallbackLength: .seconds(2))
        smoothCut = CutKey(minimumLength: try length("iss"), fallbackLength: .seconds(2))
        hdsCut = CutKey(minimumLength: try length("hds"), fallbackLength: .seconds(2))
        switch setting("mpd", "segment_template")?.lowercased() {
        case nil, "time": dashAddressing = .time
        case "number": dashAddressing = .number
        case let other?:
            throw EngineError.badRequest("mpd.segment_template must be time or number, got \(Sanitized.text(other))")
        }
    }

    /// One of ``HLSOptions/supportedVersions``; anything else is a bad request.
    static func clientManifestVersion(_ text: String?) throws(EngineError) -> Int {
        guard let text else { return HLSOptions.defaultVersion }
        guard text.utf8.count <= 2, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text),
              String(value) == text, HLSOptions.supportedVersions.contains(value) else {
            let allowed = HLSOptions.supportedVersions.map(String.init).joined(separator: ", ")
            throw .badRequest("hls.client_manifest_version must be one of \(allowed), got \(Sanitized.text(text))")
        }
        return value
    }

    /// The query options these settings read (`hls.*`, `mpd.*`, `iss.*`, `hds.*`), in order: with
    /// the selection, all that decides a manifest's content apart from the query its URLs carry.
    static func formatOptions(_ query: QueryOptions) -> String {
        var out = ""
        for (key, value) in query.pairs where Self.groups.contains(where: { key.hasPrefix($0) }) {
            if !out.isEmpty { out += "&" }
            out += escaped(key) + "=" + escaped(value)
        }
        return out
    }

    /// `%`, `&` and `=` escaped, so that different option lists never spell the same key.
    private static func escaped(_ s: String) -> String {
        guard s.contains(where: { $0 == "%" || $0 == "&" || $0 == "=" }) else { return s }
        var out = ""
        for c in s {
            switch c {
            case "%": out += "%25"
            case "&": out += "%26"
            case "=": out += "%3D"
            default: out.append(c)
            }
        }
        return out
    }

    private static let groups = ["hls.", "mpd.", "iss.", "hds."]
}
