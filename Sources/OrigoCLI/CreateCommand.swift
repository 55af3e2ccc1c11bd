import ISOBMFF
import MediaModel
import ServerManifest
import Storage

/// `origo create`: builds an `.ism` from MP4 inputs, or with `--use_dref_no_subs` an index MP4
/// (sample tables plus a data reference to each input, no media data).
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
        /// `--use_dref_no_subs` (or `--index`): write an index MP4 instead of a server manifest.
        var index = false

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
                    if name == "use_dref_no_subs" || name == "use_dref" || name == "index" {
                        guard value == "true" else { throw .usage("--\(name) takes no value") }
                        options.index = true
                    } else if name.hasPrefix("track_") {
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
            let lower = options.output.lowercased()
            if options.index {
                guard options.settings.isEmpty else {
                    throw .usage("an index MP4 has no presentation options (\(options.settings[0].0))")
                }
            } else if lower.hasSuffix(".mp4") || lower.hasSuffix(".m4v") || lower.hasSuffix(".m4a") {
                throw .usage("an MP4 output is an index MP4: add --use_dref_no_subs")
            }
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

    /// The tracks of one input that its track options select; an input selecting nothing is an error.
    static func selectedTracks(_ input: Input) throws(CLIError) -> [Track] {
        let index: MP4Index
        do {
            index = try read(input.path)
        } catch {
            throw CLIError.from(error, context: input.path)
        }
        let selected = index.tracks.filter { select($0, input) }
        guard !selected.isEmpty else { throw .failed("\(input.path): no track matches the track options") }
        return selected
    }

    static func run(_ options: Options) throws(CLIError) {
        if options.index { return try writeIndex(options) }
        var manifest = ServerManifest()
        manifest.setOption("creator", "Origo")
        for (name, value) in options.settings { manifest.setOption(name, value) }
        var tokens = Set<String>()
        for input in options.inputs {
            let selected = try selectedTracks(input)
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

    /// Reads an MP4, index MP4s included (their data references resolved next to them).
    static func read(_ path: String) throws -> MP4Index {
        try MP4Reader.read(try LocalFileReader(path: path), locator: path, limits: .default, resolver: resolver(for: path))
    }

    /// Local resolution of data references: relative to the index file, which must exist.
    static func resolver(for path: String) -> DataReferenceResolver {
        { reference in
            guard let target = Locator.resolve(reference, against: path) else {
                throw CLIError.failed("\(path): cannot resolve its data reference \(reference)")
            }
            if RemoteURL.isRemote(target) { return ResolvedDataReference(locator: target, size: nil) }
            return ResolvedDataReference(locator: target, size: try LocalFile.identity(of: target).size)
        }
    }

    /// Writes one index MP4 holding the selected tracks of every input. Each track's data
    /// reference names the file its samples are in (for an input that is itself an index, the file
    /// it refers to), relative to the output when they share a directory branch. Track IDs are
    /// kept unless two inputs share one; then all are numbered from 1 in input order.
    static func writeIndex(_ options: Options) throws(CLIError) {
        var entries: [IndexWriter.Entry] = []
        for input in options.inputs {
            let selected = try selectedTracks(input)
            for track in selected {
                let reference = RemoteURL.isRemote(track.dataSource)
                    ? track.dataSource : try Paths.source(for: track.dataSource, manifestPath: options.output)
                entries.append(IndexWriter.Entry(track: track, reference: reference))
            }
        }
        if Set(entries.map(\.track.trackID)).count != entries.count {
            for i in entries.indices { entries[i].track.trackID = UInt32(i + 1) }
        }
        let bytes: [UInt8]
        do {
            bytes = try IndexWriter.write(entries)
        } catch {
            throw CLIError.from(error, context: options.output)
        }
        try Paths.writeAtomically(bytes, to: options.output)
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
