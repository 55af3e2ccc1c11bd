import ByteIO
import Live
import PlayerURL

/// A catch-up request on a live publishing point: `vbegin`/`vend` in UTC (epoch seconds with an
/// optional fraction, or ISO 8601 `2026-12-08T01:30:00[.5](Z|±hh:mm)`) cut a VOD presentation out
/// of the archive. Whole fragments: those starting in [vbegin, vend). Wall time maps to media time
/// as the live DASH MPD says (`availabilityStartTime`: the store's first fragment's ingest time
/// minus its end), so a range read off a live player's clock selects what it showed.
struct LiveCatchup: Equatable {
    /// Milliseconds since the epoch; nil for "from the start of the archive" / "to its end".
    var beginMillis: Int64?
    var endMillis: Int64?

    /// Nil when the query asks for no catch-up.
    init?(query: String?) throws {
        let options = try QueryOptions(raw: query)
        let begin = options.value("vbegin"), end = options.value("vend")
        guard begin != nil || end != nil else { return nil }
        beginMillis = try begin.map { v throws in try Self.parseUTC(v, what: "vbegin") }
        endMillis = try end.map { v throws in try Self.parseUTC(v, what: "vend") }
        if let b = beginMillis, let e = endMillis, e <= b {
            throw EngineError.badRequest("catch-up: vend is not after vbegin")
        }
    }

    /// The fragments of a track inside the range, as a window (HLS numbers stay store indexes).
    func window(index: borrowing FragmentIndexReader, anchor: (record: FragmentRecord, timescale: UInt32),
                timescale: UInt32) throws -> LiveWindow {
        let scale = Int64(max(anchor.timescale, 1))
        let zero = Int64(clamping: anchor.record.ingestMillis) &- anchor.record.end &* 1000 / scale
        let own = Int64(max(timescale, 1))
        // Wall milliseconds to media time, saturating: a far-off time is before or after everything.
        func media(_ ms: Int64) -> Int64 {
            let (delta, o1) = ms.subtractingReportingOverflow(zero)
            let (scaled, o2) = (delta / 1000).multipliedReportingOverflow(by: own)
            if o1 || o2 { return (o1 ? ms < 0 : delta < 0) ? .min + 1 : .max }
            return scaled &+ (delta % 1000) * own / 1000
        }
        let from = beginMillis.map(media) ?? .min
        let to = endMillis.map(media) ?? .max
        return try LiveWindow(index: index, startingIn: from..<to)
    }

    /// The store's first fragment of the lead track (the first video one, else the first) and its
    /// timescale: media time zero is its ingest time minus its end.
    static func anchor(_ live: LivePresentation) throws -> (record: FragmentRecord, timescale: UInt32)? {
        guard let lead = live.tracks.first(where: { $0.kind == .video }) ?? live.tracks.first else { return nil }
        let index = try FragmentIndexReader(path: lead.indexPath)
        guard index.count > 0 else { return nil }
        return (try index.record(at: 0), lead.timescale)
    }

    /// Epoch seconds (`1765157400`, `1765157400.5`) or ISO 8601 into milliseconds since the epoch.
    static func parseUTC(_ text: String, what: String) throws -> Int64 {
        let bad = EngineError.badRequest("catch-up: \(what) must be UTC as epoch seconds or ISO 8601, got \(Sanitized.text(text, limit: 40))")
        let b = Array(text.utf8)
        guard !b.isEmpty, b.count <= 40 else { throw bad }
        func digits(_ r: Range<Int>) throws -> Int64 {
            guard r.upperBound <= b.count, !r.isEmpty else { throw bad }
            var v: Int64 = 0
            for i in r {
                guard b[i] >= 0x30, b[i] <= 0x39 else { throw bad }
                v = v * 10 + Int64(b[i] - 0x30)
            }
            return v
        }
        /// Milliseconds of a fraction starting at `at` (after its dot), and where it ends.
        func fraction(_ at: Int) throws -> (Int64, Int) {
            var end = at
            while end < b.count, b[end] >= 0x30, b[end] <= 0x39 { end += 1 }
            guard end > at, end - at <= 9 else { throw bad }
            let ms = try digits(at..<min(end, at + 3))
            return (ms * [100, 10, 1][min(end, at + 3) - at - 1], end)
        }
        if !b.contains(UInt8(ascii: "-")) && !b.contains(UInt8(ascii: "T")) {
            let dot = b.firstIndex(of: UInt8(ascii: ".")) ?? b.count
            guard dot <= 12 else { throw bad }
            let seconds = try digits(0..<dot)
            var ms: Int64 = 0
            if dot < b.count {
                let (f, end) = try fraction(dot + 1)
                guard end == b.count else { throw bad }
                ms = f
            }
            return seconds * 1000 + ms
        }
        // YYYY-MM-DDTHH:MM:SS
        guard b.count >= 19, b[4] == 0x2d, b[7] == 0x2d, b[10] == UInt8(ascii: "T"), b[13] == 0x3a, b[16] == 0x3a else { throw bad }
        let year = try digits(0..<4), month = try digits(5..<7), day = try digits(8..<10)
        let hour = try digits(11..<13), minute = try digits(14..<16), second = try digits(17..<19)
        guard (1970...9999).contains(year), (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { throw bad }
        var at = 19
        var ms: Int64 = 0
        if at < b.count, b[at] == UInt8(ascii: ".") { (ms, at) = try fraction(at + 1) }
        var zone: Int64 = 0
        if at < b.count, b[at] == UInt8(ascii: "Z") {
            at += 1
        } else if at + 6 == b.count, b[at] == UInt8(ascii: "+") || b[at] == UInt8(ascii: "-"), b[at + 3] == 0x3a {
            let offset = try digits(at + 1..<at + 3) * 60 + digits(at + 4..<at + 6)
            zone = b[at] == UInt8(ascii: "+") ? offset : -offset
            at += 6
        } else {
            throw bad   // a time without a zone is not UTC
        }
        guard at == b.count else { throw bad }
        // Days from the civil date (H. Hinnant's algorithm, as LiveAnswer.iso8601 the other way).
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return ((days * 86_400 + hour * 3600 + minute * 60 + second) - zone * 60) * 1000 + ms
    }
}
