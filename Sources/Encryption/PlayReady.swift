import ByteIO
import COpenSSL
import XML

/// PlayReady's description of a key for its clients: the PlayReady Object (PRO) that Smooth
/// manifests carry as `ProtectionHeader`, DASH MPDs as `mspr:pro` and `pssh` boxes as their data
/// (Microsoft's PlayReady Header Specification §2 and §3.6): a little-endian length and record
/// count, then one record of type 1 holding a PlayReady Header (WRMHEADER) v4.0.0.0 in UTF-16LE,
/// which names the key ID, its checksum and the license server. The key itself is not in it.
public struct PlayReadyHeader: Sendable, Equatable {
    /// PlayReady's system ID, `9a04f079-9840-4286-ab92-e65be0885f95`.
    public static let systemID: [UInt8] = [0x9A, 0x04, 0xF0, 0x79, 0x98, 0x40, 0x42, 0x86,
                                           0xAB, 0x92, 0xE6, 0x5B, 0xE0, 0x88, 0x5F, 0x95]
    /// Longest license server URL accepted, in UTF-8 bytes: the header must stay far below the
    /// 64 KB a record length can describe (the specification asks for a PRO under 15 KB).
    public static let maximumURLLength = 2048

    /// The key ID as `tenc` and `cenc:default_KID` write it (UUID byte order).
    public let kid: [UInt8]
    /// `CHECKSUM`: the first 8 bytes of the GUID-order key ID encrypted with the key (AES-ECB).
    public let checksum: [UInt8]
    /// `LA_URL`, where clients ask for a license.
    public let licenseURL: String?

    public init(key: ContentKey, licenseURL: String?) throws(EncryptionError) {
        guard let kid = key.kid else { throw EncryptionError("a PlayReady header needs a key ID") }
        if let licenseURL, licenseURL.isEmpty || licenseURL.utf8.count > Self.maximumURLLength {
            throw EncryptionError("a PlayReady license URL is 1 to \(Self.maximumURLLength) bytes")
        }
        self.kid = kid
        self.checksum = Array(try AES128.ecb(block: Self.guidOrder(kid), key: key).prefix(8))
        self.licenseURL = licenseURL
    }

    /// A UUID's 16 bytes in the order of a Windows GUID (DWORD, WORD, WORD little-endian, then 8
    /// bytes as they are), which is how PlayReady writes key IDs.
    public static func guidOrder(_ uuid: [UInt8]) -> [UInt8] {
        guard uuid.count == 16 else { return uuid }
        return [uuid[3], uuid[2], uuid[1], uuid[0], uuid[5], uuid[4], uuid[7], uuid[6]] + uuid[8...]
    }

    /// The WRMHEADER element, without line breaks (elements in the order Shaka Packager writes
    /// them, so the two produce the same bytes).
    public var wrmHeader: String {
        var out = Array(#"<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0">"#.utf8)
        out += "<DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO>".utf8
        out += "<KID>\(Base64.encode(Self.guidOrder(kid)))</KID><CHECKSUM>\(Base64.encode(checksum))</CHECKSUM>".utf8
        if let licenseURL {
            out += "<LA_URL>".utf8
            XMLWriter.appendAttributeValue(licenseURL, to: &out)
            out += "</LA_URL>".utf8
        }
        out += "</DATA></WRMHEADER>".utf8
        return String(decoding: out, as: UTF8.self)
    }

    /// The PlayReady Object: `Length` (32 bits), `Record Count` (16), and one record: `Record
    /// Type` 1 (16), `Record Length` (16), the WRMHEADER in UTF-16; every number little-endian.
    public var object: [UInt8] {
        let units = Array(wrmHeader.utf16)
        // init limits the URL, so the record stays far below 64 KB.
        let recordLength = UInt16(clamping: units.count * 2)
        var w = ByteWriter(capacity: 10 + Int(recordLength))
        w.writeUInt32(UInt32(10 + Int(recordLength)).byteSwapped)     // little-endian
        w.writeUInt16(UInt16(1).byteSwapped)
        w.writeUInt16(UInt16(1).byteSwapped)
        w.writeUInt16(recordLength.byteSwapped)
        for unit in units { w.writeUInt16(unit.byteSwapped) }
        return w.take()
    }
}

extension AES128 {
    /// One 16-byte block encrypted with AES-128 in ECB mode (PlayReady's key checksum).
    public static func ecb(block: [UInt8], key: ContentKey) throws(EncryptionError) -> [UInt8] {
        guard block.count == 16 else { throw EncryptionError("an AES block is 16 bytes") }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw EncryptionError("EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: 32)
        var n: Int32 = 0
        let ok = key.bytes.withUnsafeBufferPointer { k in
            EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), nil, k.baseAddress, nil) == 1
                && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1
                && block.withUnsafeBufferPointer { b in
                    out.withUnsafeMutableBufferPointer { o in EVP_EncryptUpdate(ctx, o.baseAddress, &n, b.baseAddress, 16) }
                } == 1
        }
        guard ok, n == 16 else { throw EncryptionError("AES-128-ECB encryption failed") }
        return Array(out.prefix(16))
    }
}
