import ByteIO
import MediaModel

/// Writes HLS MPEG-2 transport stream segments (ISO/IEC 13818-1) from media model samples:
/// PAT and PMT first, then one PES per video access unit (Annex B, with access unit delimiters and
/// parameter sets at sync samples) and one PES per few audio frames (ADTS for AAC, AC-3/E-AC-3 as is),
/// interleaved in decode order, PCR on the video PID (the audio PID when there is no video).
///
/// Every packet count follows from sample sizes and codec configuration, so the continuity counters
/// after a segment can be computed without reading media (``continuityAfter(inputs:start:)``).
public enum TransportStreamWriter {
    /// The 90 kHz timestamp every segment gives presentation time zero (PTS = time + this), so
    /// WebVTT segments can map their cue times onto the TS timeline (`X-TIMESTAMP-MAP`).
    public static let timestampOffset: Int64 = Timing.offset

    /// The largest segment this writer builds (sizes come from the index, which may be corrupt;
    /// a 10 s segment at 100 Mbit/s is about 125 MB).
    public static let maxSegmentBytes = 512 << 20

    /// One HLS segment holding the given sample ranges of up to one video and one audio track, muxed.
    /// `read(locator, offset, count)` returns sample bytes from a track's dataSource; its errors propagate.
    ///
    /// With `buffers`, the packets are written in place into a buffer taken from the pool (the one
    /// copy of the payload goes into memory that is reused; give it back once sent) and the PES
    /// scratch buffer comes from the pool and goes back to it.
    public static func segment(inputs: [TSInput], continuity: TSContinuity, buffers: ByteBufferPool? = nil,
                               encrypter: (any TSSampleEncrypter)? = nil,
                               read: (String, UInt64, Int) throws -> [UInt8]) throws -> [UInt8] {
        try segment(inputs: inputs, continuity: continuity, buffers: buffers, encrypter: encrypter) {
            .owned(try read($0, $1, $2))
        }
    }

    /// As above, with sample bytes that `runs(locator, offset, count)` may lend (``SampleRun``).
    ///
    /// With `encrypter` (HLS SAMPLE-AES), the PMT signals encrypted streams and every video NAL unit
    /// and audio frame passes through it. A video access unit may then grow (emulation prevention
    /// after encryption) and take a packet more than planned: the video PID's continuity counter
    /// then steps at the next segment's start, where counters come from the plan.
    public static func segment(inputs: [TSInput], continuity: TSContinuity, buffers: ByteBufferPool? = nil,
                               encrypter: (any TSSampleEncrypter)? = nil,
                               runs read: (String, UInt64, Int) throws -> SampleRun) throws -> [UInt8] {
        let (video, audio) = try ElementaryStream.streams(inputs, encrypted: encrypter != nil)
        let videoPlans = Planner.plans(video)
        let audioPlans = Planner.plans(audio)
        let audioCarriesPCR = video == nil

        // Size the output once: PAT, PMT, every PES, and a PCR-only packet per audio PES at most.
        var packets = 2 &+ (video == nil ? 0 : audioPlans.count)
        var largestPES = 0
        for plan in videoPlans {
            packets &+= Packetizer.packetCount(plan.nominalSize, firstAdaptation: Packetizer.pcrAdaptationSize)
            largestPES = max(largestPES, plan.nominalSize)
        }
        let audioAdaptation = audioCarriesPCR ? Packetizer.pcrAdaptationSize : 0
        for plan in audioPlans {
            packets &+= Packetizer.packetCount(plan.nominalSize, firstAdaptation: audioAdaptation)
            largestPES = max(largestPES, plan.nominalSize)
        }
        let (estimate, overflow) = packets.multipliedReportingOverflow(by: Packetizer.packetSize)
        guard !overflow, estimate >= 0, estimate <= maxSegmentBytes else {
            throw MPEGTSError.invalidInput("segment of about \(packets) packets exceeds \(maxSegmentBytes) bytes")
        }
        var out = PacketBuffer(reusing: buffers?.takeForOverwrite(minimumCount: estimate) ?? [], expected: estimate)
        var pes = buffers?.take(minimumCapacity: largestPES) ?? []
        pes.reserveCapacity(largestPES)
        defer { buffers?.give(pes) }
        do {
            try mux(video: video, videoPlans: videoPlans, audio: audio, audioPlans: audioPlans, continuity: continuity,
                    pes: &pes, encrypter: encrypter, read: read, to: &out)
        } catch {
            buffers?.give(out.finish())
            throw error
        }
        return out.finish()
    }

    /// PAT, PMT and the PES packets of both streams interleaved in decode order, into `out`.
    private static func mux(video: ElementaryStream?, videoPlans: [PESPlan], audio: ElementaryStream?,
                            audioPlans: [PESPlan], continuity: TSContinuity, pes: inout [UInt8],
                            encrypter: (any TSSampleEncrypter)?,
                            read: (String, UInt64, Int) throws -> SampleRun, to out: inout PacketBuffer) throws {
        let audioCarriesPCR = video == nil
        var units: [Range<Int>] = []

        var videoFetcher = video.map { SampleFetcher($0.input) }
        var audioFetcher = audio.map { SampleFetcher($0.input) }
        // Encrypted AC-3 signals its setup from the segment's first syncframe.
        if let audio, audio.encrypted, case .ac3 = audio.input.track.codec, let first = audioPlans.first?.samples.first {
            try audioFetcher?.withSample(first, read: read) { audio.descriptors += SampleEncryptionSignal.ac3Setup(frame: $0) }
        }

        var counters = continuity
        let streams = [video, audio].compactMap { $0 }
        let pcrPID = video?.pid ?? ElementaryStream.audioPID
        Packetizer.appendSection(PSI.patSection(), pid: PSI.patPID, counter: counters.pat, to: &out)
        counters.pat = TSContinuity.advance(counters.pat, by: 1)
        Packetizer.appendSection(PSI.pmtSection(pcrPID: pcrPID, streams: streams), pid: PSI.pmtPID,
                                 counter: counters.pmt, to: &out)
        counters.pmt = TSContinuity.advance(counters.pmt, by: 1)

        var v = 0
        var a = 0
        var lastPCR: Int64?
        let clockLimit = video.flatMap(Planner.nextDecodeTime)
        while v < videoPlans.count || a < audioPlans.count {
            let takeVideo = a >= audioPlans.count || (v < videoPlans.count && videoPlans[v].dts <= audioPlans[a].dts)
            // Fetchers are used in place (optional chaining): a copy would retain every column of
            // the sample table and the read buffer once per PES.
            if takeVideo, let video, videoFetcher != nil, case .annexB(let annexB) = video.framing {
                let plan = videoPlans[v]
                v += 1
                pes.removeAll(keepingCapacity: true)
                units.removeAll(keepingCapacity: true)
                PES.appendHeader(streamID: video.streamID, pts: plan.pts, dts: plan.hasDTS ? plan.dts : nil,
                                 payloadSize: 0, unbounded: true, to: &pes)
                // One access unit per video PES (Planner): its NAL units go from the sample's bytes
                // straight into the packets.
                guard plan.samples.count == 1, let index = plan.samples.first else {
                    throw MPEGTSError.invalidInput("video PES of \(plan.samples.count) samples")
                }
                try videoFetcher?.withSample(index, read: read) { sample in
                    try annexB.gather(sample: sample, isSync: plan.isSync, trackID: video.input.track.trackID,
                                      index: index, head: &pes, units: &units)
                    if let encrypter {
                        // Encrypted NAL units are new bytes: the PES is assembled in one buffer.
                        for unit in units {
                            pes.append(contentsOf: AnnexB.startCode)
                            try encrypter.appendVideoNAL(UnsafeRawBufferPointer(rebasing: sample[unit]), to: &pes)
                        }
                        pes.withUnsafeBufferPointer { bytes in
                            var contiguous = ContiguousPES(bytes)
                            write(&contiguous, plan: plan, pid: video.pid, randomAccess: plan.isSync,
                                  pcr: plan.dts &- Timing.pcrLead, counter: &counters.video, to: &out)
                        }
                        return
                    }
                    pes.withUnsafeBufferPointer { head in
                        units.withUnsafeBufferPointer { units in
                            var gathered = GatheredPES(head: head, units: units, source: sample)
                            write(&gathered, plan: plan, pid: video.pid, randomAccess: plan.isSync,
                                  pcr: plan.dts &- Timing.pcrLead, counter: &counters.video, to: &out)
                        }
                    }
                }
                lastPCR = plan.dts
            } else if let audio, audioFetcher != nil, a < audioPlans.count {
                let plan = audioPlans[a]
                a += 1
                // Audio ahead of the video (or no video in this range, or sparse video): keep the
                // clock on the video PID going with packets that carry only a PCR, never past the
                // first PCR of the next segment.
                if let video, lastPCR.map({ plan.dts &- $0 > Timing.maxPCRGap }) ?? true {
                    let clock = min(plan.dts, clockLimit ?? plan.dts)
                    Packetizer.appendPCROnly(pid: video.pid, pcrBase: clock &- Timing.pcrLead,
                                             nextCounter: counters.video, to: &out)
                    lastPCR = plan.dts
                }
                pes.removeAll(keepingCapacity: true)
                PES.appendHeader(streamID: audio.streamID, pts: plan.pts, dts: nil,
                                 payloadSize: plan.nominalPayload, unbounded: false, to: &pes)
                for index in plan.samples {
                    let frameStart = pes.count
                    var headerLength = 0
                    var syncframes: [Range<Int>]? = nil
                    try audioFetcher?.withSample(index, read: read) { sample in
                        if encrypter != nil, case .eac3 = audio.input.track.codec {
                            syncframes = SampleEncryptionSignal.eac3Syncframes(sample)
                        }
                        if case .adts(let header) = audio.framing {
                            guard sample.count &+ ADTSHeader.size <= ADTSHeader.maxFrameLength else {
                                throw MPEGTSError.malformedAudioFrame(
                                    trackID: audio.input.track.trackID, sample: index,
                                    reason: "\(sample.count) bytes do not fit an ADTS frame")
                            }
                            header.append(payloadSize: sample.count, to: &pes)
                            headerLength = ADTSHeader.size
                        }
                        pes.append(contentsOf: sample)
                    }
                    for frame in syncframes ?? [0..<(pes.count &- frameStart)] {
                        try encrypter?.encryptAudioFrame(&pes, frame: (frameStart &+ frame.lowerBound)..<(frameStart &+ frame.upperBound),
                                                         headerLength: headerLength)
                    }
                }
                pes.withUnsafeBufferPointer { bytes in
                    var contiguous = ContiguousPES(bytes)
                    write(&contiguous, plan: plan, pid: audio.pid, randomAccess: audioCarriesPCR,
                          pcr: audioCarriesPCR ? plan.dts &- Timing.pcrLead : nil, counter: &counters.audio, to: &out)
                }
            } else {
                break
            }
        }
    }

    /// Packetizes one PES into as many packets as its nominal size needs, so that packet counts (and
    /// continuity counters) never depend on what the sample bytes turned out to contain.
    private static func write(_ pes: inout some PESBytes, plan: PESPlan, pid: UInt16, randomAccess: Bool, pcr: Int64?,
                              counter: inout UInt8, to out: inout PacketBuffer) {
        let adaptation = pcr != nil ? Packetizer.pcrAdaptationSize : (randomAccess ? Packetizer.flagsAdaptationSize : 0)
        // Only when a sample shrank to almost nothing does the PES need fewer packets than planned:
        // the packetizer pads it with zero bytes (valid after Annex B NAL units).
        let packets = max(Packetizer.packetCount(pes.count, firstAdaptation: adaptation),
                          Packetizer.packetCount(plan.nominalSize, firstAdaptation: adaptation))
        Packetizer.appendPES(&pes, packets: packets, pid: pid, randomAccess: randomAccess, pcrBase: pcr,
                             counter: &counter, to: &out)
    }

    /// The counters after writing that segment, computed without reading sample data (from sizes and
    /// codec configurations), or nil when the sizes are not known without the data (NAL length size
    /// other than 4) or the inputs cannot be written at all.
    public static func continuityAfter(inputs: [TSInput], start: TSContinuity) -> TSContinuity? {
        guard let (video, audio) = try? ElementaryStream.streams(inputs) else { return nil }
        var counters = start
        counters.pat = TSContinuity.advance(counters.pat, by: 1)
        counters.pmt = TSContinuity.advance(counters.pmt, by: 1)
        if let video {
            guard case .annexB(let annexB) = video.framing, annexB.sizeIsExact else { return nil }
            var packets = 0
            Planner.forEachPES(video) {
                packets &+= Packetizer.packetCount($0.nominalSize, firstAdaptation: Packetizer.pcrAdaptationSize)
            }
            counters.video = TSContinuity.advance(counters.video, by: packets)
        }
        if let audio {
            let adaptation = video == nil ? Packetizer.pcrAdaptationSize : 0
            var packets = 0
            Planner.forEachPES(audio) { packets &+= Packetizer.packetCount($0.nominalSize, firstAdaptation: adaptation) }
            counters.audio = TSContinuity.advance(counters.audio, by: packets)
        }
        return counters
    }
}
