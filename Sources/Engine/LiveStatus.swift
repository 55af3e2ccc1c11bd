import Live

/// The statuses of live fragment requests the window cannot answer, per output format: the
/// `Fmp4{Iss,Hds,Hls,Mpd}Fragment{NotFound,Missing,NotAvailable}` directives (reference §5.1).
public struct LiveFragmentStatus: Sendable, Equatable {
    public enum Format: Int, Sendable, CaseIterable { case iss, hds, hls, mpd }

    /// Row by format, columns not found (older than the window), missing (a gap), not available (future).
    static let defaults: [[Int]] = [[404, 412, 412], [404, 503, 503], [404, 404, 404], [410, 404, 404]]

    private var codes: [[Int]]

    public init() { codes = Self.defaults }

    /// `overrides[format * 3 + case]` in the order above (the ABI's `live_fragment_status`); 0 or
    /// anything outside 400...599 keeps the default.
    public init(overrides: [Int]) {
        codes = Self.defaults
        for (i, code) in overrides.prefix(12).enumerated() where (400...599).contains(code) {
            codes[i / 3][i % 3] = code
        }
    }

    /// The status for `lookup`, nil when it found a fragment.
    func status(_ format: Format, _ lookup: LiveWindow.Lookup) -> Int? {
        switch lookup {
        case .found: nil
        case .notFound: codes[format.rawValue][0]
        case .missing: codes[format.rawValue][1]
        case .notAvailable: codes[format.rawValue][2]
        }
    }
}

/// Caching headers of live answers (reference §7): manifests live for about half a fragment, a
/// segment until it leaves the window, when `Sunset` says it goes.
enum LiveCaching {
    /// A manifest or playlist that changes with every fragment.
    static func manifest(longestFragmentMillis: Int64) -> [(String, String)] {
        [("Cache-Control", "public, max-age=\(max(1, longestFragmentMillis / 2000))")]
    }

    /// A segment that stays the same until it leaves a window of `windowSeconds`, about that long after it was stored.
    static func segment(ingestMillis: UInt64, windowSeconds: Int, nowMillis: UInt64) -> [(String, String)] {
        // A window of 0 keeps the whole store: the segment does not leave (until an archive limit does).
        guard windowSeconds > 0 else { return [("Cache-Control", "public, max-age=86400")] }
        let sunset = Int64(clamping: ingestMillis / 1000) &+ Int64(windowSeconds)
        let left = max(1, sunset &- Int64(clamping: nowMillis / 1000))
        return [("Cache-Control", "public, max-age=\(left)"), ("Sunset", httpDate(seconds: sunset))]
    }

    /// A refusal that will change (not there yet, or in a gap being filled): not to be cached.
    static let refusal: [(String, String)] = [("Cache-Control", "no-cache")]

    /// `Tue, 08 Dec 2026 01:33:00 GMT` (RFC 9110 IMF-fixdate).
    static func httpDate(seconds: Int64) -> String {
        let iso = LiveAnswer.iso8601(millis: seconds &* 1000)   // 2026-12-08T01:33:00.000Z
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][Int(((days % 7) + 7) % 7)]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let parts = Array(iso.utf8)
        func text(_ r: Range<Int>) -> String { String(decoding: parts[r], as: UTF8.self) }
        let month = Int(text(5..<7)).map { months[max(0, min(11, $0 - 1))] } ?? "Jan"
        return "\(weekday), \(text(8..<10)) \(month) \(text(0..<4)) \(text(11..<19)) GMT"
    }
}
