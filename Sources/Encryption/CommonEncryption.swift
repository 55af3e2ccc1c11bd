import ByteIO
import COpenSSL

/// Common Encryption `cenc` (ISO/IEC 23001-7): AES-128 in counter mode over the protected bytes of
/// each sample, with an 8-byte IV per sample; video samples leave their NAL unit headers (and
/// parameter sets and SEI) in the clear as subsamples, audio samples are encrypted whole.
public enum CENC {
    /// One run of a sample: `clear` bytes followed by `protected` bytes.
    public struct Subsample: Sendable, Equatable {
        public var clear: UInt16
        public var protected: UInt32

        public init(clear: UInt16, protected: UInt32) {
            self.clear = clear
            self.protected = protected
        }
    }

    /// The most runs one sample may have: its `senc` entry (IV of up to 16 bytes, a count, 6 bytes
    /// a run) must fit the 255 bytes `saiz` can say.
    public static let maxSubsamples = (255 - 16 - 2) / 6

    /// `runs` with at most ``maxSubsamples`` entries: beyond that, the last run kept protects
    /// everything after its clear bytes (later NAL headers then travel encrypted, as a decrypter
    /// reading the same map expects).
    public static func limited(_ runs: [Subsample]) -> [Subsample] {
        guard runs.count > maxSubsamples else { return runs }
        var out = Array(runs.prefix(maxSubsamples))
        let rest = runs[(maxSubsamples - 1)...].reduce(UInt64(0)) { $0 + UInt64($1.clear) + UInt64($1.protected) }
        let last = out[maxSubsamples - 1]
        out[maxSubsamples - 1] = Subsample(clear: last.clear, protected: UInt32(clamping: rest - UInt64(last.clear)))
        return out
    }

    /// How a video codec lays out NAL units in samples.
    public struct NALLayout: Sendable, Equatable {
        /// Bytes of each NAL unit's length prefix (1, 2 or 4).
        public var lengthSize: Int
        /// Bytes of the NAL unit header (1 for H.264, 2 for H.265).
        public var headerSize: Int
        /// Whether a NAL unit (from its first header byte) is coded picture data, which is encrypted.
        public var isPictureData: @Sendable (UInt8) -> Bool

        public static func avc(lengthSize: Int) -> NALLayout {
            NALLayout(lengthSize: lengthSize, headerSize: 1) { (1...5).contains($0 & 0x1F) }
        }

        public static func hevc(lengthSize: Int) -> NALLayout {
            NALLayout(lengthSize: lengthSize, headerSize: 2) { ($0 >> 1) & 0x3F < 32 }
        }

        public static func == (a: NALLayout, b: NALLayout) -> Bool {
            a.lengthSize == b.lengthSize && a.headerSize == b.headerSize
        }
    }

    /// The subsamples of one video sample: every NAL unit's length prefix and header clear, and of
    /// picture data the largest multiple of 16 bytes after them protected (the rest of the slice
    /// header stays clear, as packagers do for decoders that read it); other NAL units clear.
    /// nil when the sample is not a well-formed sequence of NAL units (then it is encrypted whole,
    /// which is still valid CENC).
    public static func subsamples(of sample: ArraySlice<UInt8>, layout: NALLayout) -> [Subsample]? {
        subsamples(of: sample, layout: layout) { unit in (unit.count - layout.headerSize) / 16 * 16 }
    }

    /// The subsamples of one video sample: every NAL unit's length prefix and header clear, and of
    /// picture data the last `protectedBytes(unit)` bytes protected (`unit`: the NAL unit from its
    /// header; at most its bytes after the header are protected); other NAL units clear. nil when
    /// the sample is not a well-formed sequence of NAL units.
    static func subsamples(of sample: ArraySlice<UInt8>, layout: NALLayout,
                           protectedBytes: (ArraySlice<UInt8>) -> Int) -> [Subsample]? {
        guard (1...4).contains(layout.lengthSize) else { return nil }
        var out: [Subsample] = []
        var pendingClear = 0
        var i = sample.startIndex
        while i < sample.endIndex {
            guard sample.endIndex - i >= layout.lengthSize else { return nil }
            var length = 0
            for k in 0..<layout.lengthSize { length = length << 8 | Int(sample[i + k]) }
            let unit = i + layout.lengthSize
            guard length >= layout.headerSize, length <= sample.endIndex - unit else { return nil }
            let size = layout.lengthSize + length
            let payload = length - layout.headerSize
            let protected = layout.isPictureData(sample[unit])
                ? min(max(protectedBytes(sample[unit..<(unit + length)]), 0), payload) : 0
            if protected > 0 {
                append(&out, clear: pendingClear + size - protected, protected: protected)
                pendingClear = 0
            } else {
                pendingClear += size
            }
            i = unit + length
        }
        if pendingClear > 0 || out.isEmpty { append(&out, clear: pendingClear, protected: 0) }
        return out
    }

    /// Appends a run, splitting clear counts that do not fit 16 bits.
    private static func append(_ out: inout [Subsample], clear: Int, protected: Int) {
        var clear = clear
        while clear > Int(UInt16.max) {
            out.append(Subsample(clear: UInt16.max, protected: 0))
            clear -= Int(UInt16.max)
        }
        out.append(Subsample(clear: UInt16(clear), protected: UInt32(clamping: protected)))
    }

    /// The IV of sample `index` of a track: `salt` (one per track, so tracks sharing a key never
    /// share an IV) and the sample's index, 8 bytes big-endian. The same sample always gets the
    /// same IV, so a segment is the same bytes whenever it is made.
    public static func iv(salt: UInt32, index: Int) -> [UInt8] {
        var w = ByteWriter(capacity: 8)
        w.writeUInt32(salt)
        w.writeUInt32(UInt32(truncatingIfNeeded: index))
        return w.take()
    }

    /// Encrypts the protected bytes of one sample in place: AES-CTR from `iv` (8 bytes, the block
    /// counter after it starting at 0) over the protected runs of `subsamples` as one keystream, or
    /// over the whole sample when `subsamples` is nil.
    public static func encrypt(_ bytes: inout [UInt8], sample: Range<Int>, subsamples: [Subsample]?, key: ContentKey,
                               iv: [UInt8]) throws(EncryptionError) {
        guard iv.count == 8, sample.lowerBound >= 0, sample.upperBound <= bytes.count else {
            throw EncryptionError("bad CENC sample range or IV")
        }
        try AES128.ctr(&bytes, ranges: try protectedRanges(sample, subsamples), key: key,
                       iv: iv + [UInt8](repeating: 0, count: 8))
    }

    /// Where the protected runs of `subsamples` lie within `sample` (the whole sample when nil),
    /// empty runs left out.
    static func protectedRanges(_ sample: Range<Int>, _ subsamples: [Subsample]?) throws(EncryptionError) -> [Range<Int>] {
        guard let subsamples else { return [sample] }
        var ranges: [Range<Int>] = []
        var at = sample.lowerBound
        for s in subsamples {
            at += Int(s.clear)
            let end = at + Int(s.protected)
            guard end <= sample.upperBound else { throw EncryptionError("subsamples run past their sample") }
            if end > at { ranges.append(at..<end) }
            at = end
        }
        return ranges
    }
}

extension AES128 {
    /// AES-128-CTR in place over `ranges` of `bytes`, in order, as one keystream starting at the
    /// 16-byte counter block `iv`.
    public static func ctr(_ bytes: inout [UInt8], ranges: [Range<Int>], key: ContentKey, iv: [UInt8]) throws(EncryptionError) {
        guard iv.count == 16 else { throw EncryptionError("an AES-CTR counter block is 16 bytes") }
        guard ranges.allSatisfy({ $0.lowerBound >= 0 && $0.upperBound <= bytes.count }) else {
            throw EncryptionError("AES-CTR range outside the buffer")
        }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw EncryptionError("EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let ok = key.bytes.withUnsafeBufferPointer { k in
            iv.withUnsafeBufferPointer { v in EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nil, k.baseAddress, v.baseAddress) }
        }
        guard ok == 1 else { throw EncryptionError("EVP_EncryptInit_ex failed") }
        let done: Bool = bytes.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return ranges.isEmpty }
            for range in ranges where !range.isEmpty {
                var n: Int32 = 0
                // In place: a stream cipher's output may be its input.
                guard range.count <= Int(Int32.max),
                      EVP_EncryptUpdate(ctx, base + range.lowerBound, &n, base + range.lowerBound, Int32(range.count)) == 1,
                      Int(n) == range.count else { return false }
            }
            return true
        }
        guard done else { throw EncryptionError("AES-128-CTR encryption failed") }
    }
}
