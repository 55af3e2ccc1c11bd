import ByteIO
import COpenSSL

/// A content encryption key (CEK, 16 bytes) with its key ID (KID, 16 bytes) when it has one, as
/// server manifests write them: `KID:CEK` in hexadecimal (`hls.key` may leave the KID out:
/// `:CEK`). The key's bytes are never part of a description or an error message.
public struct ContentKey: Sendable, Equatable, CustomStringConvertible {
    public let kid: [UInt8]?
    public let bytes: [UInt8]

    /// Why a key option was refused: a sentence naming what is wrong, never the value.
    public struct Invalid: Error, Equatable {
        public let reason: String
    }

    public init(kid: [UInt8]?, bytes: [UInt8]) throws(Invalid) {
        guard bytes.count == 16 else { throw Invalid(reason: "the content key must be 16 bytes (32 hexadecimal digits)") }
        guard bytes.contains(where: { $0 != 0 }) else { throw Invalid(reason: "the content key is all zeros") }
        if let kid {
            guard kid.count == 16 else { throw Invalid(reason: "the key ID must be 16 bytes (32 hexadecimal digits)") }
            guard kid.contains(where: { $0 != 0 }) else { throw Invalid(reason: "the key ID is all zeros") }
        }
        self.kid = kid
        self.bytes = bytes
    }

    /// `KID:CEK` or `:CEK` (or a lone `CEK` when `kidRequired` is false); a KID may be written as a
    /// UUID with dashes.
    public init(parsing text: String, kidRequired: Bool) throws(Invalid) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw Invalid(reason: "expected KID:CEK") }
        let kidText = parts.count == 2 ? parts[0] : ""
        let cekText = parts.count == 2 ? parts[1] : parts[0]
        if kidRequired && kidText.isEmpty { throw Invalid(reason: "expected KID:CEK, the key ID is missing") }
        guard let cek = Hex.bytes(cekText) else { throw Invalid(reason: "the content key is not hexadecimal") }
        var kid: [UInt8]? = nil
        if !kidText.isEmpty {
            guard let k = Hex.bytes(kidText.filter { $0 != "-" }) else { throw Invalid(reason: "the key ID is not hexadecimal") }
            kid = k
        }
        try self.init(kid: kid, bytes: cek)
    }

    public var description: String { kid.map { "key \(Hex.string($0))" } ?? "key without ID" }
}

extension ContentKey {
    /// 16 hex digits that change whenever the key does, for ETags (a truncated SHA-256 of the key ID
    /// and key; nothing of the key can be learnt from it).
    public var fingerprint: String { Hex.string(Array(digest(label: "origo-content-key").prefix(8))) }

    /// SHA-256 of `label`, the key ID and the key: values that follow the key without revealing it.
    func digest(label: String) -> [UInt8] {
        var input = Array(label.utf8) + (kid ?? []) + [0x3A] + bytes
        var digest = [UInt8](repeating: 0, count: 32)
        input.withUnsafeMutableBufferPointer { i in
            digest.withUnsafeMutableBufferPointer { d in
                _ = SHA256(i.baseAddress, i.count, d.baseAddress)
            }
        }
        return digest
    }
}
