import ByteIO
import MediaModel

/// What an encrypted track's init segment declares (ISO/IEC 23001-7): its sample entry becomes
/// `encv`/`enca` with a `sinf` (`frma`, `schm`, `schi/tenc`), and `moov` carries a `pssh` per DRM
/// system.
public struct TrackEncryption: Sendable, Equatable {
    /// The scheme, `cenc` or `cbcs`.
    public var scheme: String
    /// The default key ID (16 bytes).
    public var kid: [UInt8]
    /// Bytes of each sample's IV in `senc` (8; 0 with a constant IV).
    public var ivSize: UInt8
    public var systems: [ProtectionSystem]
    /// `cbcs`: blocks encrypted and skipped (`tenc` version 1); nil writes `tenc` version 0.
    public var pattern: (crypt: UInt8, skip: UInt8)?
    /// `cbcs`: the IV of every sample (`default_constant_IV`, 16 bytes) when `ivSize` is 0.
    public var constantIV: [UInt8]?

    public init(scheme: String = "cenc", kid: [UInt8], ivSize: UInt8 = 8, systems: [ProtectionSystem],
                pattern: (crypt: UInt8, skip: UInt8)? = nil, constantIV: [UInt8]? = nil) {
        self.scheme = scheme
        self.kid = kid
        self.ivSize = ivSize
        self.systems = systems
        self.pattern = pattern
        self.constantIV = constantIV
    }

    public static func == (a: TrackEncryption, b: TrackEncryption) -> Bool {
        a.scheme == b.scheme && a.kid == b.kid && a.ivSize == b.ivSize && a.systems == b.systems
            && a.pattern?.crypt == b.pattern?.crypt && a.pattern?.skip == b.pattern?.skip && a.constantIV == b.constantIV
    }

    /// The `tenc` box (ISO/IEC 23001-7 §8.2): version 1 when a pattern is set.
    func writeTenc(_ w: inout ByteWriter) {
        FragmentWriter.fullBox(&w, "tenc", version: pattern == nil ? 0 : 1, flags: 0) { w in
            w.writeUInt8(0)                                 // reserved
            if let pattern {
                w.writeUInt8((pattern.crypt & 0x0F) << 4 | pattern.skip & 0x0F)
            } else {
                w.writeUInt8(0)                             // reserved
            }
            w.writeUInt8(1)                                 // default_isProtected
            w.writeUInt8(ivSize)
            w.write(kid)
            if ivSize == 0, let constantIV {
                w.writeUInt8(UInt8(clamping: constantIV.count))
                w.write(constantIV)
            }
        }
    }
}

/// One `pssh` box: a DRM system, the key IDs it is told about (version 1) and its own data.
public struct ProtectionSystem: Sendable, Equatable {
    public var systemID: [UInt8]
    public var kids: [[UInt8]]
    public var data: [UInt8]

    public init(systemID: [UInt8], kids: [[UInt8]], data: [UInt8] = []) {
        self.systemID = systemID
        self.kids = kids
        self.data = data
    }

    /// ClearKey as DASH-IF names it in MPDs (`e2719d58-a985-b3c9-781a-b030af78d30e`).
    public static let clearKeyID: [UInt8] = [0xE2, 0x71, 0x9D, 0x58, 0xA9, 0x85, 0xB3, 0xC9,
                                             0x78, 0x1A, 0xB0, 0x30, 0xAF, 0x78, 0xD3, 0x0E]
    /// The W3C Common PSSH system (`1077efec-c0b2-4d02-ace3-3c1e52e2fb4b`, EME "cenc" init data):
    /// the box EME's ClearKey key system reads its key IDs from.
    public static let commonID: [UInt8] = [0x10, 0x77, 0xEF, 0xEC, 0xC0, 0xB2, 0x4D, 0x02,
                                           0xAC, 0xE3, 0x3C, 0x1E, 0x52, 0xE2, 0xFB, 0x4B]
    /// Widevine (`edef8ba9-79d6-4ace-a3c8-27dcd51d21ed`).
    public static let widevineID: [UInt8] = [0xED, 0xEF, 0x8B, 0xA9, 0x79, 0xD6, 0x4A, 0xCE,
                                             0xA3, 0xC8, 0x27, 0xDC, 0xD5, 0x1D, 0x21, 0xED]

    /// A whole `pssh` box as a key service hands it out (version 0 or 1, its size all of `box`).
    public init(parsing box: [UInt8]) throws(ISOBMFFError) {
        func malformed(_ reason: String) -> ISOBMFFError { .malformed(box: "pssh", reason: reason) }
        var r = ByteReader(box)
        do {
            guard try r.readUInt32() == UInt32(clamping: box.count), try r.readFourCC() == "pssh" else {
                throw malformed("not a pssh box of its own size")
            }
            let version = try r.readUInt8()
            _ = try r.readUInt24()
            guard version <= 1 else { throw malformed("version \(version)") }
            systemID = try r.readBytes(16)
            kids = []
            if version == 1 {
                let count = try r.readUInt32()
                guard UInt64(count) * 16 <= UInt64(r.remaining) else { throw malformed("\(count) key IDs do not fit") }
                for _ in 0..<count { kids.append(try r.readBytes(16)) }
            }
            let size = try r.readUInt32()
            guard UInt64(size) == UInt64(r.remaining) else { throw malformed("data size \(size) is not the rest of the box") }
            data = try r.readBytes(Int(size))
        } catch let error as ISOBMFFError {
            throw error
        } catch {
            throw malformed("truncated")
        }
    }

    /// The whole `pssh` box.
    public var box: [UInt8] {
        var w = ByteWriter(capacity: 64 + data.count)
        FragmentWriter.fullBox(&w, "pssh", version: kids.isEmpty ? 0 : 1, flags: 0) { w in
            w.write(systemID)
            if !kids.isEmpty {
                w.writeUInt32(UInt32(clamping: kids.count))
                for kid in kids { w.write(kid) }
            }
            w.writeUInt32(UInt32(clamping: data.count))
            w.write(data)
        }
        return w.take()
    }
}

/// The encryption of one fragment's samples, for its `senc`, `saiz` and `saio` boxes.
public struct FragmentEncryption: Sendable, Equatable {
    /// Per sample, in order: its IV.
    public var ivs: [[UInt8]]
    /// Per sample: (clear, protected) byte runs; nil when every sample is encrypted whole.
    public var subsamples: [[(clear: UInt16, protected: UInt32)]]?

    public init(ivs: [[UInt8]], subsamples: [[(clear: UInt16, protected: UInt32)]]?) {
        self.ivs = ivs
        self.subsamples = subsamples
    }

    public static func == (a: FragmentEncryption, b: FragmentEncryption) -> Bool {
        guard a.ivs == b.ivs, (a.subsamples == nil) == (b.subsamples == nil) else { return false }
        guard let x = a.subsamples, let y = b.subsamples else { return true }
        return x.count == y.count && zip(x, y).allSatisfy { p, q in
            p.count == q.count && zip(p, q).allSatisfy { $0.clear == $1.clear && $0.protected == $1.protected }
        }
    }

    /// Bytes of sample `i`'s auxiliary information (its IV, and its subsample table).
    func infoSize(_ i: Int) -> Int {
        (ivs.indices.contains(i) ? ivs[i].count : 0) + (subsamples.map { 2 + 6 * ($0.indices.contains(i) ? $0[i].count : 0) } ?? 0)
    }

    /// `saiz`, `saio` and `senc` into a `traf`; `moofStart` is where `moof` begins in `w` (the
    /// `saio` offset counts from there, as `tfhd` says default-base-is-moof).
    func write(_ w: inout ByteWriter, moofStart: Int) {
        let count = ivs.count
        let sizes = (0..<count).map(infoSize)
        // A default size of 0 means "sizes listed per sample" (ISO/IEC 14496-12 §8.7.8): samples
        // without any information (a constant IV, no subsamples) are listed as 0 one by one.
        let uniform = sizes.allSatisfy { $0 == sizes.first } && sizes.first != 0
        FragmentWriter.fullBox(&w, "saiz", version: 0, flags: 0) { w in
            w.writeUInt8(uniform ? UInt8(clamping: sizes.first ?? 0) : 0)
            w.writeUInt32(UInt32(clamping: count))
            if !uniform { for s in sizes { w.writeUInt8(UInt8(clamping: s)) } }
        }
        var offsetPosition = 0
        FragmentWriter.fullBox(&w, "saio", version: 0, flags: 0) { w in
            w.writeUInt32(1)
            offsetPosition = w.count
            w.writeUInt32(0)                                // patched: where senc's first IV is
        }
        FragmentWriter.fullBox(&w, "senc", version: 0, flags: sampleFlags) { w in
            w.writeUInt32(UInt32(clamping: count))
            w.patchUInt32(UInt32(clamping: w.count - moofStart), at: offsetPosition)
            writeSamples(&w)
        }
    }

    /// The flags of `senc` (and of PIFF's box): 2 when samples have subsample tables.
    var sampleFlags: UInt32 { subsamples == nil ? 0 : 2 }

    /// Each sample's IV, and its subsample table when there are subsamples (the body of `senc`
    /// after its sample count).
    func writeSamples(_ w: inout ByteWriter) {
        for i in ivs.indices {
            w.write(ivs[i])
            if let runs = subsamples, runs.indices.contains(i) {
                w.writeUInt16(UInt16(clamping: runs[i].count))
                for run in runs[i] { w.writeUInt16(run.clear); w.writeUInt32(run.protected) }
            }
        }
    }
}

extension FragmentWriter {
    /// `entry` (a sample entry box) as its encrypted form: `encv` for video, `enca` otherwise,
    /// with a `sinf` appended that names the original format, the scheme and the default key.
    /// nil when `entry` is not a plain box of its own size.
    static func encrypted(sampleEntry entry: [UInt8], kind: TrackKind, encryption: TrackEncryption) -> [UInt8]? {
        guard entry.count >= 8, entry.count <= Int(UInt32.max) - 1024 else { return nil }
        let size = Int(entry[0]) << 24 | Int(entry[1]) << 16 | Int(entry[2]) << 8 | Int(entry[3])
        guard size == entry.count else { return nil }
        var sinf = ByteWriter(capacity: 96)
        box(&sinf, "sinf") { w in
            box(&w, "frma") { w in w.write(Array(entry[4..<8])) }
            fullBox(&w, "schm", version: 0, flags: 0) { w in
                w.write(Array(encryption.scheme.utf8.prefix(4)))
                w.writeUInt32(0x0001_0000)
            }
            box(&w, "schi") { w in encryption.writeTenc(&w) }
        }
        let sinfBytes = sinf.take()
        var out = entry
        let total = UInt32(entry.count + sinfBytes.count)
        out[0] = UInt8(total >> 24); out[1] = UInt8(truncatingIfNeeded: total >> 16)
        out[2] = UInt8(truncatingIfNeeded: total >> 8); out[3] = UInt8(truncatingIfNeeded: total)
        let type = Array((kind == .video ? "encv" : "enca").utf8)
        out.replaceSubrange(4..<8, with: type)
        out += sinfBytes
        return out
    }
}
