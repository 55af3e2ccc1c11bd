import ByteIO
import MediaModel

/// Writes HDS fragments (F4F, Adobe F4V/F4F specification 10.1): `afra`, `moof`, `mdat`.
///
/// The `mdat` holds FLV tags in decode order: an AVC sequence header (the `avcC` record) and an AAC
/// sequence header (the AudioSpecificConfig) first, so every fragment decodes on its own, then
/// the samples of the fragment's tracks interleaved by timestamp (AVC NAL units with key frame flag
/// and composition time offset, raw AAC frames). Each tag is followed by its `PreviousTagSize`, so
/// the `mdat` payloads of consecutive fragments, appended to an FLV file header, make an FLV file.
///
/// Sample payloads stay file ranges of the source (sendfile); only tag headers are generated.
/// The `afra` box lists the key frames (for audio-only fragments, the first tag) with their byte
/// offset from the start of the fragment. `moof` is a minimal `mfhd` (the fragment number) plus a
/// `traf` with a `tfhd`: HDS clients read the FLV tags, not the ISO sample tables. No `abst` is
/// repeated in fragments: for video on demand the manifest's bootstrap is all a client needs.
public enum F4FWriter {
    /// One track of a fragment and its samples.
    public struct Input: Sendable {
        public var track: Track
        public var samples: Range<Int>
        public init(track: Track, samples: Range<Int>) {
            self.track = track
            self.samples = samples
        }
    }

    /// Fragment `number` (from 1) of `inputs` on `timeline`. Throws ``HDSError/cannotCarry(_:)`` for
    /// codecs FLV cannot carry and samples larger than a tag.
    public static func fragment(_ inputs: [Input], number: Int, timeline: HDSTimeline) throws(HDSError) -> [BodyPiece] {
        var codecs: [FLVCodec] = []
        for input in inputs {
            guard let codec = FLVCodec(track: input.track) else {
                throw .cannotCarry("\(input.track.sampleEntryType) (track \(input.track.trackID)) in FLV")
            }
            guard input.samples.lowerBound >= 0, input.samples.upperBound <= input.track.samples.count else {
                throw .cannotCarry("sample range \(input.samples) of track \(input.track.trackID)")
            }
            codecs.append(codec)
        }
        let samples = timeline.samples

        // Every sample of the fragment, in timestamp order (audio before video at equal times).
        struct Tag { var time: Int64; var input: Int; var sample: Int }
        var tags: [Tag] = []
        tags.reserveCapacity(inputs.reduce(0) { $0 + $1.samples.count })
        for (k, input) in inputs.enumerated() {
            for i in input.samples { tags.append(Tag(time: samples.start(of: i, in: input.track), input: k, sample: i)) }
        }
        func rank(_ k: Int) -> Int { inputs[k].track.kind == .audio ? 0 : 1 }
        tags.sort { ($0.time, rank($0.input), $0.sample) < ($1.time, rank($1.input), $1.sample) }
        let fragmentIndex = number - 1
        let nominalStart = fragmentIndex >= 0 && fragmentIndex < timeline.count ? timeline.starts[fragmentIndex] : 0
        let headerTime = min(tags.first?.time ?? nominalStart, nominalStart)

        var body = Body()
        var randomAccess: [(time: Int64, position: UInt64)] = []
        // Sequence headers: video first, then audio.
        for (k, codec) in codecs.enumerated() where inputs[k].track.kind == .video {
            if case .avc(let record) = codec {
                try body.tag(type: FLVTag.video, time: headerTime, prefix: { FLVTag.writeAVCPrefix(&$0, keyFrame: true, sequenceHeader: true, compositionTime: 0) },
                             prefixSize: 5, payload: .bytes(record))
            }
        }
        for (k, codec) in codecs.enumerated() where inputs[k].track.kind == .audio {
            if case .aac(let config) = codec {
                try body.tag(type: FLVTag.audio, time: headerTime, prefix: { FLVTag.writeAACPrefix(&$0, sequenceHeader: true) },
                             prefixSize: 2, payload: .bytes(config))
            }
        }
        let hasVideo = inputs.contains { $0.track.kind == .video && !$0.samples.isEmpty }
        for tag in tags {
            let track = inputs[tag.input].track
            let s = track.samples
            let piece = BodyPiece.file(locator: track.dataSource, offset: s.offsets[tag.sample], length: UInt64(s.sizes[tag.sample]))
            if track.kind == .video {
                let key = s.isSync(tag.sample)
                let presented = MediaTime.rescale(track.presentationTime(of: tag.sample), from: track.timescale,
                                                  to: HDSTimeline.timescale) &+ timeline.offset
                if key { randomAccess.append((tag.time, body.position)) }
                try body.tag(type: FLVTag.video, time: tag.time,
                             prefix: { FLVTag.writeAVCPrefix(&$0, keyFrame: key, sequenceHeader: false, compositionTime: max(presented &- tag.time, 0)) },
                             prefixSize: 5, payload: piece)
            } else {
                if !hasVideo && randomAccess.isEmpty { randomAccess.append((tag.time, body.position)) }
                try body.tag(type: FLVTag.audio, time: tag.time, prefix: { FLVTag.writeAACPrefix(&$0, sequenceHeader: false) },
                             prefixSize: 2, payload: piece)
            }
        }
        body.flush()

        // afra + moof + mdat header, then the tags.
        let afraSize = 8 + 4 + 1 + 4 + 4 + randomAccess.count * 16
        let moofSize = 48
        let mdatPayload = body.position
        let wideMdat = mdatPayload > UInt64(UInt32.max) - 16
        let mdatHeader = wideMdat ? 16 : 8
        let tagsStart = UInt64(afraSize + moofSize + mdatHeader)
        var w = ByteWriter(capacity: afraSize + moofSize + mdatHeader)
        w.withSizePrefix32 { w in
            w.writeFourCC("afra")
            w.writeUInt32(0)                                // version 0, flags 0
            w.writeUInt8(0x40)                              // LongIDs 0, LongOffsets 1, GlobalEntries 0
            w.writeUInt32(HDSTimeline.timescale)
            w.writeUInt32(UInt32(clamping: randomAccess.count))
            for entry in randomAccess {
                w.writeUInt64(UInt64(clamping: entry.time))
                w.writeUInt64(tagsStart &+ entry.position)
            }
        }
        w.withSizePrefix32 { w in
            w.writeFourCC("moof")
            w.withSizePrefix32 { w in
                w.writeFourCC("mfhd")
                w.writeUInt32(0)
                w.writeUInt32(UInt32(clamping: number))
            }
            w.withSizePrefix32 { w in
                w.writeFourCC("traf")
                w.withSizePrefix32 { w in
                    w.writeFourCC("tfhd")
                    w.writeUInt32(0)
                    w.writeUInt32(1)                        // track_ID
                }
            }
        }
        if wideMdat {
            w.writeUInt32(1); w.writeFourCC("mdat"); w.writeUInt64(mdatPayload &+ 16)
        } else {
            w.writeUInt32(UInt32(mdatPayload) + 8); w.writeFourCC("mdat")
        }
        var pieces = body.pieces
        if case .bytes(let first)? = pieces.first {
            pieces[0] = .bytes(w.take() + first)
        } else {
            pieces.insert(.bytes(w.take()), at: 0)
        }
        return pieces
    }

    /// The audio samples of fragment `index` when muxed with `video`: those whose tag timestamp
    /// falls between the decode times of the fragment's first video frame and of the next
    /// fragment's, so the tags of consecutive fragments stay in timestamp order (video frames are
    /// cut at presentation times, and with B-frames a key frame's decode time lies a little
    /// earlier). `ranges` are the segmentation's sample ranges per segment; an empty video range
    /// keeps the segmentation's audio range.
    public static func audioSamples(_ audio: Track, ranges audioRanges: [Range<Int>], muxedWith video: Track,
                                    ranges videoRanges: [Range<Int>], index: Int, timeline: HDSTimeline) -> Range<Int> {
        guard index >= 0, index < audioRanges.count, index < videoRanges.count else { return 0..<0 }
        let fallback = audioRanges[index]
        let samples = timeline.samples
        func boundary(_ k: Int) -> Int? {
            guard k < videoRanges.count else { return audio.samples.count }
            let range = videoRanges[k]
            guard !range.isEmpty, range.lowerBound < video.samples.count else { return nil }
            let time = samples.start(of: range.lowerBound, in: video)
            // The first audio sample whose tag time is at or after `time`.
            var lo = 0, hi = audio.samples.count
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                if samples.start(of: mid, in: audio) < time { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        guard let upper = boundary(index + 1) else { return fallback }
        let lower = index == 0 ? 0 : boundary(index)
        guard let lower else { return fallback }
        return lower..<max(lower, upper)
    }

    /// The `mdat` payload being built: generated bytes collect in `pending` until a file range
    /// needs to follow them.
    struct Body {
        var pieces: [BodyPiece] = []
        var pending = ByteWriter(capacity: 4096)
        /// Bytes of payload so far.
        var position: UInt64 = 0

        mutating func tag(type: UInt8, time: Int64, prefix: (inout ByteWriter) -> Void, prefixSize: Int,
                          payload: BodyPiece) throws(HDSError) {
            let length = payload.length
            guard length <= UInt64(FLVTag.maxDataSize - prefixSize) else {
                throw .cannotCarry("a \(length)-byte sample in one FLV tag")
            }
            let dataSize = prefixSize + Int(length)
            FLVTag.writeHeader(&pending, type: type, dataSize: dataSize, timestamp: time)
            prefix(&pending)
            switch payload {
            case .bytes(let b):
                pending.write(b)
            case .file:
                if length > 0 {
                    flush()
                    pieces.append(payload)
                }
            }
            pending.writeUInt32(UInt32(FLVTag.headerSize + dataSize))
            position &+= UInt64(FLVTag.headerSize + dataSize + 4)
        }

        mutating func flush() {
            guard pending.count > 0 else { return }
            pieces.append(.bytes(pending.take()))
        }
    }
}
