/// Clock timestamps as WebVTT and SRT write them: `[hh:]mm:ss.ttt` (SRT: `hh:mm:ss,ttt`).
public enum Timestamp {
    /// Largest time accepted: 100,000 hours, far beyond any real media, far below overflow.
    static let maxMilliseconds: Int64 = 100_000 * 3_600_000

    /// Milliseconds of a `[hh:]mm:ss(.|,)ttt` timestamp; `,` is accepted as SRT writes it.
    /// Fewer than three fraction digits are read as a decimal fraction (`.5` = 500 ms).
    static func parse(_ s: Substring) -> Int64? {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        var fields: [Int64] = []
        for p in parts.dropLast() {
            guard !p.isEmpty, p.utf8.count <= 9, p.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let v = Int64(p) else { return nil }
            fields.append(v)
        }
        let last = parts[parts.count - 1]
        guard let sep = last.firstIndex(where: { $0 == "." || $0 == "," }) else {
            // SRT files in the wild sometimes omit the fraction.
            guard let seconds = digits(last, max: 2) else { return nil }
            return combine(fields, seconds: seconds, millis: 0)
        }
        guard let seconds = digits(last[..<sep], max: 2) else { return nil }
        let fraction = last[last.index(after: sep)...]
        guard !fraction.isEmpty, fraction.utf8.count <= 9,
              fraction.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        var millis: Int64 = 0
        var scale: Int64 = 100
        for d in fraction.utf8.prefix(3) {
            millis += Int64(d - 0x30) * scale
            scale /= 10
        }
        return combine(fields, seconds: seconds, millis: millis)
    }

    private static func digits(_ s: Substring, max: Int) -> Int64? {
        guard !s.isEmpty, s.utf8.count <= max, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int64(s)
    }

    private static func combine(_ fields: [Int64], seconds: Int64, millis: Int64) -> Int64? {
        guard seconds < 60 else { return nil }
        let hours = fields.count == 2 ? fields[0] : 0
        let minutes = fields[fields.count - 1]
        guard minutes < 60 || fields.count == 1, hours <= 100_000, minutes <= 6_000_000 else { return nil }
        let total = ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis
        return total <= maxMilliseconds ? total : nil
    }

    /// `hh:mm:ss.ttt` (hours at least two digits) for WebVTT and TTML clock times.
    public static func format(_ ms: Int64) -> String {
        let v = max(ms, 0)
        let h = v / 3_600_000, m = v / 60_000 % 60, s = v / 1000 % 60, t = v % 1000
        return pad(h, 2) + ":" + pad(m, 2) + ":" + pad(s, 2) + "." + pad(t, 3)
    }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
