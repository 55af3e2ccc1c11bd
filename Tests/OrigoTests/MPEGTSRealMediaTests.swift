import Foundation
import Testing
import ByteIO
import MediaModel
import MPEGTS

/// A check against real media, run by hand: `ORIGO_TS_SAMPLES=x.samples` names a description of an
/// H.264/HEVC + AAC/AC-3/E-AC-3 MP4 made with ffprobe (lines `V|A <timescale> <codec> <avcC|hvcC|ASC hex or ->` and
/// `P <stream> <pts> <dts> <size> <pos> <flags>`); the MP4 itself sits next to it with the extension
/// `.mp4`. The test writes `<name>-1.ts`, `<name>-2.ts` (two segments with running counters) and
/// `<name>-all.ts`, to be checked with `ffmpeg -v error -i <name>-all.ts -f null -`.
@Suite struct MPEGTSRealMediaTests {
    static let samplesPath = ProcessInfo.processInfo.environment["ORIGO_TS_SAMPLES"]

    static func hex(_ text: Substring) -> [UInt8] {
        var out: [UInt8] = []
        var i = text.startIndex
        while i < text.endIndex, let j = text.index(i, offsetBy: 2, limitedBy: text.endIndex),
              let byte = UInt8(text[i..<j], radix: 16) {
            out.append(byte)
            i = j
        }
        return out
    }

    @Test(.enabled(if: samplesPath != nil)) func muxesRealH264AndAAC() throws {
        let path = try #require(Self.samplesPath)
        let base = String(path.dropLast(".samples".count))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var vTimescale: UInt32 = 0, aTimescale: UInt32 = 0
        var avcC: [UInt8] = [], asc: [UInt8] = []
        var vCodec = "", aCodec = ""
        var tables = [SampleTable(), SampleTable()]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            switch f.first {
            case "V": vTimescale = UInt32(f[1]) ?? 0; vCodec = String(f[2]); avcC = Self.hex(f[3])
            case "A": aTimescale = UInt32(f[1]) ?? 0; aCodec = String(f[2]); asc = Self.hex(f[3])
            case "P":
                let stream = Int(f[1]) ?? 0
                let pts = Int64(f[2]) ?? 0, dts = Int64(f[3]) ?? 0
                tables[stream].append(decodeTime: dts, duration: 0, compositionOffset: Int32(pts - dts),
                                      size: UInt32(f[4]) ?? 0, offset: UInt64(f[5]) ?? 0, isSync: f[6].hasPrefix("K"))
            default: break
            }
        }
        let videoCodec: CodecConfiguration
        var r = ByteReader(avcC)
        if vCodec == "hevc" {
            // hvcC: 22 fixed bytes (lengthSizeMinusOne in the last), then NAL unit arrays.
            try r.skip(21)
            let lengthSize = Int(try r.readUInt8() & 3) + 1
            var sets: [[UInt8]] = []
            for _ in 0..<(try r.readUInt8()) {
                try r.skip(1)
                for _ in 0..<(try r.readUInt16()) { sets.append(try r.readBytes(Int(try r.readUInt16()))) }
            }
            videoCodec = .hevc(HEVCConfiguration(profileSpace: 0, tierFlag: false, profileIDC: 1, profileCompatibilityFlags: 0,
                                                 constraintFlags: [], levelIDC: 0, nalLengthSize: lengthSize, parameterSets: sets))
        } else {
            // avcC: lengthSizeMinusOne, SPS and PPS lists.
            try r.skip(4)
            let lengthSize = Int(try r.readUInt8() & 3) + 1
            var sps: [[UInt8]] = [], pps: [[UInt8]] = []
            for _ in 0..<(try r.readUInt8() & 0x1F) { sps.append(try r.readBytes(Int(try r.readUInt16()))) }
            for _ in 0..<(try r.readUInt8()) { pps.append(try r.readBytes(Int(try r.readUInt16()))) }
            videoCodec = .avc(AVCConfiguration(profile: avcC[1], compatibility: avcC[2], level: avcC[3],
                                               nalLengthSize: lengthSize, sps: sps, pps: pps))
        }
        let video = Track(trackID: 1, kind: .video, timescale: vTimescale, language: "und", sampleEntryType: vCodec,
                          sampleEntry: [], codec: videoCodec, samples: tables[0], dataSource: base + ".mp4")
        let audioCodec: CodecConfiguration
        switch aCodec {
        case "ac3": audioCodec = .ac3(specific: [])
        case "eac3": audioCodec = .eac3(specific: [])
        default:
            audioCodec = .aac(AACConfiguration(objectType: asc[0] >> 3, samplingFrequencyIndex: (asc[0] & 7) << 1 | asc[1] >> 7,
                                               sampleRate: Int(aTimescale), channelConfiguration: (asc[1] >> 3) & 0x0F, specificConfig: asc))
        }
        let audio = Track(trackID: 2, kind: .audio, timescale: aTimescale, language: "und", sampleEntryType: aCodec,
                          sampleEntry: [], codec: audioCodec, samples: tables[1], dataSource: base + ".mp4")
        let file = try FileHandle(forReadingFrom: URL(fileURLWithPath: base + ".mp4"))
        let data = [UInt8](file.readDataToEndOfFile())
        let read: (String, UInt64, Int) throws -> [UInt8] = { _, offset, count in
            try MemoryReader(data).read(at: offset, count: count)
        }
        // Two segments cut at the first video sync sample at or after 2 s.
        let vCut = (0..<video.samples.count).first { video.samples.isSync($0) && video.presentationTime(of: $0) >= 2 * Int64(vTimescale) } ?? video.samples.count
        let cutTime = video.presentationTime(of: min(vCut, video.samples.count - 1))
        let aCut = (0..<audio.samples.count).first {
            MediaTime.rescale(audio.presentationTime(of: $0), from: aTimescale, to: vTimescale) >= cutTime
        } ?? audio.samples.count
        var state = TSContinuity.zero
        var all: [UInt8] = []
        for (n, (v, a)) in [(0..<vCut, 0..<aCut), (vCut..<video.samples.count, aCut..<audio.samples.count)].enumerated() {
            let inputs = [TSInput(track: video, samples: v), TSInput(track: audio, samples: a)]
            let bytes = try TransportStreamWriter.segment(inputs: inputs, continuity: state, read: read)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(base)-\(n + 1).ts"))
            all += bytes
            state = try #require(TransportStreamWriter.continuityAfter(inputs: inputs, start: state))
        }
        try Data(all).write(to: URL(fileURLWithPath: "\(base)-all.ts"))
    }
}
