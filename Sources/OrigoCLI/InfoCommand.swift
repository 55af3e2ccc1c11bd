import ISOBMFF
import MediaModel
import PlayerURL
import ServerManifest
import Storage

/// `origo info`: one line per track of an MP4, or of the tracks a server manifest names.
enum InfoCommand {
    static func run(_ paths: [String]) throws(CLIError) {
        for path in paths {
            if ManifestPath.kind(of: path) == .serverManifest {
                try manifestInfo(path)
            } else {
                let index = try read(path)
                let layout = index.isFragmented ? "fragmented" : "progressive"
                Command.writeOut("\(path): \(layout) MP4, brand \(index.majorBrand), \(index.tracks.count) track(s)\n")
                for track in index.tracks {
                    let data = index.dataReferences[track.trackID].map { "  data in \($0)" } ?? ""
                    Command.writeOut("  " + describe(track) + data + "\n")
                }
            }
        }
    }

    static func read(_ path: String) throws(CLIError) -> MP4Index {
        do {
            return try CreateCommand.read(path)
        } catch {
            throw CLIError.from(error, context: path)
        }
    }

    /// Content keys (`hls.key`, `widevine_key`, ...) are never printed.
    static func isSecret(_ option: String) -> Bool {
        option.lowercased().split(whereSeparator: { $0 == "." || $0 == "_" }).last == "key"
    }

    /// Prints the manifest's options and, per entry, its URL token and the track it resolves to,
    /// choosing tracks the way the origin does (by trackID, else the next unused one of the kind).
    static func manifestInfo(_ path: String) throws(CLIError) {
        let manifest: ServerManifest
        do {
            manifest = try ServerManifest.parse(try LocalFile.contents(of: path, limit: 4 << 20))
        } catch {
            throw CLIError.from(error, context: path)
        }
        Command.writeOut("\(path): server manifest, \(manifest.tracks.count) track(s)\n")
        for (key, value) in manifest.options.sorted(by: { $0.key < $1.key }) {
            Command.writeOut("  option \(key)=\(isSecret(key) ? "(a key: not shown)" : value)\n")
        }
        let directory = Paths.directory(of: path)
        var indexes: [String: MP4Index] = [:]
        var used: [String: Set<UInt32>] = [:]
        for entry in manifest.tracks {
            let source = entry.src.hasPrefix("/") ? entry.src : directory + "/" + entry.src
            let index: MP4Index
            if let cached = indexes[source] {
                index = cached
            } else {
                index = try read(source)
                indexes[source] = index
            }
            let kind: TrackKind = switch entry.kind {
            case .video: .video
            case .audio: .audio
            case .textstream: .text
            }
            let candidates = index.tracks.filter { $0.kind == kind }
            let chosen = entry.trackID.map { id in candidates.first { $0.trackID == id } }
                ?? candidates.first { !(used[source]?.contains($0.trackID) ?? false) }
            guard let track = chosen else {
                throw .failed("\(path): \(entry.src) has no \(entry.kind.rawValue) track"
                    + (entry.trackID.map { " with trackID \($0)" } ?? ""))
            }
            used[source, default: []].insert(track.trackID)
            let name = entry.trackName ?? CreateCommand.trackName(track)
            let bitrate = entry.systemBitrate ?? max(track.averageBitrate, 1)
            Command.writeOut("  \(name)=\(bitrate)  \(describe(track))  src \(entry.src)\n")
        }
    }

    /// `track 1  video  avc1.64001F  1280x720 24 fps  und  10.000 s  240 samples  1203456 bit/s`
    static func describe(_ track: Track) -> String {
        var fields = ["track \(track.trackID)", track.kind.rawValue, track.codecsString]
        switch track.kind {
        case .video:
            var size = "\(track.width)x\(track.height)"
            if let rate = track.frameRate { size += " " + decimal(rate.numerator, rate.denominator, places: 3) + " fps" }
            fields.append(size)
        case .audio:
            fields.append("\(track.sampleRate) Hz \(track.channels) ch")
        case .text:
            break
        }
        fields.append(track.language)
        fields.append(decimal(track.duration, Int64(track.timescale), places: 3) + " s")
        fields.append("\(track.samples.count) samples")
        fields.append("\(track.averageBitrate) bit/s")
        return fields.joined(separator: "  ")
    }

    /// `numerator / denominator` with up to `places` decimals, trailing zeros dropped.
    static func decimal(_ numerator: Int64, _ denominator: Int64, places: Int) -> String {
        guard denominator > 0 else { return "?" }
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        let (scaled, overflow) = numerator.multipliedReportingOverflow(by: scale)
        guard !overflow else { return String(numerator / denominator) }
        let rounded = (scaled + denominator / 2) / denominator
        let whole = rounded / scale
        var fraction = String(rounded % scale)
        while fraction.count < places { fraction = "0" + fraction }
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return fraction.isEmpty ? String(whole) : "\(whole).\(fraction)"
    }
}
