import COpenSSL

/// HLS `METHOD=SAMPLE-AES` for MPEG-2 transport streams (Apple, "MPEG-2 Stream Encryption Format for
/// HTTP Live Streaming"): AES-128-CBC without padding inside each protected block (a video slice
/// NAL unit or an audio frame), the IV reset to the key's IV at the start of every protected block.
///
/// - H.264: NAL units of type 1 and 5 longer than 48 bytes; the type byte and the 31 bytes after it
///   stay clear, then one 16-byte block is encrypted and up to 144 bytes (nine blocks) stay clear,
///   repeating while more than 16 bytes remain (so the last 1…16 bytes are always clear).
///   The pattern runs over the NAL unit as the stream carries it (with its emulation prevention
///   bytes: what the decoder gets back after decryption), and emulation prevention is applied to
///   the result, as ffmpeg's decrypter (which removes it before decrypting) and Shaka Packager's
///   encrypter (`escape_encrypted_nalu`) agree. Encrypting the unescaped payload instead would hand
///   decoders a NAL unit without its emulation prevention bytes.
/// - AAC (ADTS): the ADTS header and 16 bytes clear, then every whole 16-byte block encrypted, the
///   rest (0…15 bytes) clear. AC-3 and E-AC-3: 16 bytes clear (the syncframe header is in them),
///   then likewise.
///
/// One value per segment: it keeps one cipher context and a scratch buffer for its NAL units.
public final class SampleAES {
    /// Bytes at the start of a protected NAL unit that stay clear (the type byte and 31 more).
    public static let videoLeader = 32
    /// Bytes after an audio frame's header that stay clear.
    public static let audioLeader = 16

    private let ctx: OpaquePointer
    private let iv: [UInt8]
    private var scratch: [UInt8] = []

    /// `iv` is the segment's (16 bytes): `hls.key_iv` or the media sequence number.
    public init(key: ContentKey, iv: [UInt8]) throws(EncryptionError) {
        guard iv.count == 16 else { throw EncryptionError("an AES IV is 16 bytes") }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw EncryptionError("EVP_CIPHER_CTX_new failed") }
        let ok = key.bytes.withUnsafeBufferPointer { k in
            iv.withUnsafeBufferPointer { v in EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), nil, k.baseAddress, v.baseAddress) }
        }
        guard ok == 1, EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 else {
            EVP_CIPHER_CTX_free(ctx)
            throw EncryptionError("EVP_EncryptInit_ex failed")
        }
        self.ctx = ctx
        self.iv = iv
    }

    deinit { EVP_CIPHER_CTX_free(ctx) }

    /// Whether an H.264 NAL unit (its first byte) is one SAMPLE-AES encrypts: a coded slice, IDR or not.
    public static func isProtectedNALType(_ header: UInt8) -> Bool {
        header & 0x1F == 1 || header & 0x1F == 5
    }

    /// Appends one H.264 NAL unit (as the stream carries it, without start code) in its SAMPLE-AES
    /// form to `out`: encrypted and re-escaped when it is a slice of more than 48 bytes, else as it is.
    public func appendVideoNAL(_ nal: UnsafeRawBufferPointer, to out: inout [UInt8]) throws(EncryptionError) {
        guard nal.count > 48, let first = nal.first, Self.isProtectedNALType(first) else {
            out.append(contentsOf: nal)
            return
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: nal)
        try resetIV()
        var at = Self.videoLeader
        let ok: Bool = scratch.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            // One block, then nine clear ones, while more than a block remains.
            while buffer.count &- at > 16 {
                guard encryptInPlace(base + at, count: 16) else { return false }
                at &+= 160
            }
            return true
        }
        guard ok else { throw EncryptionError("AES-128-CBC encryption failed") }
        Self.appendEscaped(scratch, to: &out)
    }

    /// Encrypts one audio frame in place: `frame` is the frame's range of `bytes` (its header
    /// included), `headerLength` its header bytes (ADTS: 7; AC-3 and E-AC-3: 0, their 16 clear
    /// bytes hold the syncframe header).
    public func encryptAudioFrame(_ bytes: inout [UInt8], frame: Range<Int>, headerLength: Int) throws(EncryptionError) {
        guard frame.lowerBound >= 0, frame.upperBound <= bytes.count, headerLength >= 0 else {
            throw EncryptionError("audio frame outside its buffer")
        }
        let start = frame.lowerBound &+ headerLength &+ Self.audioLeader
        guard start < frame.upperBound else { return }
        let blocks = (frame.upperBound &- start) / 16
        guard blocks > 0 else { return }
        try resetIV()
        let ok: Bool = bytes.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            return encryptInPlace(base + start, count: blocks &* 16)
        }
        guard ok else { throw EncryptionError("AES-128-CBC encryption failed") }
    }

    /// Starts a new CBC chain from the IV (a new protected block).
    private func resetIV() throws(EncryptionError) {
        let ok = iv.withUnsafeBufferPointer { v in EVP_EncryptInit_ex(ctx, nil, nil, nil, v.baseAddress) }
        guard ok == 1 else { throw EncryptionError("EVP_EncryptInit_ex failed") }
    }

    /// Whole blocks in place, continuing the current chain (libcrypto allows in place for CBC).
    private func encryptInPlace(_ p: UnsafeMutablePointer<UInt8>, count: Int) -> Bool {
        var n: Int32 = 0
        guard count <= Int(Int32.max) else { return false }
        return EVP_EncryptUpdate(ctx, p, &n, p, Int32(count)) == 1 && Int(n) == count
    }

    /// `bytes` with H.264 emulation prevention (ISO/IEC 14496-10 §7.4.1): an `0x03` after every two
    /// zero bytes that a byte `0x00…0x03` follows, and after a zero last byte.
    public static func appendEscaped(_ bytes: [UInt8], to out: inout [UInt8]) {
        var zeros = 0
        for b in bytes {
            if zeros >= 2 && b <= 3 {
                out.append(3)
                zeros = 0
            }
            out.append(b)
            zeros = b == 0 ? zeros &+ 1 : 0
        }
        if bytes.last == 0 { out.append(3) }
    }
}
