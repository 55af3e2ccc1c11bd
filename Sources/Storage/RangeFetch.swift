/// Fetching many byte ranges of upstream objects with few requests: ranges of one object that lie
/// close together are coalesced into one ranged GET (the bytes in the gaps are read and dropped),
/// so the samples of one segment of one track cost one request even when another track's samples
/// are interleaved between them.
public struct CoalescePolicy: Sendable, Equatable {
    /// Ranges whose gap is at most this many bytes share one request.
    public var maxGap: UInt64
    /// No single request asks for more than this (a larger single range is still read whole).
    public var maxRequest: UInt64

    public init(maxGap: UInt64, maxRequest: UInt64) {
        self.maxGap = maxGap
        self.maxRequest = maxRequest
    }

    /// 1 MiB gaps (an interleaved track's chunks), 64 MiB per request.
    public static let `default` = CoalescePolicy(maxGap: 1 << 20, maxRequest: 64 << 20)

    /// Merges `ranges` (offset, length) into the runs to request, sorted by offset.
    public func runs(_ ranges: [(offset: UInt64, length: UInt64)]) -> [Range<UInt64>] {
        let sorted = ranges.filter { $0.length > 0 }.sorted { $0.offset < $1.offset }
        var runs: [Range<UInt64>] = []
        for r in sorted {
            let (end, overflow) = r.offset.addingReportingOverflow(r.length)
            guard !overflow else { continue }
            if let last = runs.last {
                let gapOK = r.offset <= last.upperBound || r.offset - last.upperBound <= maxGap
                let newEnd = max(last.upperBound, end)
                if gapOK, newEnd - last.lowerBound <= maxRequest {
                    runs[runs.count - 1] = last.lowerBound..<newEnd
                    continue
                }
            }
            runs.append(r.offset..<end)
        }
        return runs
    }
}

/// The bytes of several ranges of upstream objects, fetched up front with one request per
/// coalesced run. Reads inside a fetched run are served from memory.
public struct PrefetchedRanges: Sendable {
    private var runs: [String: [(offset: UInt64, bytes: [UInt8])]] = [:]
    /// Upstream requests made.
    public private(set) var requestCount = 0

    public init() {}

    /// Fetches `ranges` of `url`. `version`, when known, must agree with every answer.
    public mutating func fetch(_ url: String, ranges: [(offset: UInt64, length: UInt64)], version: RemoteVersion?,
                               upstream: any Upstream, policy: CoalescePolicy = .default) throws(UpstreamError) {
        for run in policy.runs(ranges) {
            let length = run.upperBound - run.lowerBound
            let r = try upstream.fetchChecked(url, offset: run.lowerBound, length: length)
            requestCount += 1
            try version?.check(r, url: url)
            let start = run.lowerBound - r.bodyOffset  // fetchChecked: bodyOffset <= offset
            guard start <= UInt64(r.body.count), length <= UInt64(r.body.count) - start else {
                throw UpstreamError(.shortBody, url: url)
            }
            let s = Int(start)
            let bytes = (s == 0 && r.body.count == Int(length)) ? r.body : Array(r.body[s..<s + Int(length)])
            runs[url, default: []].append((run.lowerBound, bytes))
        }
    }

    /// The bytes at `offset..<offset+count` of `url` if a fetched run covers them.
    public func bytes(_ url: String, at offset: UInt64, count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, let list = runs[url] else { return nil }
        for run in list where offset >= run.offset {
            let start = offset - run.offset
            if start <= UInt64(run.bytes.count), UInt64(count) <= UInt64(run.bytes.count) - start {
                let s = Int(start)
                return run.bytes[s..<s + count]
            }
        }
        return nil
    }
}
