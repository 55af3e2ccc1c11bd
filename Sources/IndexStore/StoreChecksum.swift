/// The checksum of a store file's body: four independent 64-bit multiply-xor lanes over
/// little-endian words (so a large table is summed at memory speed, not byte by byte), then the
/// tail bytes and the length. It catches torn and flipped bytes, not deliberate forgeries: the
/// reader checks every shape anyway.
enum StoreChecksum {
    static func of(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let k: UInt64 = 0x9E37_79B9_7F4A_7C15
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344,
                                                       0xA409_3822_299F_31D0, 0x082E_FA98_EC4E_6C89)
        let n = bytes.count
        var i = 0
        while n &- i >= 32 {
            let w0 = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let w1 = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i &+ 8, as: UInt64.self))
            let w2 = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i &+ 16, as: UInt64.self))
            let w3 = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i &+ 24, as: UInt64.self))
            lanes.0 = ((lanes.0 ^ w0) &* k).rotated(29)
            lanes.1 = ((lanes.1 ^ w1) &* k).rotated(29)
            lanes.2 = ((lanes.2 ^ w2) &* k).rotated(29)
            lanes.3 = ((lanes.3 ^ w3) &* k).rotated(29)
            i &+= 32
        }
        var h = lanes.0 ^ lanes.1.rotated(17) ^ lanes.2.rotated(31) ^ lanes.3.rotated(47)
        while i < n {
            h = (h ^ UInt64(bytes[i])) &* 0x100_0000_01b3
            i &+= 1
        }
        h ^= UInt64(n)
        h = (h ^ (h >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        return h ^ (h >> 33)
    }

    /// A short name-safe hash of a key (the store file's name); the file holds the key itself.
    static func of(key: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}

extension UInt64 {
    @inline(__always) func rotated(_ n: UInt64) -> UInt64 { (self << n) | (self >> (64 &- n)) }
}
