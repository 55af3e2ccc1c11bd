import ByteIO
import MediaModel

/// What one media file holds: its tracks with complete sample indexes.
public struct MP4Index: Sendable {
    public var tracks: [Track]
    public var isFragmented: Bool
    public var majorBrand: String
    public var movieTimescale: UInt32
    /// Track ID → the raw `dref` location, for tracks whose samples live in another file (index MP4s).
    public var dataReferences: [UInt32: String] = [:]

    public init(tracks: [Track], isFragmented: Bool, majorBrand: String, movieTimescale: UInt32,
                dataReferences: [UInt32: String] = [:]) {
        self.tracks = tracks
        self.isFragmented = isFragmented
        self.majorBrand = majorBrand
        self.movieTimescale = movieTimescale
        self.dataReferences = dataReferences
    }
}

/// Where an external data reference points, as the caller resolved it.
public struct ResolvedDataReference: Sendable, Equatable {
    /// Locator (local path or URL) of the file holding the samples; becomes ``Track/dataSource``.
    public var locator: String
    /// Its size when cheaply known (local files): every sample is then checked to lie inside it.
    public var size: UInt64?
    public init(locator: String, size: UInt64?) {
        self.locator = locator
        self.size = size
    }
}

/// Resolves a `dref` location (usually relative, e.g. `movie-video.cmfv`) against the locator of the
/// index file being read. Throwing refuses the reference.
public typealias DataReferenceResolver = (_ reference: String) throws -> ResolvedDataReference

/// Reads progressive and fragmented MP4 (ISO/IEC 14496-12/-14/-15; CMAF, ismv/isma) into the media
/// model. Only index boxes are read (`ftyp`, `moov`, `moof`); `mdat` is skipped by its size, so a file
/// costs one small read per top-level box plus the index bytes themselves.
///
/// Index MP4s (sample tables whose `dref` names another file, no `mdat`) are read when a
/// `resolver` is given: each track's ``Track/dataSource`` becomes the resolved reference and its
/// sample offsets refer to that file. Without a resolver they are refused as unsupported.
public enum MP4Reader {
    public static func read(_ file: some RandomAccessReader, locator: String, limits: ReadLimits = .default,
                            resolver: DataReferenceResolver? = nil) throws -> MP4Index {
        let size = file.size
        var position: UInt64 = 0
        var indexBytes: UInt64 = 0
        var majorBrand = ""
        var movie: MovieBox?
        var fragments: [(offset: UInt64, bytes: [UInt8])] = []
        var mediaData: [Range<UInt64>] = []
        var topLevelBoxes = 0

        while size - position >= 8 {
            topLevelBoxes += 1
            guard topLevelBoxes <= 1_000_000 else { throw ISOBMFFError.limitExceeded("more than a million top-level boxes") }
            let headerBytes = try file.read(at: position, count: Int(min(32, size - position)))
            var hr = ByteReader(headerBytes)
            let header = try BoxHeader.read(&hr, available: size - position)
            switch header.type {
            case "ftyp", "moov", "moof":
                indexBytes &+= header.size
                guard indexBytes <= limits.maxIndexBytes else {
                    throw ISOBMFFError.limitExceeded("index boxes exceed \(limits.maxIndexBytes) bytes")
                }
                let payload = try file.read(at: position + UInt64(header.headerSize), count: Int(header.payloadSize))
                let reader = ByteReader(payload)
                if header.type == "ftyp" {
                    majorBrand = (try? within("ftyp") { var r = reader; return try r.readFourCC() }) ?? ""
                } else if header.type == "moov" {
                    guard movie == nil else { throw ISOBMFFError.malformed(box: "moov", reason: "more than one moov") }
                    movie = try MovieBox.parse(reader, limits: limits)
                } else {
                    fragments.append((position, payload))
                }
            case "mdat":
                mediaData.append(position + UInt64(header.headerSize) ..< position + header.size)
            default:
                break
            }
            position += header.size
        }
        guard var movie else { throw ISOBMFFError.malformed(box: "file", reason: "no moov box in \(size) bytes") }

        if !fragments.isEmpty {
            var tables: [UInt32: SampleTable] = [:]
            for t in movie.tracks { tables[t.trackID] = t.samples }
            var next: [UInt32: Int64] = [:]
            // Fragments continue what the movie's own samples said (a `senc` in `stbl`).
            var auxiliary: [UInt32: SampleAuxiliaryInfo] = [:]
            for track in movie.tracks { if let protection = track.entry.protection { auxiliary[track.trackID] = protection.samples } }
            for fragment in fragments {
                try MovieFragment.append(moof: ByteReader(fragment.bytes), moofOffset: fragment.offset, movie: movie,
                                         tables: &tables, nextDecodeTime: &next, auxiliary: &auxiliary, limits: limits)
            }
            for i in movie.tracks.indices {
                let id = movie.tracks[i].trackID
                movie.tracks[i].samples = tables[id] ?? SampleTable()
                if let info = auxiliary[id] { movie.tracks[i].entry.protection?.samples = info }
            }
        }

        var tracks: [Track] = []
        var references: [UInt32: String] = [:]
        var resolved: [String: ResolvedDataReference] = [:]
        for header in movie.tracks where !header.samples.isEmpty {
            var source = locator
            var sourceSize: UInt64? = size
            if let reference = header.dataReference {
                guard let resolver else {
                    throw ISOBMFFError.unsupported("track \(header.trackID) keeps its samples in another file (data reference)")
                }
                let target: ResolvedDataReference
                if let known = resolved[reference] {
                    target = known
                } else {
                    target = try resolver(reference)
                    resolved[reference] = target
                }
                source = target.locator
                sourceSize = target.size
                references[header.trackID] = reference
            }
            if header.dataReference == nil {
                try checkInside(header, mediaData: mediaData)
            } else if let sourceSize {
                // Index files: the samples live in the referenced file; its size is all we know.
                try checkInside(header, fileSize: sourceSize)
            }
            do { try header.samples.validate() } catch { throw ISOBMFFError.malformed(box: "track \(header.trackID)", reason: "\(error)") }
            try checkCompositionOffsets(header)
            tracks.append(makeTrack(header, movieTimescale: movie.timescale, psshBoxes: movie.psshBoxes, locator: source))
        }
        return MP4Index(tracks: tracks, isFragmented: movie.isFragmented || !fragments.isEmpty,
                        majorBrand: majorBrand, movieTimescale: movie.timescale, dataReferences: references)
    }

    /// Every sample of an index file's track must lie inside the referenced file.
    private static func checkInside(_ header: TrackHeader, fileSize: UInt64) throws(ISOBMFFError) {
        let s = header.samples
        for i in 0..<s.count {
            let (end, overflow) = s.offsets[i].addingReportingOverflow(UInt64(s.sizes[i]))
            guard !overflow, end <= fileSize else {
                throw .malformed(box: "track \(header.trackID)", reason: "sample \(i + 1) lies outside the file (\(fileSize) bytes)")
            }
        }
    }

    /// Every sample must lie inside the payload of a top-level `mdat`: a segment is never cut from
    /// bytes that do not exist, nor from other boxes (a `trun` pointing past an emptied `mdat` into
    /// the next `moof` would otherwise be served as media). Empty samples may sit anywhere.
    private static func checkInside(_ header: TrackHeader, mediaData: [Range<UInt64>]) throws(ISOBMFFError) {
        let s = header.samples
        var hint = 0   // samples mostly ascend: try the previous sample's mdat first
        for i in 0..<s.count where s.sizes[i] > 0 {
            let (end, overflow) = s.offsets[i].addingReportingOverflow(UInt64(s.sizes[i]))
            let start = s.offsets[i]
            func holds(_ k: Int) -> Bool { mediaData[k].lowerBound <= start && end <= mediaData[k].upperBound }
            if !overflow, hint < mediaData.count, holds(hint) { continue }
            // mdats are in file order and do not overlap: binary search for the last one starting <= start.
            var lo = 0, hi = mediaData.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if mediaData[mid].lowerBound <= start { lo = mid + 1 } else { hi = mid }
            }
            guard !overflow, lo > 0, holds(lo - 1) else {
                throw .malformed(box: "track \(header.trackID)",
                                 reason: "sample \(i + 1) (\(s.sizes[i]) bytes at \(start)) lies outside every mdat")
            }
            hint = lo - 1
        }
    }

    /// A composition offset larger than the whole track is a broken `ctts`/`trun`, not B-frames:
    /// it would put a sample days away from its neighbours and break every timeline built on it.
    private static func checkCompositionOffsets(_ header: TrackHeader) throws(ISOBMFFError) {
        let s = header.samples
        guard !s.compositionOffsets.isEmpty else { return }
        let bound = s.totalDuration &+ Int64(header.timescale)
        for i in 0..<s.compositionOffsets.count where Int64(s.compositionOffsets[i]).magnitude > bound.magnitude {
            throw .malformed(box: "track \(header.trackID)",
                             reason: "composition offset \(s.compositionOffsets[i]) of sample \(i + 1) exceeds the track's duration")
        }
    }

    private static func makeTrack(_ h: TrackHeader, movieTimescale: UInt32, psshBoxes: [[UInt8]], locator: String) -> Track {
        // The edit list shifts media time to presentation time. Earliest composition time is the
        // floor: an edit that would drop the first samples (AAC priming) would make segments start
        // before zero, which HLS and DASH timelines cannot express.
        var earliest = Int64.max
        for i in 0..<min(h.samples.count, 64) {
            earliest = min(earliest, h.samples.decodeTimes[i] &+ Int64(h.samples.compositionOffset(i)))
        }
        var offset: Int64 = 0
        if let mediaTime = h.editMediaTime, mediaTime >= 0 { offset = min(mediaTime, earliest) }
        if h.editDelay > 0, movieTimescale > 0 {
            offset &-= MediaTime.rescale(Int64(clamping: h.editDelay), from: movieTimescale, to: h.timescale)
        }
        let width = h.entry.width > 0 ? h.entry.width : h.tkhdWidth
        let height = h.entry.height > 0 ? h.entry.height : h.tkhdHeight
        // An encrypted entry keeps its bytes (`encv`/`enca` with `sinf`); the track names its codec's type.
        var protection = h.entry.protection
        protection?.psshBoxes = psshBoxes
        var track = Track(trackID: h.trackID, kind: h.kind, timescale: h.timescale, language: h.language,
                     sampleEntryType: protection?.originalFormat ?? h.entry.type, sampleEntry: h.entry.bytes, codec: h.entry.codec,
                     width: h.kind == .video ? width : 0, height: h.kind == .video ? height : 0,
                     sampleRate: h.kind == .audio ? (h.entry.sampleRate > 0 ? h.entry.sampleRate : Int(h.timescale)) : 0,
                     channels: h.kind == .audio ? h.entry.channels : 0,
                     samples: h.samples, presentationOffset: offset, dataSource: locator)
        track.protection = protection
        return track
    }
}
