import MediaModel

/// A representation's `SegmentTimeline`: `S` runs of equal durations, with explicit `t` only where
/// a segment does not start where the previous one ended.
struct Timeline: Equatable, Sendable {
    struct Run: Equatable, Sendable {
        var start: Int64
        var duration: Int64
        var repeats: Int
        var explicitStart: Bool
    }

    let timescale: UInt32
    /// Media time at presentation time zero (`presentationTimeOffset`): segment times are media times.
    let presentationTimeOffset: Int64
    let runs: [Run]
    /// Presentation time where the last segment ends.
    let end: Int64
    let maxDuration: Int64

    init(_ stats: SegmentStats, presentationTimeOffset: Int64 = 0) {
        timescale = stats.timescale
        self.presentationTimeOffset = presentationTimeOffset
        var runs: [Run] = []
        var next: Int64? = nil
        for k in 0..<stats.count where !stats.ranges[k].isEmpty {
            let start = stats.starts[k] &+ presentationTimeOffset, duration = stats.durations[k]
            if var last = runs.last, next == start, last.duration == duration {
                last.repeats += 1
                runs[runs.count - 1] = last
            } else {
                runs.append(Run(start: start, duration: duration, repeats: 0, explicitStart: next != start))
            }
            next = start &+ duration
        }
        self.runs = runs
        end = (next ?? presentationTimeOffset) &- presentationTimeOffset
        maxDuration = stats.maxDuration
    }

    var endSeconds: Double { MediaTime.seconds(end, timescale: timescale) }
    var maxDurationSeconds: Double { MediaTime.seconds(maxDuration, timescale: timescale) }
}
