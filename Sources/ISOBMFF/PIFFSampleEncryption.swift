import ByteIO

extension FragmentEncryption {
    /// PIFF 1.1 `SampleEncryptionBox` extended type (`A2394F52-5A9B-4F14-A244-6C427C648DF4`).
    public static let piffUUID: [UInt8] = [0xA2, 0x39, 0x4F, 0x52, 0x5A, 0x9B, 0x4F, 0x14,
                                           0xA2, 0x44, 0x6C, 0x42, 0x7C, 0x64, 0x8D, 0xF4]

    /// The PIFF 1.1 sample encryption box into a `traf` of a Smooth fragment: a `uuid` full box
    /// (version 0; flags 2 when samples have subsample tables, never 1: the algorithm, IV size and
    /// key ID are the track's defaults, which Smooth clients take from the manifest's protection
    /// header), the sample count, then each sample's IV and subsamples as in `senc`. Smooth has
    /// no `saiz`/`saio`: clients find this box by its type.
    func writePIFF(_ w: inout ByteWriter) {
        FragmentWriter.box(&w, "uuid") { w in
            w.write(Self.piffUUID)
            w.writeUInt32(sampleFlags)                      // version 0
            w.writeUInt32(UInt32(clamping: ivs.count))
            writeSamples(&w)
        }
    }
}
