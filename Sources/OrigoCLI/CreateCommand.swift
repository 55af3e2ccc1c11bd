import ISOBMFF
import MediaModel
import ServerManifest
import Storage

/// `origo create`: builds an `.ism` from MP4 inputs.
enum CreateCommand {
    /// One input file and the track options that followed it.
    struct Input: Equatable {
        var path: String
        var type: TrackKind?
        var trackID: UInt32?
        var language: String?
    }

    struct Options {
        var output: String = ""
        /// Presentation options in command-line order (`hls.fmp4` → `true`).
        var settings: [(String, String)] = []
        var inputs: [Input] = []

        /// Parses `-o OUT [--opt[=v] ...] in1 [--track_*=v ...] in2 ...`.
        static func parse(_ arguments: [String]) throws(CLIError) -> Options {
            var options = Options()
            var index = 0
            while index < arguments.count {
                let argument = arguments[index]
                index += 1
                if argument == "-o" || argument == "--output" {
                    guard index < arguments.count else { throw .usage("\(argument) needs a file name") }
                    options.output = arguments[index]
                    index += 1
                } else if argument.hasPrefix("--output=") {
                    options.output = String(argument.dropFirst("--output=".count))
                } else if argument.hasPrefix("--") {
                    let body = argument.dropFirst(2)
                    let name: String
                    let value: String
                    if let equals = body.firstIndex(of: "=") {
                        name = String(body[..<equals])
                        value = String(body[body.index(after: equals)...])
                    } else {
                        name = String(body)
                        value = "true"
                    }
                    guard !name.isEmpty else { throw .usage("empty option \(argument)") }
                    if name.hasPrefix("track_") {
                        try options.applyTrackOption(name, value)
                    } else {
                        options.settings.append((name, value))
                    }
                } else if argument.hasPrefix("-") && argument != "-" {
                    throw .usage("unknown option \(argument)")
                } else {
                    options.inputs.append(Input(path: argument))
                }
            }
            guard !options.output.isEmpty else { throw .usage("create needs -o OUT.ism") }
            guard !options.inputs.isEmpty else { throw .usage("create needs at least one input file") }
            return options
        }

        private mutating func applyTrackOption(_ name: String, _ value: String) throws(CLIError) {
            guard !inputs.isEmpty else { throw .usage("--\(name) must follow the input it applies to") }
            let last = inputs.count - 1
            switch name {
            case "track_type":
                switch value.lowercased() {
                case "video": inputs[last].type = .video
                case "audio": inputs[last].type = .audio
                case "text", "textstream": inputs[last].type = .text
                default: throw .usage("--track_type must be video, audio or text, not \(value)")
                }
            case "track_id":
                guard let id = UInt32(value), id > 0 else { throw .usage("--track_id must be a track number, not \(value)") }
                inputs[last].trackID = id
            case "track_language":
                guard !value.isEmpty else { throw .usage("--track_language needs a language code") }
                inputs[last].language = value
            default:
                throw .usage("unknown track option --\(name)")
            }
        }
    }

    static func run(_ options: Options) throws(CLIError) {
        var manifest = ServerManifest()
        manifest.setOption("creator", "Origo")
        for (name, value) in options.settings { manifest.setOption(name, value) }
        var tokens = Set<String>()
        for input in options.inputs {
            let index: MP4Index
            do {
                index = try MP4Reader.read(try LocalFileReader(path: input.path), locator: input.path, limits: .default)
            } catch {
                throw CLIError.from(error, context: input.path)
            }
            let selected = index.tracks.filter { select($0, input) }
            guard !selected.isEmpty else { throw .failed("\(input.path): no track matches the track options") }
            let src = try Paths.source(for: input.path, manifestPath: options.output)
            for track in selected {
                var entry = ManifestTrack(kind: kind(track.kind), src: src, systemBitrate: max(track.averageBitrate, 1))
                if !Language.isUndetermined(track.language) { entry.systemLanguage = track.language }
                let name = trackName(track)
                // Token `name=bitrate` must be unique: raise a duplicate's bitrate, as the origin would.
                var bitrate = max(track.averageBitrate, 1)
                while tokens.contains("\(name)=\(bitrate)") { bitrate += 1 }
                tokens.insert("\(name)=\(bitrate)")
                entry.systemBitrate = bitrate
                entry.trackID = track.trackID
                entry.trackName = name
                manifest.tracks.append(entry)
            }
        }
        try Paths.writeAtomically(manifest.serialize(), to: options.output)
    }

    static func select(_ track: Track, _ input: Input) -> Bool {
        if let type = input.type, track.kind != type { return false }
        if let id = input.trackID, track.trackID != id { return false }
        if let language = input.language {
            let want = language.lowercased()
            guard track.language.lowercased() == want || Language.tag(track.language).lowercased() == want else {
                return false
            }
        }
        return true
    }

    static func kind(_ kind: TrackKind) -> ManifestTrackKind {
        switch kind {
        case .video: .video
        case .audio: .audio
        case .text: .textstream
        }
    }

    /// `video`, `audio_eng`, `textstream_fra`: the names the origin gives tracks in URLs.
    static func trackName(_ track: Track) -> String {
        let base = kind(track.kind).rawValue
        return Language.isUndetermined(track.language) ? base : base + "_" + track.language
    }
}
