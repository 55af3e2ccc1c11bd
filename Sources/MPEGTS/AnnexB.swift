import ByteIO
import MediaModel

/// Turns length-prefixed NAL units (ISO/IEC 14496-15) into an Annex B access unit: an access unit
/// delimiter first, the configuration's parameter sets before sync samples that do not carry their
/// own, then every NAL unit of the sample behind a four-byte start code.
struct AnnexB {
    let isHEVC: Bool
    let nalLengthSize: Int
    /// The access unit delimiter with its start code.
    let delimiter: [UInt8]
    /// The configuration's parameter sets, each behind a start code.
    let parameterSets: [UInt8]

    init(avc config: AVCConfiguration) throws(MPEGTSError) {
        isHEVC = false
        nalLengthSize = try Self.checkLengthSize(config.nalLengthSize)
        // nal_unit_type 9, primary_pic_type 7 (any slice type), RBSP stop bit.
        delimiter = [0, 0, 0, 1, 0x09, 0xF0]
        parameterSets = Self.startCoded(config.sps + config.pps)
    }

    init(hevc config: HEVCConfiguration) throws(MPEGTSError) {
        isHEVC = true
        nalLengthSize = try Self.checkLengthSize(config.nalLengthSize)
        // nal_unit_type 35, layer 0, temporal id 1; pic_type 2 (any), RBSP stop bit.
        delimiter = [0, 0, 0, 1, 0x46, 0x01, 0x50]
        parameterSets = Self.startCoded(config.parameterSets)
    }

    private static func checkLengthSize(_ size: Int) throws(MPEGTSError) -> Int {
        guard (1...4).contains(size) else {
            throw .unsupportedTrack("NAL unit length size \(size)")
        }
        return size
    }

    private static func startCoded(_ units: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for unit in units where !unit.isEmpty { out += [0, 0, 0, 1] + unit }
        return out
    }

    /// With four-byte length prefixes a NAL unit keeps its size in Annex B, so the size of an
    /// access unit is known from the sample size alone.
    var sizeIsExact: Bool { nalLengthSize == 4 }

    /// The largest Annex B size of a sample of `sampleSize` bytes, given exact length prefixes: nothing
    /// this writer drops (in-band delimiters, the configuration's parameter sets) is counted out.
    func nominalSize(sampleSize: Int, isSync: Bool) -> Int {
        delimiter.count &+ (isSync ? parameterSets.count : 0) &+ sampleSize
    }

    private func nalType(_ header: UInt8) -> UInt8 {
        isHEVC ? (header >> 1) & 0x3F : header & 0x1F
    }

    private var delimiterType: UInt8 { isHEVC ? 35 : 9 }

    /// The four-byte start code written before every NAL unit.
    static let startCode: [UInt8] = [0, 0, 0, 1]

    /// The Annex B form of one sample without copying its NAL units: what comes before them (the
    /// delimiter, and parameter sets when a sync sample lacks them) is appended to `head`, and the
    /// ranges of `sample` holding the NAL units to write, each behind ``startCode``, to `units`
    /// (in-band delimiters are dropped: ours starts the access unit). Every length is checked
    /// against the sample first.
    func gather(sample: UnsafeRawBufferPointer, isSync: Bool, trackID: UInt32, index: Int,
                head: inout [UInt8], units: inout [Range<Int>]) throws(MPEGTSError) {
        var scan = LengthPrefixedUnits(sample, lengthSize: nalLengthSize)
        var carried: UInt8 = 0  // bit 0 VPS, bit 1 SPS, bit 2 PPS
        while true {
            let unit: Range<Int>
            do {
                guard let next = try scan.next() else { break }
                unit = next
            } catch {
                throw .malformedNALUnit(trackID: trackID, sample: index, reason: "NAL unit \(error)")
            }
            guard let first = unit.first else { continue }
            let type = nalType(sample[first])
            switch (isHEVC, type) {
            case (true, 32): carried |= 1
            case (true, 33), (false, 7): carried |= 2
            case (true, 34), (false, 8): carried |= 4
            default: break
            }
            if type != delimiterType { units.append(unit) }
        }
        head.append(contentsOf: delimiter)
        let complete: UInt8 = isHEVC ? 7 : 6
        if isSync && carried & complete != complete {
            head.append(contentsOf: parameterSets)
        }
    }
}
