/// Bitrates as manifests state them (bits per second), computed in floating point from sample
/// sizes and durations read from media. A hostile table (samples of 4 GiB lasting one tick of a
/// 4 GHz timescale, all at the same file offset) gives rates far beyond `Int`, and converting
/// such a `Double` to `Int` traps: every conversion goes through ``clamped(_:rule:)``.
public enum Bitrate {
    /// The largest bitrate stated: 2^53 bit/s (9 Pbit/s), beyond any real media and the largest
    /// integer a `Double` holds exactly, so that the few rates a variant adds up cannot overflow.
    public static let maximum = 1 << 53

    /// `bitsPerSecond` rounded by `rule` and clamped to `0 ... maximum` (NaN gives 0).
    public static func clamped(_ bitsPerSecond: Double,
                               rule: FloatingPointRoundingRule = .toNearestOrAwayFromZero) -> Int {
        let rounded = bitsPerSecond.rounded(rule)
        guard rounded > 0 else { return 0 }
        guard rounded < Double(maximum) else { return maximum }
        return Int(rounded)
    }
}
