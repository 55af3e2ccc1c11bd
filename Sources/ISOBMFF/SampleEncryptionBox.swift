import ByteIO
import MediaModel

/// The per-sample auxiliary information of Common Encryption: `senc` (ISO/IEC 23001-7 §7.2), and
/// PIFF 1.1's sample encryption `uuid` box that Smooth Streaming files carry instead.
enum SampleEncryptionBox {
    /// Whether a `uuid` box's payload (extended type first) is PIFF's sample encryption box.
    static func isPIFF(_ payload: ByteReader) -> Bool {
        var r = payload
        return (try? r.readBytes(16)) == FragmentEncryption.piffUUID
    }

    /// Appends the entries of one box to `info`: one per sample of `sizes` (the samples it
    /// describes, in order), each with an IV of `ivSize` bytes. `piff`: the payload starts with
    /// the extended type and may override the IV size. Entries that do not match the samples
    /// (count, runs that do not add up to the sample's size) are refused.
    static func read(_ payload: ByteReader, piff: Bool, ivSize: Int, sizes: some Collection<UInt32>,
                     into info: inout SampleAuxiliaryInfo) throws(ISOBMFFError) {
        let name = piff ? "uuid(PIFF senc)" : "senc"
        try within(name) {
            var r = payload
            if piff { try r.skip(16) }
            let flags = try r.readFullBoxHeader().flags
            var size = ivSize
            if piff, flags & 1 != 0 {
                try r.skip(3)
                size = Int(try r.readUInt8())
                try r.skip(16)
            }
            guard size == ivSize else {
                throw ISOBMFFError.unsupported("\(name) overrides the IV size (\(size), tenc says \(ivSize))")
            }
            let subsamples = flags & 2 != 0
            guard info.count == 0 || info.hasSubsamples == subsamples else {
                throw ISOBMFFError.unsupported("\(name) boxes with and without subsamples in one track")
            }
            let count = Int(try r.readUInt32())
            guard count == sizes.count else {
                throw ISOBMFFError.malformed(box: name, reason: "\(count) entries for \(sizes.count) samples")
            }
            let smallest = size + (subsamples ? 2 : 0)
            guard smallest == 0 || count <= r.remaining / smallest else {
                throw ISOBMFFError.malformed(box: name, reason: "\(count) entries but only \(r.remaining) bytes")
            }
            for sampleSize in sizes {
                let start = r.position
                try r.skip(size)
                if subsamples {
                    let runs = Int(try r.readUInt16())
                    var covered: UInt64 = 0
                    for _ in 0..<runs {
                        covered &+= UInt64(try r.readUInt16())
                        covered &+= UInt64(try r.readUInt32())
                    }
                    guard covered == UInt64(sampleSize) else {
                        throw ISOBMFFError.malformed(box: name, reason: "subsamples cover \(covered) of a \(sampleSize)-byte sample")
                    }
                }
                info.append(r.bytes[start..<r.position], hasSubsamples: subsamples)
            }
        }
    }
}
