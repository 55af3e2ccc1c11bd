import MediaModel

/// One PES packet to write, decided from the sample table alone (no sample bytes).
struct PESPlan {
    /// Sample indices the PES carries: one video access unit, or a run of audio frames.
    var samples: Range<Int>
    /// 90 kHz presentation and decode time of the first sample, offset by ``Timing/offset``, unwrapped.
    var pts: Int64
    var dts: Int64
    var isSync: Bool
    /// The largest elementary stream size of the PES (exact for audio and 4-byte NAL lengths).
    var nominalPayload: Int

    var hasDTS: Bool { dts != pts }
    var nominalSize: Int { PES.headerSize(hasDTS: hasDTS) &+ nominalPayload }
}

enum Timing {
    /// Every PTS/DTS is shifted by 10 s so that early decode times and PCR stay positive.
    static let offset: Int64 = 900_000
    /// PCR runs this far (0.7 s at 90 kHz) ahead of the decode time of the PES that carries it.
    static let pcrLead: Int64 = 63_000
    /// How long (50 ms) the video PID may go without a PCR before an audio PES gets a PCR-only packet
    /// in front of it. Video at 20 fps or more never needs one; otherwise PCRs come at least once per
    /// audio PES (about 100 ms), close to the 100 ms of ISO/IEC 13818-1.
    static let maxPCRGap: Int64 = 4_500

    static func to90k(_ time: Int64, timescale: UInt32) -> Int64 {
        MediaTime.rescale(time, from: timescale, to: 90_000) &+ offset
    }
}

enum Planner {
    /// Audio frames per PES at most (about 100 ms of AAC at 48 kHz).
    static let audioFramesPerPES = 5

    /// Calls `body` with each PES of `stream` in decode order.
    static func forEachPES(_ stream: ElementaryStream, _ body: (PESPlan) -> Void) {
        let track = stream.input.track
        let table = track.samples
        let range = stream.input.samples
        switch stream.framing {
        case .annexB(let annexB):
            for i in range {
                let pt = track.presentationTime(of: i)
                let pts = Timing.to90k(pt, timescale: track.timescale)
                // A negative composition offset would put DTS after PTS; never write that.
                let dts = min(pts, Timing.to90k(pt &- Int64(table.compositionOffset(i)), timescale: track.timescale))
                let sync = table.isSync(i)
                body(PESPlan(samples: i..<(i + 1), pts: pts, dts: dts, isSync: sync,
                             nominalPayload: annexB.nominalSize(sampleSize: Int(table.sizes[i]), isSync: sync)))
            }
        case .adts, .passThrough:
            let perFrame: Int
            if case .adts = stream.framing { perFrame = ADTSHeader.size } else { perFrame = 0 }
            let maxPayload = PES.maxPacketLength - 3 - 5
            var i = range.lowerBound
            while i < range.upperBound {
                let first = i
                var payload = 0
                while i < range.upperBound && i - first < audioFramesPerPES {
                    let frame = Int(table.sizes[i]) &+ perFrame
                    if i > first && payload &+ frame > maxPayload { break }
                    payload = payload &+ frame
                    i += 1
                }
                let pts = Timing.to90k(track.presentationTime(of: first), timescale: track.timescale)
                body(PESPlan(samples: first..<i, pts: pts, dts: pts, isSync: true, nominalPayload: payload))
            }
        }
    }

    /// The 90 kHz decode time of the sample right after the input's range (the first one of the next
    /// segment), if the track has one: PCRs of this segment must not pass it (less the PCR lead), or
    /// the clock would step back where the next segment starts.
    static func nextDecodeTime(_ stream: ElementaryStream) -> Int64? {
        let track = stream.input.track
        let table = track.samples
        let next = stream.input.samples.upperBound
        guard next < table.decodeTimes.count, next < table.sizes.count,
              table.compositionOffsets.isEmpty || next < table.compositionOffsets.count else { return nil }
        let pt = track.presentationTime(of: next)
        let pts = Timing.to90k(pt, timescale: track.timescale)
        return min(pts, Timing.to90k(pt &- Int64(table.compositionOffset(next)), timescale: track.timescale))
    }

    static func plans(_ stream: ElementaryStream?) -> [PESPlan] {
        guard let stream else { return [] }
        var plans: [PESPlan] = []
        plans.reserveCapacity(stream.input.samples.count)
        forEachPES(stream) { plans.append($0) }
        return plans
    }
}
