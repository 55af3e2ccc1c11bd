extension Track {
    /// The RFC 6381 `codecs` value players use to pick a decoder (`avc1.64001F`, `hvc1.1.6.L93.B0`,
    /// `mp4a.40.2`, `ac-3`, `ec-3`, `stpp.ttml.im1t`, `wvtt`).
    public var codecsString: String {
        switch codec {
        case .avc(let c):
            return sampleEntryType + "." + hex2(c.profile) + hex2(c.compatibility) + hex2(c.level)
        case .hevc(let c):
            return sampleEntryType + "." + hevcSuffix(c)
        case .aac(let c):
            return "mp4a.40.\(c.objectType)"
        case .ac3:
            return "ac-3"
        case .eac3:
            return "ec-3"
        case .other:
            switch sampleEntryType {
            case "stpp": return "stpp.ttml.im1t"
            case "mp4a": return "mp4a.40.2"
            default: return sampleEntryType
            }
        }
    }

    /// The `profile_space` letter, profile, reversed compatibility flags, tier+level and the
    /// constraint bytes without trailing zeros (ISO/IEC 14496-15 Annex E).
    private func hevcSuffix(_ c: HEVCConfiguration) -> String {
        let space = ["", "A", "B", "C"][Int(c.profileSpace & 3)]
        var reversed: UInt32 = 0
        for bit in 0..<32 where c.profileCompatibilityFlags & (1 << UInt32(bit)) != 0 {
            reversed |= 1 << UInt32(31 - bit)
        }
        var parts = [space + String(c.profileIDC), String(reversed, radix: 16, uppercase: true),
                     (c.tierFlag ? "H" : "L") + String(c.levelIDC)]
        var constraints = c.constraintFlags
        while let last = constraints.last, last == 0 { constraints.removeLast() }
        parts += constraints.map { String($0, radix: 16, uppercase: true) }
        return parts.joined(separator: ".")
    }

    /// Nominal frames per second from the most common sample duration, as an exact fraction.
    public var frameRate: (numerator: Int64, denominator: Int64)? {
        guard kind == .video, !samples.durations.isEmpty, timescale > 0 else { return nil }
        // The median duration resists a short first or last frame.
        let sorted = samples.durations.count > 4096
            ? Array(samples.durations.prefix(4096)).sorted()
            : samples.durations.sorted()
        let d = Int64(sorted[sorted.count / 2])
        guard d > 0 else { return nil }
        let g = gcd(Int64(timescale), d)
        return (Int64(timescale) / g, d / g)
    }
}

private func hex2(_ v: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(v >> 4)], digits[Int(v & 0xF)]])
}

func gcd(_ a: Int64, _ b: Int64) -> Int64 {
    var (x, y) = (abs(a), abs(b))
    while y != 0 { (x, y) = (y, x % y) }
    return max(x, 1)
}
