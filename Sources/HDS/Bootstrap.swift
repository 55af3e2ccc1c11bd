import ByteIO

/// The HDS bootstrap, an `abst` box (Adobe F4V/F4F specification 10.1, "Bootstrap Info box"):
/// how a client numbers fragments and which media time each one starts at.
///
/// The origin writes one version-0 `abst` for video on demand: profile 0 (named access: the client
/// asks for `Seg<S>-Frag<N>` by name), not live, no update, no server, quality or DRM entries; one
/// segment run table (`asrt`) saying segment 1 holds every fragment; one fragment run table
/// (`afrt`) whose entries each start a run of fragments of equal duration. A new entry starts
/// wherever the duration changes, so the first-fragment timestamps are exact: entry `k`'s timestamp
/// plus `n` durations is the start of the `n`-th fragment of the run.
public struct Bootstrap: Sendable, Equatable {
    /// `SEGMENTRUNENTRY`: from `firstSegment` on, every segment holds `fragmentsPerSegment` fragments.
    public struct SegmentRun: Sendable, Equatable {
        public var firstSegment: UInt32
        public var fragmentsPerSegment: UInt32
        public init(firstSegment: UInt32, fragmentsPerSegment: UInt32) {
            self.firstSegment = firstSegment
            self.fragmentsPerSegment = fragmentsPerSegment
        }
    }

    /// `FRAGMENTRUNENTRY`: fragments from `firstFragment` on last `duration` each, the first one
    /// starting at `firstTimestamp`. A zero duration carries a discontinuity indicator instead.
    public struct FragmentRun: Sendable, Equatable {
        public var firstFragment: UInt32
        public var firstTimestamp: UInt64
        public var duration: UInt32
        public var discontinuity: UInt8?
        public init(firstFragment: UInt32, firstTimestamp: UInt64, duration: UInt32, discontinuity: UInt8? = nil) {
            self.firstFragment = firstFragment
            self.firstTimestamp = firstTimestamp
            self.duration = duration
            self.discontinuity = discontinuity
        }
    }

    /// One fragment as the tables describe it.
    public struct Fragment: Sendable, Equatable {
        public var number: UInt32
        public var start: UInt64
        public var duration: UInt32
    }

    /// Units per second of every time in the box (1000: milliseconds, like FLV tag timestamps).
    public var timescale: UInt32
    /// For video on demand, the end of the last fragment.
    public var currentMediaTime: UInt64
    public var movieIdentifier: String
    public var live: Bool
    public var segmentRuns: [SegmentRun]
    public var fragmentRuns: [FragmentRun]

    public init(timescale: UInt32, currentMediaTime: UInt64, movieIdentifier: String, live: Bool = false,
                segmentRuns: [SegmentRun], fragmentRuns: [FragmentRun]) {
        self.timescale = timescale
        self.currentMediaTime = currentMediaTime
        self.movieIdentifier = movieIdentifier
        self.live = live
        self.segmentRuns = segmentRuns
        self.fragmentRuns = fragmentRuns
    }

    /// The bootstrap of fragments 1, 2, … starting at `starts` (in `timescale` units, increasing)
    /// with the last one ending at `end`: segment 1 holds them all.
    public init(starts: [UInt64], end: UInt64, timescale: UInt32, movieIdentifier: String) {
        var runs: [FragmentRun] = []
        for (k, start) in starts.enumerated() {
            let next = k + 1 < starts.count ? starts[k + 1] : end
            let duration = UInt32(clamping: next >= start ? next - start : 0)
            if let last = runs.last, last.duration == duration, duration > 0 { continue }
            runs.append(FragmentRun(firstFragment: UInt32(clamping: k + 1), firstTimestamp: start, duration: duration,
                                    discontinuity: duration == 0 ? 0 : nil))
        }
        self.init(timescale: timescale, currentMediaTime: end, movieIdentifier: movieIdentifier,
                  segmentRuns: [SegmentRun(firstSegment: 1, fragmentsPerSegment: UInt32(clamping: starts.count))],
                  fragmentRuns: runs)
    }

    /// Every fragment of segment 1..., numbered as the segment run table says, timed by the
    /// fragment run table (fragments past the last run entry continue its duration).
    public var fragments: [Fragment] {
        var count: UInt64 = 0
        for (k, run) in segmentRuns.enumerated() {
            let segments: UInt64 = k + 1 < segmentRuns.count
                ? UInt64(segmentRuns[k + 1].firstSegment &- run.firstSegment) : 1
            count &+= segments &* UInt64(run.fragmentsPerSegment)
        }
        guard let first = fragmentRuns.first?.firstFragment else { return [] }
        var out: [Fragment] = []
        out.reserveCapacity(Int(clamping: min(count, 1 << 20)))
        var number = first
        for _ in 0..<min(count, 1 << 20) {
            guard let run = fragmentRuns.last(where: { $0.firstFragment <= number && $0.duration > 0 }) else { break }
            let index = UInt64(number &- run.firstFragment)
            out.append(Fragment(number: number, start: run.firstTimestamp &+ index &* UInt64(run.duration),
                                duration: run.duration))
            number &+= 1
        }
        return out
    }

    // MARK: - Writing

    /// The whole `abst` box.
    public func bytes() -> [UInt8] {
        var w = ByteWriter(capacity: 96 + fragmentRuns.count * 16)
        Self.fullBox(&w, "abst") { w in
            w.writeUInt32(0)                                // BootstrapinfoVersion
            w.writeUInt8(live ? 0x20 : 0)                   // Profile 0 (named), Live, Update 0
            w.writeUInt32(timescale)
            w.writeUInt64(currentMediaTime)
            w.writeUInt64(0)                                // SmpteTimeCodeOffset
            Self.writeString(&w, movieIdentifier)
            w.writeUInt8(0)                                 // ServerEntryCount
            w.writeUInt8(0)                                 // QualityEntryCount
            w.writeUInt8(0)                                 // DrmData: empty string
            w.writeUInt8(0)                                 // MetaData: empty string
            w.writeUInt8(1)                                 // SegmentRunTableCount
            Self.fullBox(&w, "asrt") { w in
                w.writeUInt8(0)                             // QualityEntryCount: all qualities
                w.writeUInt32(UInt32(clamping: segmentRuns.count))
                for run in segmentRuns {
                    w.writeUInt32(run.firstSegment)
                    w.writeUInt32(run.fragmentsPerSegment)
                }
            }
            w.writeUInt8(1)                                 // FragmentRunTableCount
            Self.fullBox(&w, "afrt") { w in
                w.writeUInt32(timescale)
                w.writeUInt8(0)                             // QualityEntryCount
                w.writeUInt32(UInt32(clamping: fragmentRuns.count))
                for run in fragmentRuns {
                    w.writeUInt32(run.firstFragment)
                    w.writeUInt64(run.firstTimestamp)
                    w.writeUInt32(run.duration)
                    if run.duration == 0 { w.writeUInt8(run.discontinuity ?? 0) }
                }
            }
        }
        return w.take()
    }

    static func fullBox(_ w: inout ByteWriter, _ type: StaticString, _ body: (inout ByteWriter) -> Void) {
        w.withSizePrefix32 { w in
            w.writeFourCC(type)
            w.writeUInt32(0)                                // version 0, flags 0
            body(&w)
        }
    }

    static func writeString(_ w: inout ByteWriter, _ s: String) {
        w.write(s.utf8.filter { $0 != 0 })
        w.writeUInt8(0)
    }

    // MARK: - Parsing

    /// Parses an `abst` box (the first segment and fragment run tables are kept; quality, server
    /// and DRM entries are skipped).
    public init(parsing bytes: [UInt8]) throws(HDSError) {
        do {
            var r = ByteReader(bytes)
            var abst = try Self.box(&r, "abst")
            _ = try abst.readUInt32()                       // version, flags
            _ = try abst.readUInt32()                       // BootstrapinfoVersion
            let flags = try abst.readUInt8()
            let timescale = try abst.readUInt32()
            let current = try abst.readUInt64()
            _ = try abst.readUInt64()
            let movie = try Self.readString(&abst)
            for _ in 0..<(try abst.readUInt8()) { _ = try Self.readString(&abst) }
            for _ in 0..<(try abst.readUInt8()) { _ = try Self.readString(&abst) }
            _ = try Self.readString(&abst)                  // DrmData
            _ = try Self.readString(&abst)                  // MetaData
            var segmentRuns: [SegmentRun] = []
            for k in 0..<(try abst.readUInt8()) {
                var asrt = try Self.box(&abst, "asrt")
                guard k == 0 else { continue }
                _ = try asrt.readUInt32()
                for _ in 0..<(try asrt.readUInt8()) { _ = try Self.readString(&asrt) }
                let n = try asrt.readUInt32()
                guard UInt64(n) * 8 <= UInt64(asrt.remaining) else { throw HDSError.malformed("asrt: \(n) runs do not fit") }
                for _ in 0..<n {
                    segmentRuns.append(SegmentRun(firstSegment: try asrt.readUInt32(), fragmentsPerSegment: try asrt.readUInt32()))
                }
            }
            var fragmentRuns: [FragmentRun] = []
            for k in 0..<(try abst.readUInt8()) {
                var afrt = try Self.box(&abst, "afrt")
                guard k == 0 else { continue }
                _ = try afrt.readUInt32()
                _ = try afrt.readUInt32()                   // TimeScale (the same as abst's here)
                for _ in 0..<(try afrt.readUInt8()) { _ = try Self.readString(&afrt) }
                let n = try afrt.readUInt32()
                guard UInt64(n) * 16 <= UInt64(afrt.remaining) else { throw HDSError.malformed("afrt: \(n) runs do not fit") }
                for _ in 0..<n {
                    let first = try afrt.readUInt32()
                    let time = try afrt.readUInt64()
                    let duration = try afrt.readUInt32()
                    let discontinuity: UInt8? = duration == 0 ? try afrt.readUInt8() : nil
                    fragmentRuns.append(FragmentRun(firstFragment: first, firstTimestamp: time, duration: duration,
                                                    discontinuity: discontinuity))
                }
            }
            self.init(timescale: timescale, currentMediaTime: current, movieIdentifier: movie, live: flags & 0x20 != 0,
                      segmentRuns: segmentRuns, fragmentRuns: fragmentRuns)
        } catch let error as HDSError {
            throw error
        } catch {
            throw .malformed("abst: \(error)")
        }
    }

    /// The payload of the next box, which must be of `type`.
    static func box(_ r: inout ByteReader, _ type: String) throws -> ByteReader {
        let size = try r.readUInt32()
        let found = try r.readFourCC()
        guard found == type else { throw HDSError.malformed("\(type) expected") }
        guard size >= 8 else { throw HDSError.malformed("\(type) smaller than its header") }
        return try r.subReader(count: Int(size) - 8)
    }

    static func readString(_ r: inout ByteReader) throws -> String {
        guard r.remaining > 0 else { throw HDSError.malformed("string past the end of its box") }
        return r.readCString()
    }
}
