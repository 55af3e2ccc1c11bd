/// Exact time arithmetic between timescales, without overflow traps.
public enum MediaTime {
    /// `value * to / from`, rounded to nearest (halves away from zero); saturates instead of trapping.
    public static func rescale(_ value: Int64, from: UInt32, to: UInt32) -> Int64 {
        guard from != 0 else { return 0 }
        if from == to { return value }
        let negative = value < 0
        let magnitude = value.magnitude
        let product = magnitude.multipliedFullWidth(by: UInt64(to))
        let divisor = UInt64(from)
        // Saturate if the quotient would not fit in 64 bits.
        guard product.high < divisor else { return negative ? Int64.min : Int64.max }
        let (q, r) = divisor.dividingFullWidth(product)
        let rounded = r >= divisor - r ? q &+ 1 : q
        guard rounded <= UInt64(Int64.max) else { return negative ? Int64.min : Int64.max }
        return negative ? -Int64(rounded) : Int64(rounded)
    }

    /// Seconds as a `Double` (for display: `EXTINF`, ISO 8601 durations).
    public static func seconds(_ value: Int64, timescale: UInt32) -> Double {
        timescale == 0 ? 0 : Double(value) / Double(timescale)
    }
}

/// A duration given as seconds or a fraction (`4`, `2.5`, `48/25`), as the
/// `minimum_fragment_length` option takes it.
public struct FragmentLength: Sendable, Hashable {
    public var numerator: Int64
    public var denominator: Int64

    public init(numerator: Int64, denominator: Int64) {
        self.numerator = numerator
        self.denominator = denominator
    }

    public static func seconds(_ s: Int64) -> FragmentLength { .init(numerator: s, denominator: 1) }

    /// Parses `4`, `2.5`, `48/25`; nil for anything else (negative, zero denominator, too long).
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2 {
            guard let n = Int64(parts[0]), let d = Int64(parts[1]), n >= 0, d > 0 else { return nil }
            self.init(numerator: n, denominator: d)
            return
        }
        guard parts.count == 1, !text.isEmpty, text.utf8.count <= 18 else { return nil }
        let pieces = text.split(separator: ".", omittingEmptySubsequences: false)
        guard pieces.count <= 2, let whole = Int64(pieces[0].isEmpty ? "0" : pieces[0]), whole >= 0 else { return nil }
        if pieces.count == 1 { self.init(numerator: whole, denominator: 1); return }
        let fraction = pieces[1]
        guard !fraction.isEmpty, fraction.count <= 9, fraction.allSatisfy(\.isASCII), let f = Int64(fraction), f >= 0 else { return nil }
        var scale: Int64 = 1
        for _ in 0..<fraction.count { scale *= 10 }
        let (total, overflow) = whole.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        self.init(numerator: total + f, denominator: scale)
    }

    /// The length in units of `timescale`, rounded to nearest.
    public func units(timescale: UInt32) -> Int64 {
        guard denominator > 0, numerator >= 0 else { return 0 }
        let product = numerator.multipliedFullWidth(by: Int64(timescale))
        guard product.high == 0 else { return Int64.max }
        let (q, r) = UInt64(denominator).dividingFullWidth((0, product.low))
        return Int64(clamping: r * 2 >= UInt64(denominator) ? q + 1 : q)
    }
}

extension MediaTime {
    /// `value / timescale` as a decimal string with exactly `digits` fraction digits, computed on
    /// integers (no binary floating point drift), rounded half up. `decimal(1001, 30000, 3)` is "0.033".
    public static func decimal(_ value: Int64, timescale: UInt32, digits: Int) -> String {
        guard timescale > 0 else { return "0" }
        var scale: Int64 = 1
        for _ in 0..<max(0, min(digits, 9)) { scale *= 10 }
        let scaled = rescale(value, from: timescale, to: UInt32(clamping: scale))
        let negative = scaled < 0
        let magnitude = scaled.magnitude
        let whole = magnitude / UInt64(scale)
        var text = (negative ? "-" : "") + String(whole)
        if digits > 0 {
            var fraction = String(magnitude % UInt64(scale))
            while fraction.count < digits { fraction = "0" + fraction }
            text += "." + fraction
        }
        return text
    }

    /// `value / timescale` with up to `digits` fraction digits and trailing zeros removed ("10", "2.5").
    public static func trimmedDecimal(_ value: Int64, timescale: UInt32, digits: Int) -> String {
        var text = decimal(value, timescale: timescale, digits: digits)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }
}
