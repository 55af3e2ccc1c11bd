import ByteIO
import COpenSSL

/// Common Encryption `cbcs` (ISO/IEC 23001-7 §10.4): AES-128 in CBC mode with one constant IV,
/// restarted at every subsample. Video encrypts a 1:9 pattern (one 16-byte block of each ten) of
/// the protected bytes of each NAL unit, leaving their headers clear; other tracks encrypt every
/// whole block of a sample (pattern 0:0). A trailing partial block is always left clear, so
/// samples keep their size.
public enum CBCS {
    /// Blocks encrypted, then blocks skipped, repeating (`default_crypt_byte_block` and
    /// `default_skip_byte_block` of `tenc`). 0:0 encrypts every whole block.
    public struct Pattern: Sendable, Equatable {
        public var crypt: UInt8
        public var skip: UInt8

        public init(crypt: UInt8, skip: UInt8) {
            self.crypt = crypt
            self.skip = skip
        }

        /// Video: one block of ten (the pattern every `cbcs` packager and decoder uses).
        public static let video = Pattern(crypt: 1, skip: 9)
        /// Audio and other tracks: every whole block.
        public static let whole = Pattern(crypt: 0, skip: 0)
    }

    /// Bytes at the start of each coded picture NAL unit (its header included) that stay clear when
    /// its slice header cannot be measured (HEVC; H.264 without usable SPS and PPS): they hold the
    /// slice header in practice, as in Apple's SAMPLE-AES, which keeps the same 32 bytes clear. A
    /// longer slice header would have its end encrypted (still decryptable).
    public static let clearLead = 32

    /// The subsamples of one video sample: of each picture NAL unit the length prefix and slice
    /// header clear (measured with `sliceHeaders` for H.264, else ``clearLead`` bytes) and the rest
    /// protected, so protection starts at the slice data (fewer than 16 protected bytes would all
    /// stay clear, so such units are clear); other NAL units clear. nil when the sample is not a
    /// well-formed sequence of NAL units (then it is encrypted whole).
    public static func subsamples(of sample: ArraySlice<UInt8>, layout: CENC.NALLayout,
                                  sliceHeaders: AVCSliceHeaders? = nil) -> [CENC.Subsample]? {
        CENC.subsamples(of: sample, layout: layout) { unit in
            let protected = unit.count - (sliceHeaders?.headerSize(unit) ?? max(clearLead, layout.headerSize))
            return protected >= 16 ? protected : 0
        }
    }

    /// The constant IV Origo uses for `key` when none is configured: 16 bytes of a SHA-256 of the
    /// key ID and key, so every Apache child, and every request, encrypts with the same IV (the
    /// output is cacheable) while nothing of the key can be learnt from it.
    public static func constantIV(for key: ContentKey) -> [UInt8] {
        Array(key.digest(label: "origo-cbcs-iv").prefix(16))
    }

    /// The key ID Origo gives a key configured without one (`hls.key=:CEK`), since `tenc` names
    /// one: 16 bytes of another SHA-256 of the key.
    public static func keyID(for key: ContentKey) -> [UInt8] {
        Array(key.digest(label: "origo-cbcs-kid").prefix(16))
    }

    /// Encrypts one sample in place: every protected run of `subsamples` (or the whole sample when
    /// nil) in CBC mode from `iv` (16 bytes, restarted at each run), `pattern` blocks encrypted and
    /// skipped in turn from the start of the run, a final partial block clear.
    public static func encrypt(_ bytes: inout [UInt8], sample: Range<Int>, subsamples: [CENC.Subsample]?,
                               pattern: Pattern, key: ContentKey, iv: [UInt8]) throws(EncryptionError) {
        guard iv.count == 16, sample.lowerBound >= 0, sample.upperBound <= bytes.count else {
            throw EncryptionError("bad cbcs sample range or IV")
        }
        let runs = try CENC.protectedRanges(sample, subsamples)
        guard let ctx = EVP_CIPHER_CTX_new() else { throw EncryptionError("EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let ok = key.bytes.withUnsafeBufferPointer { k in
            EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), nil, k.baseAddress, nil)
        }
        guard ok == 1, EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 else { throw EncryptionError("EVP_EncryptInit_ex failed") }
        // Whole blocks when the pattern skips nothing (or encrypts nothing, which 0:0 means).
        let whole = pattern.crypt == 0 || pattern.skip == 0
        let cryptBytes = 16 * Int(pattern.crypt)
        let skipBytes = 16 * Int(pattern.skip)
        let done: Bool = bytes.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return runs.isEmpty }
            for run in runs {
                // The IV restarts at every subsample (§10.4.2); the chain runs on over skipped blocks.
                let reset = iv.withUnsafeBufferPointer { v in EVP_EncryptInit_ex(ctx, nil, nil, nil, v.baseAddress) }
                guard reset == 1 else { return false }
                var at = run.lowerBound
                while true {
                    // A pattern encrypts only whole groups of `crypt` blocks: what is left stays clear.
                    let left = run.upperBound - at
                    let n = whole ? left / 16 * 16 : (left >= cryptBytes ? cryptBytes : 0)
                    guard n > 0 else { break }
                    guard n <= Int(Int32.max) else { return false }
                    var written: Int32 = 0
                    // In place: OpenSSL's CBC reads each block before it writes it.
                    guard EVP_EncryptUpdate(ctx, base + at, &written, base + at, Int32(n)) == 1,
                          Int(written) == n else { return false }
                    at += n
                    at += whole ? 0 : min(skipBytes, run.upperBound - at)
                }
            }
            return true
        }
        guard done else { throw EncryptionError("AES-128-CBC (cbcs) encryption failed") }
    }
}
