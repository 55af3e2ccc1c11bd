import ByteIO
import MediaModel

/// Text tracks built from cues, held in memory (``Track/inlineData``): consecutive,
/// non-overlapping sample intervals covering `0 ..< end` that break at every cue start and end
/// and at every requested split time, each holding the cues active over its whole interval.
/// A segmentation that cuts at the split times (the video's key frames) then cuts between
/// samples, so every output format, and a subclip, cuts the text exactly where it cuts the video.
public enum CueTrack {
    /// What the samples hold.
    public enum Format: Sendable, Equatable {
        /// ISO/IEC 14496-30 WebVTT (`wvtt`): `vttc` boxes, `vtte` where no cue is shown.
        case webVTT
        /// ISO/IEC 14496-30 TTML (`stpp`, `stpp.ttml.im1t`): one TTML document per sample with
        /// the active cues cut to the sample's interval, timed on the track's presentation
        /// timeline; `language` is the document's `xml:lang` (a BCP 47 tag).
        case ttml(language: String)
    }

    /// Largest sample data a built track may hold (cues repeat in every interval they span).
    public static let defaultMaxBytes = 64 << 20

    /// A text track of `cues` (milliseconds) in `timescale` covering `0 ..< end` (track units)
    /// whose samples also break at every time in `splits` (track units). Cues are clipped to
    /// `end`. Throws ``SubtitleError`` when the sample data would exceed `maxBytes`.
    public static func track(_ format: Format, cues: [Cue], trackID: UInt32, language: String, timescale: UInt32,
                             end: Int64, splits: [Int64], name: String,
                             maxBytes: Int = defaultMaxBytes) throws(SubtitleError) -> Track {
        guard timescale > 0 else { throw SubtitleError(.malformed, "text track timescale 0") }
        let built: (SampleTable, [UInt8])?
        let entry: [UInt8]
        let type: String
        switch format {
        case .webVTT:
            built = intervals(cues: cues, timescale: timescale, end: end, splits: splits, maxBytes: maxBytes) { active, _, _ in
                WebVTTTrack.payload(active)
            }
            entry = WebVTTTrack.sampleEntry()
            type = "wvtt"
        case .ttml(let tag):
            built = intervals(cues: cues, timescale: timescale, end: end, splits: splits, maxBytes: maxBytes) { active, from, to in
                TTMLTrack.payload(active, from: MediaTime.rescale(from, from: timescale, to: 1000),
                                  to: MediaTime.rescale(to, from: timescale, to: 1000), language: tag)
            }
            entry = TTMLTrack.sampleEntry()
            type = "stpp"
        }
        guard let (table, data) = built else {
            throw SubtitleError(.tooLarge, "text track built from \(cues.count) cues would exceed \(maxBytes) bytes")
        }
        var track = Track(trackID: trackID, kind: .text, timescale: timescale, language: language,
                          sampleEntryType: type, sampleEntry: entry, codec: .other,
                          samples: table, dataSource: "memory:" + name)
        track.inlineData = data
        return track
    }

    /// The sample table and bytes of the intervals of `cues` (see the type's description):
    /// `payload(active, from, to)` gives the bytes of the interval `from ..< to` (track units)
    /// where the cues `active` (in start order) are shown. Nil when the bytes exceed `maxBytes`.
    static func intervals(cues: [Cue], timescale: UInt32, end: Int64, splits: [Int64], maxBytes: Int,
                          payload: ([Cue], Int64, Int64) -> [UInt8]) -> (SampleTable, [UInt8])? {
        struct Timed { var start: Int64; var end: Int64; var cue: Cue }
        let timed = cues.compactMap { cue -> Timed? in
            let s = max(MediaTime.rescale(cue.start, from: 1000, to: timescale), 0)
            let e = min(MediaTime.rescale(cue.end, from: 1000, to: timescale), end)
            return e > s ? Timed(start: s, end: e, cue: cue) : nil
        }.sorted { $0.start < $1.start }
        var bounds: [Int64] = [0, end]
        for t in timed { bounds.append(t.start); bounds.append(t.end) }
        for s in splits where s > 0 && s < end { bounds.append(s) }
        bounds.sort()
        var unique: [Int64] = []
        unique.reserveCapacity(bounds.count)
        for b in bounds where b >= 0 && b <= end && unique.last != b { unique.append(b) }

        var table = SampleTable()
        table.reserveCapacity(unique.count)
        var data: [UInt8] = []
        var active: [Timed] = []
        var next = 0
        for k in 0..<max(unique.count - 1, 0) {
            let from = unique[k], to = unique[k + 1]
            active.removeAll { $0.end <= from }
            while next < timed.count, timed[next].start <= from {
                if timed[next].end > from { active.append(timed[next]) }
                next += 1
            }
            let offset = UInt64(data.count)
            let bytes = payload(active.map(\.cue), from, to)
            guard bytes.count <= maxBytes &- data.count else { return nil }
            data.append(contentsOf: bytes)
            // Durations are 32-bit; longer gaps (over 13 h at 90 kHz) are clamped, which only
            // shortens an empty interval at the very end of absurdly long media.
            table.append(decodeTime: from, duration: UInt32(clamping: to &- from), compositionOffset: 0,
                         size: UInt32(clamping: bytes.count), offset: offset, isSync: true)
        }
        return (table, data)
    }
}
