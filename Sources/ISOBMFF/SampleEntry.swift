import ByteIO
import MediaModel

/// What the first `stsd` entry says about a track's codec.
struct SampleEntryInfo {
    var type: String
    /// The whole entry including its box header, for init segments.
    var bytes: [UInt8]
    var codec: CodecConfiguration
    var width = 0
    var height = 0
    var sampleRate = 0
    var channels = 0
    /// For `encv`/`enca`: what its `sinf` says (samples' auxiliary information comes later).
    var protection: SourceProtection?
}

/// Parses `stsd` sample entries: visual (avc1/avc3/hvc1/hev1 with avcC/hvcC), audio (mp4a with esds,
/// ac-3 with dac3, ec-3 with dec3). Other entries are kept verbatim with codec `.other`.
enum SampleEntryParser {
    static let visualTypes: Set<String> = ["avc1", "avc3", "hvc1", "hev1", "encv"]
    static let audioTypes: Set<String> = ["mp4a", "ac-3", "ec-3", "enca"]

    static func parse(stsd: ByteReader) throws(ISOBMFFError) -> SampleEntryInfo {
        var r = stsd
        let count = try within("stsd") { () throws -> UInt32 in
            _ = try r.readFullBoxHeader()
            return try r.readUInt32()
        }
        guard count >= 1 else { throw .malformed(box: "stsd", reason: "no sample entries") }
        let start = r.position
        var it = BoxIterator(r)
        guard let (header, payload) = try it.next() else {
            throw .malformed(box: "stsd", reason: "no sample entries")
        }
        let end = start + Int(clamping: header.size)
        guard end <= r.bytes.count else { throw .malformed(box: "stsd", reason: "entry exceeds box") }
        var info = SampleEntryInfo(type: header.type, bytes: Array(r.bytes[start..<end]), codec: .other)
        // Samples may name other entries (sample_description_index), which are not read: with
        // encryption in any of them, clear and encrypted samples could not be told apart.
        if count > 1 {
            var rest = it
            for _ in 1..<min(count, 64) {
                guard let (other, _) = try rest.next() else { break }
                if ["encv", "enca", "enct", "encs"].contains(other.type) || ["encv", "enca", "enct", "encs"].contains(header.type) {
                    throw .unsupported("several sample descriptions, some encrypted (a clear lead by description)")
                }
            }
        }
        if visualTypes.contains(header.type) {
            try parseVisual(payload, into: &info)
        } else if audioTypes.contains(header.type) {
            try parseAudio(payload, into: &info)
        }
        return info
    }

    private static func parseVisual(_ payload: ByteReader, into info: inout SampleEntryInfo) throws(ISOBMFFError) {
        var r = payload
        let box = info.type
        try within(box) {
            try r.skip(6 + 2 + 16)        // reserved, data_reference_index, pre_defined/reserved
            info.width = Int(try r.readUInt16())
            info.height = Int(try r.readUInt16())
            try r.skip(4 + 4 + 4 + 2 + 32 + 2 + 2)
        }
        var it = BoxIterator(r.restReader())
        while let (h, child) = try it.next() {
            switch h.type {
            case "avcC": info.codec = .avc(try parseAVCC(child))
            case "hvcC": info.codec = .hevc(try parseHVCC(child))
            case "sinf" where info.type == "encv": info.protection = try parseSINF(child)
            default: break
            }
        }
    }

    private static func parseAudio(_ payload: ByteReader, into info: inout SampleEntryInfo) throws(ISOBMFFError) {
        var r = payload
        let box = info.type
        try within(box) {
            try r.skip(6 + 2)
            let version = try r.readUInt16()
            try r.skip(6)
            info.channels = Int(try r.readUInt16())
            try r.skip(2 + 2 + 2)         // sample size, pre_defined, reserved
            info.sampleRate = Int(try r.readUInt32() >> 16)
            // QuickTime sound descriptions carry extra fields before the child boxes.
            if version == 1 { try r.skip(16) } else if version == 2 { try r.skip(36) }
        }
        var it = BoxIterator(r.restReader())
        while let (h, child) = try it.next() {
            switch h.type {
            case "esds":
                if let aac = try parseESDS(child) {
                    info.codec = .aac(aac)
                    if aac.sampleRate > 0 && info.sampleRate == 0 { info.sampleRate = aac.sampleRate }
                    // The AudioSpecificConfig is authoritative: muxers often write 2 in the entry for mono.
                    let fromConfig = [0, 1, 2, 3, 4, 5, 6, 8]
                    if aac.channelConfiguration > 0 && aac.channelConfiguration < 8 {
                        info.channels = fromConfig[Int(aac.channelConfiguration)]
                    }
                }
            case "dac3": info.codec = .ac3(specific: Array(child.remainingBytes))
            case "dec3": info.codec = .eac3(specific: Array(child.remainingBytes))
            case "sinf" where info.type == "enca": info.protection = try parseSINF(child)
            default: break
            }
        }
    }

    /// `sinf` (ISO/IEC 14496-12 §8.12, 23001-7 §8.2): the original format, the scheme and `tenc`.
    /// Only the Common Encryption schemes are accepted; a scheme or `tenc` version Origo cannot
    /// pass through is refused rather than served as if clear.
    static func parseSINF(_ payload: ByteReader) throws(ISOBMFFError) -> SourceProtection {
        var format: String?, scheme: String?
        var tenc: (version: UInt8, body: ByteReader)?
        var it = BoxIterator(payload)
        while let (h, child) = try it.next() {
            var r = child
            switch h.type {
            case "frma": format = try within("frma") { try r.readFourCC() }
            case "schm": scheme = try within("schm") { _ = try r.readFullBoxHeader(); return try r.readFourCC() }
            case "schi":
                if let box = try BoxIterator.first(child, "tenc") {
                    var t = box
                    let version = try within("tenc") { try t.readFullBoxHeader().version }
                    tenc = (version, t)
                }
            default: break
            }
        }
        guard let format, let scheme, let tenc else {
            throw .malformed(box: "sinf", reason: "frma, schm and schi/tenc are needed")
        }
        let version = tenc.version
        var r = tenc.body
        guard format.utf8.count == 4, format.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "-") }) else {
            throw .malformed(box: "frma", reason: "original format is not a sample entry type")
        }
        guard ["cenc", "cbcs", "cens", "cbc1"].contains(scheme) else {
            throw .unsupported("protection scheme \(Sanitized.text(scheme, limit: 8)) (Common Encryption schemes only)")
        }
        guard version <= 1 else { throw .unsupported("tenc version \(version)") }
        return try within("tenc") { () throws -> SourceProtection in
            _ = try r.readUInt8()
            let pattern = try r.readUInt8()
            let isProtected = try r.readUInt8()
            let ivSize = try r.readUInt8()
            let kid = try r.readBytes(16)
            guard isProtected == 1 else { throw ISOBMFFError.unsupported("tenc says samples are not protected by default") }
            guard [0, 8, 16].contains(ivSize) else { throw ISOBMFFError.malformed(box: "tenc", reason: "IV size \(ivSize)") }
            var constantIV: [UInt8] = []
            if ivSize == 0 {
                let size = Int(try r.readUInt8())
                guard size == 8 || size == 16 else { throw ISOBMFFError.malformed(box: "tenc", reason: "constant IV size \(size)") }
                constantIV = try r.readBytes(size)
            }
            return SourceProtection(scheme: scheme, originalFormat: format, kid: kid, ivSize: ivSize, constantIV: constantIV,
                                    cryptByteBlock: version == 1 ? pattern >> 4 : 0, skipByteBlock: version == 1 ? pattern & 0x0F : 0)
        }
    }

    static func parseAVCC(_ payload: ByteReader) throws(ISOBMFFError) -> AVCConfiguration {
        try within("avcC") {
            var r = payload
            _ = try r.readUInt8()          // configurationVersion
            let profile = try r.readUInt8()
            let compatibility = try r.readUInt8()
            let level = try r.readUInt8()
            let lengthSize = Int(try r.readUInt8() & 0x03) + 1
            guard lengthSize != 3 else { throw ISOBMFFError.malformed(box: "avcC", reason: "NAL length size 3") }
            var sps: [[UInt8]] = []
            for _ in 0..<(try r.readUInt8() & 0x1F) {
                sps.append(try r.readBytes(Int(try r.readUInt16())))
            }
            var pps: [[UInt8]] = []
            for _ in 0..<(try r.readUInt8()) {
                pps.append(try r.readBytes(Int(try r.readUInt16())))
            }
            return AVCConfiguration(profile: profile, compatibility: compatibility, level: level,
                                    nalLengthSize: lengthSize, sps: sps, pps: pps)
        }
    }

    static func parseHVCC(_ payload: ByteReader) throws(ISOBMFFError) -> HEVCConfiguration {
        try within("hvcC") {
            var r = payload
            _ = try r.readUInt8()
            let b = try r.readUInt8()
            let compat = try r.readUInt32()
            let constraints = try r.readBytes(6)
            let level = try r.readUInt8()
            try r.skip(2 + 1 + 1 + 1 + 1 + 2)
            let lengthSize = Int(try r.readUInt8() & 0x03) + 1
            guard lengthSize != 3 else { throw ISOBMFFError.malformed(box: "hvcC", reason: "NAL length size 3") }
            var sets: [[UInt8]] = []
            for _ in 0..<(try r.readUInt8()) {
                _ = try r.readUInt8()      // array_completeness, NAL unit type
                for _ in 0..<(try r.readUInt16()) {
                    sets.append(try r.readBytes(Int(try r.readUInt16())))
                }
            }
            return HEVCConfiguration(profileSpace: b >> 6, tierFlag: b & 0x20 != 0, profileIDC: b & 0x1F,
                                     profileCompatibilityFlags: compat, constraintFlags: constraints,
                                     levelIDC: level, nalLengthSize: lengthSize, parameterSets: sets)
        }
    }

    /// The AAC AudioSpecificConfig inside `esds`, or nil when the stream is not AAC (MP3 in mp4a).
    static func parseESDS(_ payload: ByteReader) throws(ISOBMFFError) -> AACConfiguration? {
        try within("esds") { () throws -> AACConfiguration? in
            var r = payload
            _ = try r.readFullBoxHeader()
            guard let (tag, esLength) = try readDescriptor(&r), tag == 0x03 else { return nil }
            var es = try r.subReader(count: min(esLength, r.remaining))
            _ = try es.readUInt16()        // ES_ID
            let flags = try es.readUInt8()
            if flags & 0x80 != 0 { try es.skip(2) }
            if flags & 0x40 != 0 { try es.skip(Int(try es.readUInt8())) }
            if flags & 0x20 != 0 { try es.skip(2) }
            while let (t, len) = try readDescriptor(&es) {
                var body = try es.subReader(count: min(len, es.remaining))
                guard t == 0x04 else { continue }
                let objectTypeIndication = try body.readUInt8()
                guard objectTypeIndication == 0x40 || objectTypeIndication == 0x66
                        || objectTypeIndication == 0x67 || objectTypeIndication == 0x68 else { return nil }
                try body.skip(1 + 3 + 4 + 4)
                while let (t2, len2) = try readDescriptor(&body) {
                    let inner = try body.subReader(count: min(len2, body.remaining))
                    if t2 == 0x05 { return try AudioSpecificConfig.parse(Array(inner.remainingBytes)) }
                }
                return nil
            }
            return nil
        }
    }

    /// An MPEG-4 descriptor tag and its length (1-4 bytes of 7-bit groups), or nil at the end.
    private static func readDescriptor(_ r: inout ByteReader) throws -> (UInt8, Int)? {
        guard r.remaining >= 2 else { return nil }
        let tag = try r.readUInt8()
        var length = 0
        for _ in 0..<4 {
            let b = try r.readUInt8()
            length = length << 7 | Int(b & 0x7F)
            if b & 0x80 == 0 { break }
        }
        return (tag, length)
    }
}

/// MPEG-4 AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1): object type, rate, channels.
enum AudioSpecificConfig {
    static let rates = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350]

    static func parse(_ bytes: [UInt8]) throws -> AACConfiguration {
        var bits = BitReader(bytes)
        var objectType = try bits.read(5)
        if objectType == 31 { objectType = 32 + (try bits.read(6)) }
        let index = try bits.read(4)
        let rate: Int
        if index == 15 {
            rate = Int(try bits.read(24))
        } else {
            rate = Int(index) < rates.count ? rates[Int(index)] : 0
        }
        let channels = try bits.read(4)
        return AACConfiguration(objectType: UInt8(truncatingIfNeeded: objectType),
                                samplingFrequencyIndex: UInt8(truncatingIfNeeded: index), sampleRate: rate,
                                channelConfiguration: UInt8(truncatingIfNeeded: channels), specificConfig: bytes)
    }
}

/// Reads big-endian bit fields; throws at the end of the bytes.
struct BitReader {
    private let bytes: [UInt8]
    private var bit = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func read(_ count: Int) throws(ByteReaderError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<count {
            let byte = bit >> 3
            guard byte < bytes.count else { throw .truncated(needed: 1, available: 0) }
            value = value << 1 | UInt32(bytes[byte] >> (7 - UInt8(bit & 7)) & 1)
            bit += 1
        }
        return value
    }
}
