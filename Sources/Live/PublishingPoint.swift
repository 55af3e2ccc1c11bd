import ISOBMFF
import MediaModel
import ServerManifest
import XML
#if canImport(Glibc)
import Glibc
#endif

/// What an encoder's live server manifest box (the SMIL in `uuid` a5d40b30-…) says about a track
/// that the `moov` does not: its bitrate and name.
struct AnnouncedTrackNames {
    var bitrates: [UInt32: Int] = [:]
    var names: [UInt32: String] = [:]

    static let manifestBoxUUID: [UInt8] = [0xa5, 0xd4, 0x0b, 0x30, 0xe8, 0x14, 0x11, 0xdd, 0xba, 0x2f, 0x08, 0x00, 0x20, 0x0c, 0x9a, 0x66]

    /// Reads the SMIL leniently: a box we cannot read only costs the bitrates (0 in the manifest).
    init(smil: ArraySlice<UInt8>) {
        guard let root = try? XMLParser.parse(Array(smil), limits: XMLLimits(maxDepth: 16, maxElements: 10_000)) else { return }
        var pending = [root]
        while let element = pending.popLast() {
            pending.append(contentsOf: element.children)
            guard ["video", "audio", "textstream"].contains(element.localName) else { continue }
            var params: [String: String] = [:]
            for child in element.children where child.localName == "param" {
                if let name = child.attribute("name"), let value = child.attribute("value") { params[name] = value }
            }
            guard let id = params["trackID"].flatMap({ UInt32($0) }) else { continue }
            if let bitrate = (element.attribute("systemBitrate") ?? params["systemBitrate"]).flatMap({ Int($0) }), bitrate >= 0 {
                bitrates[id] = bitrate
            }
            if let name = params["trackName"] { names[id] = name }
        }
    }

    init() {}
}

/// The `.isml` of a publishing point: created with defaults on first ingest when nobody wrote one,
/// and given a track element for every track an encoder announces (src names the track's store).
enum PublishingPoint {
    /// Defaults of a publishing point created by ingest (reference §2.1/§6 names).
    static let defaults: [ManifestMeta] = [
        ManifestMeta(name: "creator", content: "Origo live ingest"),
        ManifestMeta(name: "dvr_window_length", content: "30"),
        ManifestMeta(name: "archiving", content: "false"),
        ManifestMeta(name: "archive_length", content: "0"),
        ManifestMeta(name: "archive_segment_length", content: "0"),
        ManifestMeta(name: "restart_on_encoder_reconnect", content: "false"),
    ]

    /// Adds what is missing, under a lock so that streams announced at once by several
    /// connections (one POST per track) do not lose each other's tracks.
    /// The options ingest follows, as the `.isml` says after the announcement.
    struct IngestOptions: Equatable {
        var restartOnEncoderReconnect = false
        var archiving = false
        /// Seconds.
        var archiveLength = 0
        var archiveSegmentLength = 0
        var dvrWindowLength = 30

        init() {}

        init(_ options: [String: String]) {
            restartOnEncoderReconnect = PublishingPoint.isTrue(options["restart_on_encoder_reconnect"])
            archiving = PublishingPoint.isTrue(options["archiving"])
            archiveLength = options["archive_length"].flatMap { Int($0) } ?? 0
            archiveSegmentLength = options["archive_segment_length"].flatMap { Int($0) } ?? 0
            dvrWindowLength = options["dvr_window_length"].flatMap { Int($0) } ?? 30
        }

        /// What a track of `timescale` keeps (bounded to ten years so the products stay in range).
        func archive(timescale: UInt32) -> ArchivePolicy {
            let bound = 10 * 366 * 86_400
            return ArchivePolicy(archiving: archiving, archiveLength: min(archiveLength, bound),
                                 segmentLength: min(archiveSegmentLength, bound), dvrWindow: min(dvrWindowLength, bound),
                                 timescale: timescale)
        }
    }

    static func announce(manifestPath: String, stream: String, tracks: [AnnouncedTrack],
                         names: AnnouncedTrackNames) throws(LiveIngestError) -> IngestOptions {
        let store = LiveStoreLayout.storeDirectory(manifestPath: manifestPath)
        let lock = try PosixFile(path: store + "/manifest.lock", flags: O_RDWR | O_CREAT)
        guard lock.lock() else { throw .storage("cannot lock \(store)/manifest.lock: \(PosixFile.errorText())") }
        var manifest: ServerManifest
        if let bytes = try readWholeFile(manifestPath, limit: 16 << 20) {
            do { manifest = try ServerManifest.parse(bytes) } catch {
                throw .storage("the publishing point \(manifestPath) cannot be read: \(error.logReason)")
            }
        } else {
            manifest = ServerManifest(meta: defaults)
        }
        let storeName = store.split(separator: "/").last.map(String.init) ?? store
        var changed = false
        for t in tracks {
            let src = "\(storeName)/\(stream)/\(t.trackID)"
            guard !manifest.tracks.contains(where: { $0.src == src }) else { continue }
            let kind: ManifestTrackKind = switch t.kind { case .video: .video; case .audio: .audio; case .text: .textstream }
            var track = ManifestTrack(kind: kind, src: src, systemBitrate: names.bitrates[t.trackID] ?? 0,
                                      systemLanguage: t.language == "und" ? nil : t.language)
            track.trackID = t.trackID
            track.trackName = names.names[t.trackID] ?? t.kind.rawValue
            track.params["codecs"] = t.codecString
            track.params["TimeScale"] = String(t.timescale)
            if t.kind == .video { track.params["MaxWidth"] = String(t.width); track.params["MaxHeight"] = String(t.height) }
            if t.kind == .audio { track.params["SamplingRate"] = String(t.sampleRate); track.params["Channels"] = String(t.channels) }
            manifest.tracks.append(track)
            changed = true
        }
        if changed { try replaceFile(manifestPath, with: manifest.serialize()) }
        return IngestOptions(manifest.options)
    }

    /// `true`, `1`, `yes` (any case): how options are switched on in a server manifest.
    static func isTrue(_ value: String?) -> Bool {
        guard let value else { return false }
        return ["true", "1", "yes", "on"].contains(value.lowercased())
    }
}
