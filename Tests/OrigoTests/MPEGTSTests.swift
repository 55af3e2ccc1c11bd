import Testing
import ByteIO
import MediaModel
@testable import MPEGTS

// MARK: - A small independent transport stream reader for the checks

/// What the tests read back from a segment.
struct ParsedTS {
    struct Packet { var index: Int; var pid: Int; var unitStart: Bool; var hasPayload: Bool; var counter: Int
        var randomAccess: Bool; var pcrBase: Int64? }
    struct PESPacket { var pid: Int; var streamID: UInt8; var lengthField: Int; var pts: Int64; var dts: Int64?
        var payload: [UInt8]; var randomAccess: Bool; var pcrBase: Int64?; var firstPacket: Int }
    struct Stream { var type: UInt8; var pid: Int; var descriptors: [UInt8] }

    var packets: [Packet] = []
    var pes: [PESPacket] = []
    var pmtStreams: [Stream] = []
    var pcrPID = -1
    var sectionsOK = true
    var counterErrors: [String] = []
    /// Last counter seen per PID on a packet with payload.
    var lastCounter: [Int: Int] = [:]

    /// CRC-32/MPEG-2 written bit by bit (independent of the module's table).
    static func crc(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            for bit in (0..<8).reversed() {
                let inBit = (UInt32(byte) >> UInt32(bit)) & 1
                let top = crc >> 31
                crc <<= 1
                if top ^ inBit == 1 { crc ^= 0x04C1_1DB7 }
            }
        }
        return crc
    }

    static func timestamp(_ b: ArraySlice<UInt8>) -> Int64 {
        let i = b.startIndex
        let high = Int64(b[i] >> 1) & 0x07
        let mid = (Int64(b[i + 1]) << 7) | Int64(b[i + 2] >> 1)
        let low = (Int64(b[i + 3]) << 7) | Int64(b[i + 4] >> 1)
        return high << 30 | mid << 15 | low
    }

    /// Parses `bytes`; `expectCounters` gives the counters the first payload packet of each PID must carry.
    init(_ bytes: [UInt8], expectCounters: [Int: Int] = [:]) {
        lastCounter = expectCounters.mapValues { ($0 + 15) & 15 }
        var open: [Int: (Packet, [UInt8])] = [:]
        var index = 0
        while index + 188 <= bytes.count {
            let p = bytes[index..<index + 188]
            index += 188
            let b = Array(p)
            guard b[0] == 0x47 else { sectionsOK = false; continue }
            let unitStart = b[1] & 0x40 != 0
            let pid = Int(b[1] & 0x1F) << 8 | Int(b[2])
            let control = (b[3] >> 4) & 3
            let counter = Int(b[3] & 0x0F)
            var offset = 4
            var randomAccess = false
            var pcr: Int64?
            if control & 2 != 0 {
                let length = Int(b[4])
                if length > 0 {
                    randomAccess = b[5] & 0x40 != 0
                    if b[5] & 0x10 != 0 {
                        pcr = Int64(b[6]) << 25 | Int64(b[7]) << 17 | Int64(b[8]) << 9 | Int64(b[9]) << 1 | Int64(b[10] >> 7)
                    }
                    for k in (6 + (pcr == nil ? 0 : 6))..<(5 + length) where b[k] != 0xFF {
                        counterErrors.append("non-0xFF stuffing on pid \(pid)")
                        break
                    }
                }
                offset = 5 + length
            }
            let hasPayload = control & 1 != 0
            if hasPayload {
                if let last = lastCounter[pid], (last + 1) & 15 != counter {
                    counterErrors.append("pid \(pid): counter \(counter) after \(last)")
                }
                lastCounter[pid] = counter
            } else if let last = lastCounter[pid], last != counter {
                counterErrors.append("pid \(pid): adaptation-only counter \(counter), last \(last)")
            }
            let packet = Packet(index: packets.count, pid: pid, unitStart: unitStart, hasPayload: hasPayload, counter: counter,
                                randomAccess: randomAccess, pcrBase: pcr)
            packets.append(packet)
            guard hasPayload, offset < 188 else { continue }
            let payload = b[offset...]
            if pid == 0 || pid == 0x1000 {
                let start = payload.startIndex + 1 + Int(payload[payload.startIndex])
                let length = Int(b[start + 1] & 0x0F) << 8 | Int(b[start + 2])
                let section = b[start..<(start + 3 + length)]
                if Self.crc(section) != 0 { sectionsOK = false }
                if pid == 0x1000 { parsePMT(Array(section)) }
                continue
            }
            if unitStart {
                if let (first, data) = open[pid] { finish(first, data) }
                open[pid] = (packet, Array(payload))
            } else {
                open[pid]?.1 += payload
            }
        }
        if index != bytes.count { sectionsOK = false }
        for pid in open.keys.sorted() { if let (first, data) = open[pid] { finish(first, data) } }
    }

    mutating func parsePMT(_ s: [UInt8]) {
        pcrPID = Int(s[8] & 0x1F) << 8 | Int(s[9])
        let infoLength = Int(s[10] & 0x0F) << 8 | Int(s[11])
        var i = 12 + infoLength
        pmtStreams = []
        while i < s.count - 4 {
            let esLength = Int(s[i + 3] & 0x0F) << 8 | Int(s[i + 4])
            pmtStreams.append(Stream(type: s[i], pid: Int(s[i + 1] & 0x1F) << 8 | Int(s[i + 2]),
                                     descriptors: Array(s[(i + 5)..<(i + 5 + esLength)])))
            i += 5 + esLength
        }
    }

    mutating func finish(_ first: Packet, _ data: [UInt8]) {
        guard data.count >= 9, data[0] == 0, data[1] == 0, data[2] == 1 else {
            counterErrors.append("bad PES start on pid \(first.pid)")
            return
        }
        let lengthField = Int(data[4]) << 8 | Int(data[5])
        let flags = data[7]
        let headerLength = Int(data[8])
        let pts = Self.timestamp(data[9..<14])
        let dts: Int64? = flags & 0x40 != 0 ? Self.timestamp(data[14..<19]) : nil
        var payload = Array(data[(9 + headerLength)...])
        if lengthField > 0 { payload = Array(payload.prefix(lengthField - 3 - headerLength)) }
        pes.append(PESPacket(pid: first.pid, streamID: data[3], lengthField: lengthField, pts: pts, dts: dts,
                             payload: payload, randomAccess: first.randomAccess, pcrBase: first.pcrBase,
                             firstPacket: first.index))
    }

    func pes(on pid: Int) -> [PESPacket] { pes.filter { $0.pid == pid } }
}

/// Splits an Annex B stream at four-byte start codes.
func nalUnits(_ bytes: [UInt8]) -> [[UInt8]] {
    var starts: [Int] = []
    var i = 0
    while i + 4 <= bytes.count {
        if bytes[i] == 0, bytes[i + 1] == 0, bytes[i + 2] == 0, bytes[i + 3] == 1 { starts.append(i + 4); i += 4 } else { i += 1 }
    }
    return starts.enumerated().map { n, s in
        Array(bytes[s..<(n + 1 < starts.count ? starts[n + 1] - 4 : bytes.count)])
    }
}

// MARK: - Synthetic media

struct SyntheticMedia {
    static let sps: [UInt8] = [0x67, 0x42, 0xC0, 0x1E, 0xD9, 0x00, 0xA0]
    static let pps: [UInt8] = [0x68, 0xCE, 0x3C, 0x80]

    var blob: [UInt8] = []
    /// NAL units of each video sample (before length prefixing).
    var videoNALs: [[[UInt8]]] = []
    var audioFrames: [[UInt8]] = []
    var video: Track
    var audio: Track

    /// 12 video frames at 25 fps (timescale 12800) in I P B B order with composition offsets, and 24
    /// AAC frames (48 kHz), stored in one blob: video samples, then audio samples.
    init(nalLengthSize: Int = 4, sizes: [Int] = [3000, 700, 150, 120, 2500, 400, 90, 60, 20, 5000, 180, 170]) {
        var vtable = SampleTable()
        let pattern: [Int32] = [1024, 2048, 512, 512]  // I/P/B/B shown 2, 4, 1, 1 frames late
        var seed: UInt32 = 7
        func next() -> UInt8 { seed = seed &* 1_103_515_245 &+ 12345; return UInt8(truncatingIfNeeded: seed >> 16) }
        for (i, size) in sizes.enumerated() {
            let sync = i % 8 == 0 || i == 9
            var nals: [[UInt8]] = []
            if i == 4 { nals.append([0x09, 0x30]) }  // an in-band delimiter, must be dropped
            if i == 8 { nals += [Self.sps, Self.pps] }  // a sync sample carrying its own parameter sets
            nals.append([0x06, 0x05, 0x01, 0x80])  // SEI
            var slice: [UInt8] = [sync ? 0x65 : 0x41]
            for _ in 0..<size { slice.append(next() | 0x01) }
            nals.append(slice)
            let offset = UInt64(blob.count)
            for nal in nals {
                var length = nal.count
                var prefix: [UInt8] = []
                for _ in 0..<nalLengthSize { prefix.insert(UInt8(length & 0xFF), at: 0); length >>= 8 }
                blob += prefix + nal
            }
            videoNALs.append(nals)
            vtable.append(decodeTime: Int64(i) * 512, duration: 512, compositionOffset: pattern[i % 4],
                          size: UInt32(UInt64(blob.count) - offset), offset: offset, isSync: sync)
        }
        let avc = AVCConfiguration(profile: 66, compatibility: 0xC0, level: 30, nalLengthSize: nalLengthSize,
                                   sps: [Self.sps], pps: [Self.pps])
        video = Track(trackID: 1, kind: .video, timescale: 12800, language: "und", sampleEntryType: "avc1",
                      sampleEntry: [], codec: .avc(avc), width: 320, height: 240, samples: vtable,
                      presentationOffset: 1024, dataSource: "mem")
        var atable = SampleTable()
        for i in 0..<24 {
            let frame = (0..<(100 + (i * 37) % 300)).map { _ in next() }
            audioFrames.append(frame)
            atable.append(decodeTime: Int64(i) * 1024, duration: 1024, compositionOffset: 0,
                          size: UInt32(frame.count), offset: UInt64(blob.count), isSync: true)
            blob += frame
        }
        let aac = AACConfiguration(objectType: 2, samplingFrequencyIndex: 3, sampleRate: 48000,
                                   channelConfiguration: 2, specificConfig: [0x11, 0x90])
        audio = Track(trackID: 2, kind: .audio, timescale: 48000, language: "eng", sampleEntryType: "mp4a",
                      sampleEntry: [], codec: .aac(aac), sampleRate: 48000, channels: 2, samples: atable,
                      dataSource: "mem")
    }

    func read(_ locator: String, _ offset: UInt64, _ count: Int) throws -> [UInt8] {
        try MemoryReader(blob).read(at: offset, count: count)
    }
}

// MARK: - Tests

@Suite struct MPEGTSTests {
    let media = SyntheticMedia()

    func write(_ inputs: [TSInput], _ start: TSContinuity = .zero) throws -> [UInt8] {
        try TransportStreamWriter.segment(inputs: inputs, continuity: start, read: media.read)
    }

    @Test func packetsPSIAndCounters() throws {
        let inputs = [TSInput(track: media.video, samples: 0..<12), TSInput(track: media.audio, samples: 0..<24)]
        let bytes = try write(inputs)
        #expect(bytes.count % 188 == 0)
        let ts = ParsedTS(bytes, expectCounters: [0: 0, 0x1000: 0, 0x100: 0, 0x101: 0])
        #expect(ts.sectionsOK)
        #expect(ts.counterErrors.isEmpty, "\(ts.counterErrors)")
        #expect(ts.packets.prefix(2).map(\.pid) == [0, 0x1000])
        #expect(ts.pcrPID == 0x100)
        #expect(ts.pmtStreams.map(\.type) == [0x1B, 0x0F])
        #expect(ts.pmtStreams.map(\.pid) == [0x100, 0x101])
        let pcrs = ts.packets.compactMap(\.pcrBase)
        #expect(zip(pcrs, pcrs.dropFirst()).allSatisfy { $1 >= $0 })
        let after = try #require(TransportStreamWriter.continuityAfter(inputs: inputs, start: .zero))
        #expect(Int(after.pat) == (ts.lastCounter[0]! + 1) & 15)
        #expect(Int(after.pmt) == (ts.lastCounter[0x1000]! + 1) & 15)
        #expect(Int(after.video) == (ts.lastCounter[0x100]! + 1) & 15)
        #expect(Int(after.audio) == (ts.lastCounter[0x101]! + 1) & 15)
    }

    @Test func countersRunOnAcrossSegments() throws {
        var state = TSContinuity.zero
        var all: [UInt8] = []
        for (v, a) in [(0..<3, 0..<6), (3..<8, 6..<15), (8..<12, 15..<24)] {
            let inputs = [TSInput(track: media.video, samples: v), TSInput(track: media.audio, samples: a)]
            all += try write(inputs, state)
            state = try #require(TransportStreamWriter.continuityAfter(inputs: inputs, start: state))
        }
        let ts = ParsedTS(all, expectCounters: [0: 0, 0x1000: 0, 0x100: 0, 0x101: 0])
        #expect(ts.counterErrors.isEmpty, "\(ts.counterErrors)")
        #expect(Int(state.video) == (ts.lastCounter[0x100]! + 1) & 15)
        #expect(Int(state.audio) == (ts.lastCounter[0x101]! + 1) & 15)
        #expect(Int(state.pat) == 3)
    }

    @Test func videoTimingAndAnnexB() throws {
        let bytes = try write([TSInput(track: media.video, samples: 0..<12), TSInput(track: media.audio, samples: 0..<24)])
        let ts = ParsedTS(bytes)
        let video = ts.pes(on: 0x100)
        #expect(video.count == 12)
        for (i, pes) in video.enumerated() {
            let track = media.video
            let pt = track.presentationTime(of: i)
            let pts = MediaTime.rescale(pt, from: 12800, to: 90000) + 900_000
            let dts = MediaTime.rescale(pt - Int64(track.samples.compositionOffset(i)), from: 12800, to: 90000) + 900_000
            #expect(pes.streamID == 0xE0)
            #expect(pes.lengthField == 0)
            #expect(pes.pts == pts)
            #expect(pes.dts == (dts == pts ? nil : dts))
            #expect(pes.pcrBase == dts - 63_000)
            #expect(pes.randomAccess == track.samples.isSync(i))
            let nals = nalUnits(pes.payload)
            var expected: [[UInt8]] = [[0x09, 0xF0]]
            if track.samples.isSync(i) && i != 8 { expected += [SyntheticMedia.sps, SyntheticMedia.pps] }
            expected += media.videoNALs[i].filter { $0.first.map { $0 & 0x1F } != 9 }
            #expect(nals == expected, "sample \(i)")
        }
    }

    @Test func audioADTSAndGrouping() throws {
        let bytes = try write([TSInput(track: media.video, samples: 0..<12), TSInput(track: media.audio, samples: 0..<24)])
        let ts = ParsedTS(bytes)
        let audio = ts.pes(on: 0x101)
        #expect(audio.count == 5)  // 24 frames, five per PES
        var frame = 0
        for pes in audio {
            #expect(pes.streamID == 0xC0)
            #expect(pes.dts == nil)
            #expect(pes.lengthField == pes.payload.count + 8)
            #expect(pes.pts == MediaTime.rescale(Int64(frame) * 1024, from: 48000, to: 90000) + 900_000)
            var r = ByteReader(pes.payload)
            while !r.isAtEnd {
                let header = try r.readBytes(7)
                #expect(header[0] == 0xFF && header[1] & 0xF6 == 0xF0 && header[1] & 0x01 == 1)
                #expect(header[2] >> 6 == 1)  // AAC-LC
                #expect((header[2] >> 2) & 0x0F == 3)
                #expect((header[2] & 1) << 2 | header[3] >> 6 == 2)
                let length = Int(header[3] & 3) << 11 | Int(header[4]) << 3 | Int(header[5] >> 5)
                #expect(try r.readBytes(length - 7) == media.audioFrames[frame])
                frame += 1
            }
        }
        #expect(frame == 24)
        // Interleaving: PES packets leave in decode-time order.
        var last: Int64 = 0
        for pes in ts.pes.sorted(by: { $0.firstPacket < $1.firstPacket }) { let t = pes.dts ?? pes.pts; #expect(t >= last); last = t }
    }

    @Test func audioOnlyCarriesPCR() throws {
        let inputs = [TSInput(track: media.audio, samples: 3..<13)]
        let bytes = try write(inputs, TSContinuity(pat: 15, pmt: 3, video: 9, audio: 14))
        let ts = ParsedTS(bytes, expectCounters: [0: 15, 0x1000: 3, 0x101: 14])
        #expect(ts.counterErrors.isEmpty, "\(ts.counterErrors)")
        #expect(ts.pcrPID == 0x101)
        #expect(ts.pmtStreams.map(\.type) == [0x0F])
        #expect(ts.pes.allSatisfy { $0.pcrBase == $0.pts - 63_000 && $0.randomAccess })
        let after = try #require(TransportStreamWriter.continuityAfter(inputs: inputs, start: TSContinuity(pat: 15, pmt: 3, video: 9, audio: 14)))
        #expect(after.pat == 0 && after.pmt == 4 && after.video == 9)
        #expect(Int(after.audio) == (ts.lastCounter[0x101]! + 1) & 15)
    }

    @Test func emptyVideoRangeStillGivesAClock() throws {
        let bytes = try write([TSInput(track: media.video, samples: 12..<12), TSInput(track: media.audio, samples: 20..<24)])
        let ts = ParsedTS(bytes)
        #expect(ts.pcrPID == 0x100)
        let clock = try #require(ts.packets.first { $0.pid == 0x100 })
        #expect(!clock.hasPayload)
        #expect(clock.pcrBase == ts.pes.first.map { $0.pts - 63_000 })
    }

    @Test func clockKeepsGoingWhenVideoIsSparse() throws {
        let bytes = try write([TSInput(track: media.video, samples: 0..<1), TSInput(track: media.audio, samples: 0..<24)])
        let ts = ParsedTS(bytes, expectCounters: [0x100: 0, 0x101: 0])
        #expect(ts.counterErrors.isEmpty, "\(ts.counterErrors)")
        let pcrs = ts.packets.compactMap { $0.pid == 0x100 ? $0.pcrBase : nil }
        #expect(pcrs.count > 3)
        #expect(zip(pcrs, pcrs.dropFirst()).allSatisfy { $1 >= $0 && $1 - $0 <= 9_600 })
        #expect(ts.packets.allSatisfy { $0.pcrBase == nil || $0.pid == 0x100 })
    }

    @Test func clockNeverStepsBackBetweenSegments() throws {
        var state = TSContinuity.zero
        var all: [UInt8] = []
        // Audio runs past the last video decode time of each segment; the next segment's first
        // video decode time is earlier than that audio (B-frame delay).
        for (v, a) in [(0..<4, 0..<9), (4..<8, 9..<17), (8..<12, 17..<24)] {
            let inputs = [TSInput(track: media.video, samples: v), TSInput(track: media.audio, samples: a)]
            all += try write(inputs, state)
            state = try #require(TransportStreamWriter.continuityAfter(inputs: inputs, start: state))
        }
        let ts = ParsedTS(all, expectCounters: [0: 0, 0x1000: 0, 0x100: 0, 0x101: 0])
        #expect(ts.counterErrors.isEmpty, "\(ts.counterErrors)")
        let pcrs = ts.packets.compactMap(\.pcrBase)
        #expect(pcrs.count > 12)
        #expect(zip(pcrs, pcrs.dropFirst()).allSatisfy { $1 >= $0 }, "\(pcrs)")
    }

    @Test func otherLengthSizesWork() throws {
        let media2 = SyntheticMedia(nalLengthSize: 2)
        let inputs = [TSInput(track: media2.video, samples: 0..<12)]
        #expect(TransportStreamWriter.continuityAfter(inputs: inputs, start: .zero) == nil)
        let bytes = try TransportStreamWriter.segment(inputs: inputs, continuity: .zero, read: media2.read)
        let ts = ParsedTS(bytes, expectCounters: [0: 0, 0x1000: 0, 0x100: 0])
        #expect(ts.counterErrors.isEmpty)
        #expect(nalUnits(ts.pes[1].payload) == [[0x09, 0xF0]] + media2.videoNALs[1])
    }

    @Test func malformedNALLengthThrows() throws {
        var blob = media.blob
        let offset = Int(media.video.samples.offsets[1])
        blob[offset] = 0x7F  // first NAL length now far past the sample
        let reader = MemoryReader(blob)
        #expect {
            _ = try TransportStreamWriter.segment(inputs: [TSInput(track: media.video, samples: 0..<4)], continuity: .zero) {
                try reader.read(at: $1, count: $2)
            }
        } throws: { error in
            guard let e = error as? MPEGTSError, case .malformedNALUnit(1, 1, _) = e else { return false }
            return e.httpStatus == 500
        }
    }

    @Test func rejectsBadInputsAndPropagatesReadErrors() throws {
        struct Boom: Error {}
        #expect(throws: MPEGTSError.self) { try write([TSInput(track: media.video, samples: 0..<13)]) }
        #expect(throws: MPEGTSError.self) { try write([TSInput(track: media.audio, samples: 0..<2), TSInput(track: media.audio, samples: 2..<4)]) }
        #expect(TransportStreamWriter.continuityAfter(inputs: [TSInput(track: media.video, samples: -1..<2)], start: .zero) == nil)
        #expect(throws: Boom.self) {
            try TransportStreamWriter.segment(inputs: [TSInput(track: media.audio, samples: 0..<2)], continuity: .zero, read: { _, _, _ in throw Boom() })
        }
        #expect(throws: MPEGTSError.self) {
            try TransportStreamWriter.segment(inputs: [TSInput(track: media.audio, samples: 0..<2)], continuity: .zero) { _, _, _ in [1, 2] }
        }
    }

    @Test func refusesAbsurdSegmentSizesBeforeReading() throws {
        let video = media.video
        var samples = SampleTable()
        for i in 0..<200 {
            samples.append(decodeTime: Int64(i) * 512, duration: 512, compositionOffset: 0,
                           size: UInt32.max, offset: 0, isSync: true)
        }
        // `samples` has a private setter since composition offsets are derived from it: rebuild.
        let track = Track(trackID: video.trackID, kind: video.kind, timescale: video.timescale, language: video.language,
                          sampleEntryType: video.sampleEntryType, sampleEntry: video.sampleEntry, codec: video.codec,
                          width: video.width, height: video.height, samples: samples, dataSource: video.dataSource)
        var reads = 0
        #expect(throws: MPEGTSError.self) {
            try TransportStreamWriter.segment(inputs: [TSInput(track: track, samples: 0..<200)], continuity: .zero) { _, _, _ in
                reads += 1
                return []
            }
        }
        #expect(reads == 0)
    }

    @Test func ac3Descriptors() throws {
        var track = media.audio
        track.codec = .ac3(specific: [0x10, 0x3D, 0xC0])  // 48 kHz, bsid 8, 3/2 + LFE, 384 kbit/s
        let bytes = try write([TSInput(track: track, samples: 0..<6)])
        let ts = ParsedTS(bytes)
        #expect(ts.pmtStreams.first?.type == 0x81)
        #expect(ts.pmtStreams.first?.descriptors.prefix(6) == [0x05, 0x04, 0x41, 0x43, 0x2D, 0x33])
        #expect(ts.pes.first?.streamID == 0xBD)
        #expect(ts.pes.flatMap(\.payload) == Array(media.audioFrames.prefix(6).joined()))
    }

    @Test func crcMatchesKnownValue() {
        // CRC-32/MPEG-2 check value of "123456789".
        #expect(CRC32MPEG2.checksum(Array("123456789".utf8)) == 0x0376_E6E7)
    }
}

/// HLS SAMPLE-AES signalling and framing in the TS writer.
@Suite struct MPEGTSSampleEncryptionTests {
    @Test func eac3SamplesSplitIntoTheirSyncframes() {
        // Two syncframes of 4 and 3 words (frmsiz 3 and 2), then a sample that does not tile.
        let two: [UInt8] = [0x0B, 0x77, 0x00, 0x03, 1, 2, 3, 4] + [0x0B, 0x77, 0x08, 0x02, 5, 6]
        #expect(two.withUnsafeBytes { SampleEncryptionSignal.eac3Syncframes($0) } == [0..<8, 8..<14])
        let broken: [UInt8] = [0x0B, 0x77, 0x00, 0x09, 1, 2]
        #expect(broken.withUnsafeBytes { SampleEncryptionSignal.eac3Syncframes($0) } == [0..<6])
    }

    @Test func encryptedStreamsAreSignalledAsAppleDefines() throws {
        let aac = AACConfiguration(objectType: 5, samplingFrequencyIndex: 3, sampleRate: 48000, channelConfiguration: 2,
                                   specificConfig: [0x2B, 0x92, 0x08, 0x00])
        let signal = try #require(SampleEncryptionSignal.signal(.aac(aac)))
        #expect(signal.streamType == 0xCF)
        #expect(signal.descriptors == [0x0F, 0x04] + Array("aacd".utf8) + [0x05, 16] + Array("apadzach".utf8)
                + [0, 0, 1, 4, 0x2B, 0x92, 0x08, 0x00])
        #expect(SampleEncryptionSignal.signal(.eac3(specific: [1, 2, 3]))?.streamType == 0xC2)
        #expect(SampleEncryptionSignal.signal(.other) == nil)
    }
}
