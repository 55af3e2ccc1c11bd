/// Where the slice data of an H.264 coded slice begins (ISO/IEC 14496-10 §7.3.3), from the
/// stream's SPS and PPS, so that `cbcs` keeps the whole slice header clear and starts protecting at
/// the slice data. Every read is bounds-checked: a slice, SPS or PPS this does not understand (or a
/// truncated one) gives nil, and the caller falls back to ``CBCS/clearLead``.
public struct AVCSliceHeaders: Sendable {
    struct SPS: Sendable {
        var separateColourPlane = false
        var chromaArrayType = 1
        var log2MaxFrameNum = 4
        var pocType = 0
        var log2MaxPocLsb = 4
        var deltaPicOrderAlwaysZero = false
        var frameMbsOnly = true
    }

    struct PPS: Sendable {
        var spsID = 0
        var cabac = false
        var bottomFieldPicOrderInFramePresent = false
        var numRefIdxL0Default = 1
        var numRefIdxL1Default = 1
        var weightedPred = false
        var weightedBipredIdc = 0
        var deblockingFilterControlPresent = false
        var redundantPicCntPresent = false
    }

    private var sps: [Int: SPS] = [:]
    private var pps: [Int: PPS] = [:]

    /// The parameter sets of `avcC` (each a NAL unit from its header byte); the ones that do not
    /// parse are left out.
    public init(sps spsUnits: [[UInt8]], pps ppsUnits: [[UInt8]]) {
        for unit in spsUnits {
            if let (id, parsed) = Self.parseSPS(unit[...]) { sps[id] = parsed }
        }
        for unit in ppsUnits {
            if let (id, parsed) = Self.parsePPS(unit[...]) { pps[id] = parsed }
        }
    }

    /// Whether any slice can be parsed at all.
    public var isEmpty: Bool { sps.isEmpty || pps.isEmpty }

    /// Bytes of the NAL unit `unit` (from its header byte) up to the end of its slice header, the
    /// NAL unit header and emulation prevention bytes included (the last byte may hold slice data
    /// too: CAVLC slice data need not start on a byte); nil when `unit` is not a coded slice (types
    /// 1 and 5) this can parse.
    public func headerSize(_ unit: ArraySlice<UInt8>) -> Int? {
        guard let first = unit.first, [1, 5].contains(first & 0x1F) else { return nil }
        var r = RBSPBits(unit.dropFirst())
        let idr = first & 0x1F == 5, nalRefIdc = first >> 5 & 3
        guard r.ue() != nil, let rawType = r.ue(), rawType <= 9, let ppsID = r.ue(),
              let p = pps[ppsID], let s = sps[p.spsID] else { return nil }
        let type = rawType % 5                          // 0 P, 1 B, 2 I, 3 SP, 4 SI
        let isB = type == 1, isP = type == 0 || type == 3
        if s.separateColourPlane { guard r.bits(2) != nil else { return nil } }
        guard r.bits(s.log2MaxFrameNum) != nil else { return nil }
        var field = false
        if !s.frameMbsOnly {
            guard let f = r.bits(1) else { return nil }
            field = f == 1
            if field { guard r.bits(1) != nil else { return nil } }
        }
        if idr { guard r.ue() != nil else { return nil } }
        if s.pocType == 0 {
            guard r.bits(s.log2MaxPocLsb) != nil else { return nil }
            if p.bottomFieldPicOrderInFramePresent && !field { guard r.se() != nil else { return nil } }
        }
        if s.pocType == 1 && !s.deltaPicOrderAlwaysZero {
            guard r.se() != nil else { return nil }
            if p.bottomFieldPicOrderInFramePresent && !field { guard r.se() != nil else { return nil } }
        }
        if p.redundantPicCntPresent { guard r.ue() != nil else { return nil } }
        if isB { guard r.bits(1) != nil else { return nil } }           // direct_spatial_mv_pred_flag
        var l0 = p.numRefIdxL0Default, l1 = p.numRefIdxL1Default
        if isP || isB {
            guard let override = r.bits(1) else { return nil }
            if override == 1 {
                guard let n = r.ue(), n < 32 else { return nil }
                l0 = n + 1
                if isB {
                    guard let m = r.ue(), m < 32 else { return nil }
                    l1 = m + 1
                }
            }
        }
        // ref_pic_list_modification
        for list in 0..<2 where (list == 0 && type != 2 && type != 4) || (list == 1 && isB) {
            guard let flag = r.bits(1) else { return nil }
            guard flag == 1 else { continue }
            var ended = false
            for _ in 0..<66 {
                guard let idc = r.ue() else { return nil }
                if idc == 3 { ended = true; break }
                guard idc <= 2, r.ue() != nil else { return nil }
            }
            guard ended else { return nil }
        }
        if (p.weightedPred && isP) || (p.weightedBipredIdc == 1 && isB) {
            guard r.ue() != nil else { return nil }                     // luma_log2_weight_denom
            if s.chromaArrayType != 0 { guard r.ue() != nil else { return nil } }
            for count in isB ? [l0, l1] : [l0] {
                for _ in 0..<count {
                    guard let luma = r.bits(1) else { return nil }
                    if luma == 1 { guard r.se() != nil, r.se() != nil else { return nil } }
                    if s.chromaArrayType != 0 {
                        guard let chroma = r.bits(1) else { return nil }
                        if chroma == 1 {
                            for _ in 0..<4 { guard r.se() != nil else { return nil } }
                        }
                    }
                }
            }
        }
        if nalRefIdc != 0 {                                              // dec_ref_pic_marking
            if idr {
                guard r.bits(2) != nil else { return nil }
            } else {
                guard let adaptive = r.bits(1) else { return nil }
                if adaptive == 1 {
                    var ended = false
                    for _ in 0..<66 {
                        guard let op = r.ue() else { return nil }
                        if op == 0 { ended = true; break }
                        guard op <= 6 else { return nil }
                        if op == 1 || op == 3 { guard r.ue() != nil else { return nil } }
                        if op == 2 { guard r.ue() != nil else { return nil } }
                        if op == 3 || op == 6 { guard r.ue() != nil else { return nil } }
                        if op == 4 { guard r.ue() != nil else { return nil } }
                    }
                    guard ended else { return nil }
                }
            }
        }
        if p.cabac && type != 2 && type != 4 { guard r.ue() != nil else { return nil } }   // cabac_init_idc
        guard r.se() != nil else { return nil }                          // slice_qp_delta
        if type == 3 || type == 4 {
            if type == 3 { guard r.bits(1) != nil else { return nil } }
            guard r.se() != nil else { return nil }
        }
        if p.deblockingFilterControlPresent {
            guard let disable = r.ue() else { return nil }
            if disable != 1 { guard r.se() != nil, r.se() != nil else { return nil } }
        }
        // CABAC slice data starts on a byte (after cabac_alignment_one_bits); CAVLC's may not.
        return 1 + r.bytesTouched
    }

    private static func parseSPS(_ unit: ArraySlice<UInt8>) -> (Int, SPS)? {
        guard unit.first.map({ $0 & 0x1F == 7 }) == true else { return nil }
        var r = RBSPBits(unit.dropFirst())
        var s = SPS()
        guard let profile = r.bits(8), r.bits(16) != nil, let id = r.ue(), id < 32 else { return nil }
        if [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].contains(profile) {
            guard let chroma = r.ue(), chroma <= 3 else { return nil }
            s.chromaArrayType = chroma
            if chroma == 3 {
                guard let separate = r.bits(1) else { return nil }
                s.separateColourPlane = separate == 1
                if s.separateColourPlane { s.chromaArrayType = 0 }
            }
            guard r.ue() != nil, r.ue() != nil, r.bits(1) != nil, let matrix = r.bits(1) else { return nil }
            if matrix == 1 {
                for i in 0..<(chroma == 3 ? 12 : 8) {
                    guard let present = r.bits(1) else { return nil }
                    guard present == 1 else { continue }
                    var last = 8, next = 8
                    for _ in 0..<(i < 6 ? 16 : 64) where next != 0 {
                        guard let delta = r.se() else { return nil }
                        next = ((last + delta) % 256 + 256) % 256
                        if next != 0 { last = next }
                    }
                }
            }
        }
        guard let frameNum = r.ue(), frameNum <= 12, let pocType = r.ue(), pocType <= 2 else { return nil }
        s.log2MaxFrameNum = frameNum + 4
        s.pocType = pocType
        if pocType == 0 {
            guard let lsb = r.ue(), lsb <= 12 else { return nil }
            s.log2MaxPocLsb = lsb + 4
        } else if pocType == 1 {
            guard let always = r.bits(1), r.se() != nil, r.se() != nil, let cycle = r.ue(), cycle <= 255 else { return nil }
            s.deltaPicOrderAlwaysZero = always == 1
            for _ in 0..<cycle { guard r.se() != nil else { return nil } }
        }
        guard r.ue() != nil, r.bits(1) != nil, r.ue() != nil, r.ue() != nil, let frameMbsOnly = r.bits(1) else { return nil }
        s.frameMbsOnly = frameMbsOnly == 1
        return (id, s)
    }

    private static func parsePPS(_ unit: ArraySlice<UInt8>) -> (Int, PPS)? {
        guard unit.first.map({ $0 & 0x1F == 8 }) == true else { return nil }
        var r = RBSPBits(unit.dropFirst())
        var p = PPS()
        guard let id = r.ue(), id < 256, let spsID = r.ue(), spsID < 32, let cabac = r.bits(1),
              let bottom = r.bits(1), let groups = r.ue(), groups == 0,        // slice groups (FMO): not parsed
              let l0 = r.ue(), l0 < 32, let l1 = r.ue(), l1 < 32, let weighted = r.bits(1), let bipred = r.bits(2),
              r.se() != nil, r.se() != nil, r.se() != nil, let deblocking = r.bits(1), r.bits(1) != nil,
              let redundant = r.bits(1) else { return nil }
        p.spsID = spsID
        p.cabac = cabac == 1
        p.bottomFieldPicOrderInFramePresent = bottom == 1
        p.numRefIdxL0Default = l0 + 1
        p.numRefIdxL1Default = l1 + 1
        p.weightedPred = weighted == 1
        p.weightedBipredIdc = bipred
        p.deblockingFilterControlPresent = deblocking == 1
        p.redundantPicCntPresent = redundant == 1
        return (id, p)
    }
}

/// Bits of an RBSP read from the escaped bytes of a NAL unit: each emulation prevention byte
/// (`00 00 03`) is skipped but counted in ``bytesTouched``. Reads past the end give nil.
struct RBSPBits {
    private let bytes: ArraySlice<UInt8>
    private var index: Int
    private var bit = 0                                 // next bit of bytes[index], from the top
    private var zeros = 0                               // zero bytes just before `index`

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    /// Escaped bytes from the start up to and including the one holding the last bit read.
    var bytesTouched: Int { index - bytes.startIndex + (bit > 0 ? 1 : 0) }

    /// `count` bits (at most 32), most significant first.
    mutating func bits(_ count: Int) -> Int? {
        guard count >= 0, count <= 32 else { return nil }
        var value = 0
        for _ in 0..<count {
            if bit == 0 {
                // An emulation prevention byte: 03 after two zero bytes, skipped.
                if zeros >= 2, index < bytes.endIndex, bytes[index] == 3 {
                    index += 1
                    zeros = 0
                }
                guard index < bytes.endIndex else { return nil }
            }
            let byte = bytes[index]
            value = value << 1 | Int(byte >> (7 - bit) & 1)
            bit += 1
            if bit == 8 {
                bit = 0
                zeros = byte == 0 ? zeros + 1 : 0
                index += 1
            }
        }
        return value
    }

    /// Exp-Golomb `ue(v)`, up to 31 leading zeros.
    mutating func ue() -> Int? {
        var zeros = 0
        while true {
            guard let b = bits(1) else { return nil }
            if b == 1 { break }
            zeros += 1
            guard zeros <= 31 else { return nil }
        }
        guard let rest = bits(zeros) else { return nil }
        return (1 << zeros) - 1 + rest
    }

    /// Exp-Golomb `se(v)`.
    mutating func se() -> Int? {
        guard let k = ue() else { return nil }
        return k & 1 == 1 ? (k + 1) / 2 : -(k / 2)
    }
}
