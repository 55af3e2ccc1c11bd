/// Durations and sizes of one track's segments, as manifests need them.
public struct SegmentStats: Sendable {
    /// The track's sample range of each segment (see ``Segmentation/sampleRanges(for:)``).
    public let ranges: [Range<Int>]
    /// Presentation start of each segment's first sample, track timescale (0 for empty segments).
    public let starts: [Int64]
    /// Sum of the sample durations of each segment, track timescale.
    public let durations: [Int64]
    /// Payload bytes of each segment.
    public let bytes: [UInt64]
    public let timescale: UInt32

    public init(track: Track, segmentation: Segmentation) {
        let ranges = segmentation.sampleRanges(for: track)
        var starts: [Int64] = [], durations: [Int64] = [], bytes: [UInt64] = []
        starts.reserveCapacity(ranges.count)
        durations.reserveCapacity(ranges.count)
        bytes.reserveCapacity(ranges.count)
        let s = track.samples
        for range in ranges {
            var d: Int64 = 0, b: UInt64 = 0
            for i in range {
                d &+= Int64(s.durations[i])
                b &+= UInt64(s.sizes[i])
            }
            starts.append(range.isEmpty ? 0 : track.presentationTime(of: range.lowerBound))
            durations.append(d)
            bytes.append(b)
        }
        self.ranges = ranges
        self.starts = starts
        self.durations = durations
        self.bytes = bytes
        self.timescale = track.timescale
    }

    public var count: Int { ranges.count }
    public var totalDuration: Int64 { durations.reduce(0, &+) }
    public var totalBytes: UInt64 { bytes.reduce(0, &+) }
    public var maxDuration: Int64 { durations.max() ?? 0 }

    /// Bits per second over the whole track.
    public var averageBitrate: Int {
        let seconds = MediaTime.seconds(totalDuration, timescale: timescale)
        return seconds > 0 ? Bitrate.clamped(Double(totalBytes) * 8 / seconds, rule: .up) : 0
    }

    /// The highest bitrate of any one segment (what HLS `BANDWIDTH` means).
    public var peakBitrate: Int {
        var peak = 0.0
        for k in 0..<count where durations[k] > 0 {
            peak = max(peak, Double(bytes[k]) * 8 / MediaTime.seconds(durations[k], timescale: timescale))
        }
        return Bitrate.clamped(peak, rule: .up)
    }
}
