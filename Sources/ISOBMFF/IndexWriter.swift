import ByteIO
import MediaModel

/// Writes index MP4s (the `--use_dref_no_subs` layout): `ftyp` + `moov` with complete sample tables
/// (`stts`, `ctts`, `stss`, `stsc`, `stsz`, `co64`) whose `dref` holds a `url ` entry naming the
/// file with the samples, and no `mdat`. An origin reads the small index once and then fetches
/// only sample ranges from the (usually remote) media file.
///
/// Timing is kept exactly: the sample tables reproduce decode times relative to the first sample
/// (a fragmented source that starts at a non-zero `tfdt` or has gaps is expressed through the
/// durations and the edit list), and the edit list reproduces ``Track/presentationOffset``, so
/// presentation times read back unchanged. When tracks have different timescales, an initial
/// empty edit (a negative presentation offset) is rounded to the movie timescale, which is the
/// first track's.
public enum IndexWriter {
    /// One track and the location its samples are in, written into `dref` as given (usually a
    /// path relative to the index file, e.g. `tears-of-steel-avc1-400k.cmfv`).
    public struct Entry: Sendable {
        public var track: Track
        public var reference: String
        public init(track: Track, reference: String) {
            self.track = track
            self.reference = reference
        }
    }

    /// The index file for `entries`; track IDs must be unique and every track must have samples.
    public static func write(_ entries: [Entry]) throws(ISOBMFFError) -> [UInt8] {
        guard let first = entries.first else { throw .unsupported("an index MP4 needs at least one track") }
        var ids = Set<UInt32>()
        for entry in entries {
            let t = entry.track
            guard t.trackID > 0, ids.insert(t.trackID).inserted else {
                throw .unsupported("track ID \(t.trackID) is zero or used twice in one index")
            }
            guard !t.samples.isEmpty, t.samples.count <= Int(UInt32.max) else {
                throw .unsupported("track \(t.trackID) has \(t.samples.count) samples")
            }
            guard t.timescale > 0 else { throw .malformed(box: "track \(t.trackID)", reason: "timescale 0") }
            do { try t.samples.validate() } catch {
                throw .malformed(box: "track \(t.trackID)", reason: "\(error)")
            }
            guard !entry.reference.isEmpty, !entry.reference.utf8.contains(0) else {
                throw .unsupported("track \(t.trackID) has an empty data reference")
            }
            for i in 1..<t.samples.count where t.samples.decodeTimes[i] &- t.samples.decodeTimes[i - 1] > Int64(UInt32.max) {
                throw .unsupported("track \(t.trackID): a decode time gap too long for stts at sample \(i + 1)")
            }
        }
        let movieTimescale = first.track.timescale
        let tables = entries.map { TrackTables(track: $0.track) }
        let movieDuration = zip(entries, tables).map {
            MediaTime.rescale($1.duration, from: $0.track.timescale, to: movieTimescale)
        }.max() ?? 0

        var w = ByteWriter(capacity: 4096 + entries.reduce(0) { $0 + $1.track.samples.count * 12 })
        FragmentWriter.box(&w, "ftyp") { w in
            w.writeFourCC("isom")
            w.writeUInt32(0x200)
            for brand: StaticString in ["isom", "iso6", "mp41"] { w.writeFourCC(brand) }
        }
        FragmentWriter.box(&w, "moov") { w in
            FragmentWriter.fullBox(&w, "mvhd", version: 1, flags: 0) { w in
                w.writeUInt64(0); w.writeUInt64(0)           // creation, modification
                w.writeUInt32(movieTimescale)
                w.writeUInt64(UInt64(clamping: movieDuration))
                w.writeUInt32(0x0001_0000)                   // rate 1.0
                w.writeUInt16(0x0100)                        // volume 1.0
                w.writeZeros(10)
                FragmentWriter.writeMatrix(&w)
                w.writeZeros(24)
                w.writeUInt32((ids.max() ?? 0) &+ 1)         // next_track_ID
            }
            for (entry, tables) in zip(entries, tables) {
                writeTrak(&w, entry, tables, movieTimescale: movieTimescale)
            }
        }
        return w.take()
    }

    /// The sample tables of one track, run-length coded as `stbl` wants them.
    struct TrackTables {
        /// Decode-time deltas as `stts` runs (count, delta).
        var timeRuns: [(UInt32, UInt32)] = []
        var compositionRuns: [(UInt32, Int32)] = []
        /// Chunks: contiguous runs of samples in the data file.
        var chunkOffsets: [UInt64] = []
        /// `stsc` runs (first chunk, samples per chunk).
        var chunkRuns: [(UInt32, UInt32)] = []
        /// Media time of the first sample: the tables start at zero, the edit list makes up for it.
        var firstDecodeTime: Int64 = 0
        var duration: Int64 = 0

        init(track: Track) {
            let s = track.samples
            firstDecodeTime = s.decodeTimes.first ?? 0
            for i in 0..<s.count {
                // The last sample keeps its own duration; the others end where the next one starts.
                let delta = i + 1 < s.count ? UInt32(clamping: s.decodeTimes[i + 1] &- s.decodeTimes[i]) : s.durations[i]
                if let last = timeRuns.last, last.1 == delta {
                    timeRuns[timeRuns.count - 1].0 &+= 1
                } else {
                    timeRuns.append((1, delta))
                }
                duration &+= Int64(delta)
            }
            if !s.compositionOffsets.isEmpty {
                for o in s.compositionOffsets {
                    if let last = compositionRuns.last, last.1 == o {
                        compositionRuns[compositionRuns.count - 1].0 &+= 1
                    } else {
                        compositionRuns.append((1, o))
                    }
                }
            }
            var perChunk: [UInt32] = []
            for i in 0..<s.count {
                if i > 0, s.offsets[i - 1] &+ UInt64(s.sizes[i - 1]) == s.offsets[i] {
                    perChunk[perChunk.count - 1] &+= 1
                } else {
                    chunkOffsets.append(s.offsets[i])
                    perChunk.append(1)
                }
            }
            for (k, n) in perChunk.enumerated() where chunkRuns.last?.1 != n {
                chunkRuns.append((UInt32(truncatingIfNeeded: k + 1), n))
            }
        }
    }

    private static func writeTrak(_ w: inout ByteWriter, _ entry: Entry, _ tables: TrackTables, movieTimescale: UInt32) {
        let track = entry.track
        let s = track.samples
        let movieDuration = MediaTime.rescale(tables.duration, from: track.timescale, to: movieTimescale)
        // Presentation time = table time + first decode time + CTO - presentationOffset.
        let mediaTime = track.presentationOffset &- tables.firstDecodeTime
        FragmentWriter.box(&w, "trak") { w in
            FragmentWriter.fullBox(&w, "tkhd", version: 1, flags: 0x3) { w in
                w.writeUInt64(0); w.writeUInt64(0)
                w.writeUInt32(track.trackID)
                w.writeUInt32(0)
                w.writeUInt64(UInt64(clamping: movieDuration))
                w.writeZeros(8)
                w.writeUInt16(0)                             // layer
                w.writeUInt16(0)                             // alternate group
                w.writeUInt16(track.kind == .audio ? 0x0100 : 0)
                w.writeUInt16(0)
                FragmentWriter.writeMatrix(&w)
                w.writeUInt32(UInt32(clamping: track.width) << 16)
                w.writeUInt32(UInt32(clamping: track.height) << 16)
            }
            if mediaTime != 0 {
                FragmentWriter.box(&w, "edts") { w in
                    FragmentWriter.fullBox(&w, "elst", version: 1, flags: 0) { w in
                        if mediaTime > 0 {
                            w.writeUInt32(1)
                        } else {
                            w.writeUInt32(2)
                            w.writeUInt64(UInt64(clamping: MediaTime.rescale(0 &- mediaTime, from: track.timescale, to: movieTimescale)))
                            w.writeInt64(-1)                 // an empty edit: presentation starts later
                            w.writeUInt32(0x0001_0000)
                        }
                        w.writeUInt64(UInt64(clamping: movieDuration))
                        w.writeInt64(max(mediaTime, 0))
                        w.writeUInt32(0x0001_0000)
                    }
                }
            }
            FragmentWriter.box(&w, "mdia") { w in
                FragmentWriter.fullBox(&w, "mdhd", version: 1, flags: 0) { w in
                    w.writeUInt64(0); w.writeUInt64(0)
                    w.writeUInt32(track.timescale)
                    w.writeUInt64(UInt64(clamping: tables.duration))
                    w.writeUInt16(FragmentWriter.packedLanguage(track.language))
                    w.writeUInt16(0)
                }
                FragmentWriter.fullBox(&w, "hdlr", version: 0, flags: 0) { w in
                    w.writeUInt32(0)
                    w.writeFourCC(FragmentWriter.handler(track.kind))
                    w.writeZeros(12)
                    w.write(FragmentWriter.handlerName(track.kind))
                    w.writeUInt8(0)
                }
                FragmentWriter.box(&w, "minf") { w in
                    switch track.kind {
                    case .video: FragmentWriter.fullBox(&w, "vmhd", version: 0, flags: 1) { w in w.writeZeros(8) }
                    case .audio: FragmentWriter.fullBox(&w, "smhd", version: 0, flags: 0) { w in w.writeZeros(4) }
                    case .text: FragmentWriter.fullBox(&w, "sthd", version: 0, flags: 0) { _ in }
                    }
                    FragmentWriter.box(&w, "dinf") { w in
                        FragmentWriter.fullBox(&w, "dref", version: 0, flags: 0) { w in
                            w.writeUInt32(1)
                            // Flags 0: the samples are not in this file but at `location`.
                            FragmentWriter.fullBox(&w, "url ", version: 0, flags: 0) { w in
                                w.write(entry.reference)
                                w.writeUInt8(0)
                            }
                        }
                    }
                    FragmentWriter.box(&w, "stbl") { w in
                        FragmentWriter.fullBox(&w, "stsd", version: 0, flags: 0) { w in
                            w.writeUInt32(1)
                            w.write(track.sampleEntry)
                        }
                        writeTables(&w, s, tables)
                    }
                }
            }
        }
    }

    private static func writeTables(_ w: inout ByteWriter, _ s: SampleTable, _ tables: TrackTables) {
        FragmentWriter.fullBox(&w, "stts", version: 0, flags: 0) { w in
            w.writeUInt32(UInt32(truncatingIfNeeded: tables.timeRuns.count))
            for (n, d) in tables.timeRuns { w.writeUInt32(n); w.writeUInt32(d) }
        }
        if !tables.compositionRuns.isEmpty {
            let negative = tables.compositionRuns.contains { $0.1 < 0 }
            FragmentWriter.fullBox(&w, "ctts", version: negative ? 1 : 0, flags: 0) { w in
                w.writeUInt32(UInt32(truncatingIfNeeded: tables.compositionRuns.count))
                for (n, o) in tables.compositionRuns { w.writeUInt32(n); w.writeInt32(o) }
            }
        }
        if !s.syncFlags.isEmpty {
            let sync = s.syncFlags.indices.filter { s.syncFlags[$0] }
            FragmentWriter.fullBox(&w, "stss", version: 0, flags: 0) { w in
                w.writeUInt32(UInt32(truncatingIfNeeded: sync.count))
                for i in sync { w.writeUInt32(UInt32(truncatingIfNeeded: i + 1)) }
            }
        }
        FragmentWriter.fullBox(&w, "stsc", version: 0, flags: 0) { w in
            w.writeUInt32(UInt32(truncatingIfNeeded: tables.chunkRuns.count))
            for (first, n) in tables.chunkRuns { w.writeUInt32(first); w.writeUInt32(n); w.writeUInt32(1) }
        }
        FragmentWriter.fullBox(&w, "stsz", version: 0, flags: 0) { w in
            let size = s.sizes.first ?? 0
            let constant = size != 0 && s.sizes.allSatisfy { $0 == size }
            w.writeUInt32(constant ? size : 0)
            w.writeUInt32(UInt32(truncatingIfNeeded: s.count))
            if !constant { for size in s.sizes { w.writeUInt32(size) } }
        }
        FragmentWriter.fullBox(&w, "co64", version: 0, flags: 0) { w in
            w.writeUInt32(UInt32(truncatingIfNeeded: tables.chunkOffsets.count))
            for o in tables.chunkOffsets { w.writeUInt64(o) }
        }
    }
}
