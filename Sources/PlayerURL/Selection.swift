import ByteIO

/// The query options that change which part of a presentation a request sees: `filter=`,
/// `max_bitrate=` and the subclip (`vbegin`/`vend`, `t`). Everything else in the query (session ids,
/// format options) leaves the selected presentation alone, so requests that differ only there
/// share one selection (see ``key``).
public struct Selection: Sendable, Equatable {
    public var filter: TrackFilter?
    /// Largest `systemBitrate` of a video track to keep (see the engine for the exact rule).
    public var maxBitrate: Int64?
    public var subclip: Subclip?

    public init(filter: TrackFilter? = nil, maxBitrate: Int64? = nil, subclip: Subclip? = nil) {
        self.filter = filter
        self.maxBitrate = maxBitrate
        self.subclip = subclip
    }

    /// Reads `filter`, `max_bitrate`, `vbegin`, `vend` and `t` from a query.
    public init(query: QueryOptions) throws(PlayerURLError) {
        try self.init(tracksOf: query)
        if let clip = try Subclip(query: query), !clip.isWholePresentation {
            subclip = clip
        }
    }

    /// Reads only the track selection, `filter` and `max_bitrate` (a live request's `vbegin` and
    /// `vend` are wall-clock times, not a subclip).
    public init(tracksOf query: QueryOptions) throws(PlayerURLError) {
        if let text = query.value("filter"), !text.isEmpty {
            filter = try TrackFilter(parsing: text)
        }
        if let text = query.value("max_bitrate") {
            guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let value = Int64(text), value > 0 else {
                throw .malformed("max_bitrate must be a positive integer (bits per second), got \(Sanitized.text(text, limit: 40))")
            }
            maxBitrate = value
        }
    }

    /// Nothing selected: the whole presentation.
    public var isEmpty: Bool { filter == nil && maxBitrate == nil && subclip == nil }

    /// A canonical text of the options consumed, equal for equal selections however they were
    /// spelled (`t=60,90` and `vbegin=60&vend=90` share one). Empty for ``isEmpty``.
    public var key: String {
        guard !isEmpty else { return "" }
        var parts: [String] = []
        if let filter { parts.append("f=" + filter.description) }
        if let maxBitrate { parts.append("m=\(maxBitrate)") }
        if let subclip { parts.append(subclip.key) }
        return parts.joined(separator: "|")
    }
}
