/// An upstream answer as the web server module received it, before the engine has looked at it:
/// status, body, the headers that say which bytes the body holds (as sent), and what only the
/// module knows about its own reading. The module bounds what it reads (the requested range, a
/// size cap, deadlines); whether the answer is consistent is decided here, by
/// ``UpstreamResponse/init(checking:url:)``, the one place that reads `Content-Range` and
/// `Content-Length`.
public struct ReceivedAnswer: Sendable, Equatable {
    /// The upstream HTTP status (200, 206, 404, ...).
    public var status: Int
    /// The body bytes the module kept.
    public var body: [UInt8]
    /// The `Content-Range` header as received (repeated headers joined by commas), nil when absent.
    public var contentRange: String?
    /// The `Content-Length` header as received (repeated headers joined by commas), nil when absent.
    public var contentLength: String?
    /// For a `200` the module cut down to the requested range (to bound memory, when upstream
    /// ignored `Range`): the object offset of `body[0]`, i.e. the requested offset, or where the
    /// object ended when it ended before it. 0 for every other answer.
    public var cutOffset: UInt64
    /// Whether the body runs to the end of the entity as received: the module read it to its end
    /// and kept its last byte. False when it stopped early (a `200` cut once the requested range
    /// had arrived). With ``cutOffset`` 0 an ended body is the whole entity.
    public var ended: Bool
    public var etag: String?
    /// Seconds since the epoch, 0 when unknown.
    public var lastModified: Int64

    public init(status: Int, body: [UInt8], contentRange: String? = nil, contentLength: String? = nil,
                cutOffset: UInt64 = 0, ended: Bool = true, etag: String? = nil, lastModified: Int64 = 0) {
        self.status = status
        self.body = body
        self.contentRange = contentRange
        self.contentLength = contentLength
        self.cutOffset = cutOffset
        self.ended = ended
        self.etag = etag
        self.lastModified = lastModified
    }
}

extension UpstreamResponse {
    /// Interprets and checks an answer as received. For a `206`: a `Content-Range` that parses
    /// (``ContentRange``) and names exactly the bytes of the body, which then sit at its `first`
    /// in an object of its `total` size. For a `200`: a `Content-Length`, when sent, that parses
    /// and, for a body read to its end, equals the entity's length (else it is at least where the
    /// kept bytes end); the object's size is the entity's length when it was read to its end, else
    /// the `Content-Length`. Other statuses are taken as they are (their body is an error page).
    /// An inconsistent answer throws ``UpstreamError/Code/shortBody`` (502) naming the problem.
    /// Whether the body covers what was asked for is ``Upstream/fetchChecked(_:offset:length:)``'s
    /// question.
    public init(checking answer: ReceivedAnswer, url: String) throws(UpstreamError) {
        var bodyOffset: UInt64 = 0
        var totalSize: UInt64?
        switch answer.status {
        case 206:
            guard let range = answer.contentRange.flatMap(ContentRange.init(parsing:)) else {
                throw UpstreamError(.shortBody, url: url, detail: "206 with a missing or inconsistent Content-Range")
            }
            guard range.isLength(of: answer.body.count) else {
                throw UpstreamError(.shortBody, url: url,
                                    detail: "206 body does not match its Content-Range: \(answer.body.count) bytes for \(range)")
            }
            bodyOffset = range.first
            totalSize = range.total
        case 200:
            var length: UInt64?
            if let text = answer.contentLength {
                guard let value = ContentLength.parse(text) else {
                    throw UpstreamError(.shortBody, url: url, detail: "200 with a malformed Content-Length")
                }
                length = value
            }
            let (end, overflow) = answer.cutOffset.addingReportingOverflow(UInt64(answer.body.count))
            guard !overflow else { throw UpstreamError(.shortBody, url: url, detail: "200 body runs past 2^64") }
            if answer.ended {
                if let length, length != end {
                    throw UpstreamError(.shortBody, url: url,
                                        detail: "200 body \(end < length ? "shorter" : "longer") than its Content-Length: "
                                            + "\(end) bytes, Content-Length \(length)")
                }
                totalSize = end
            } else {
                if let length, end > length {
                    throw UpstreamError(.shortBody, url: url,
                                        detail: "200 body runs past its Content-Length: \(end) bytes, Content-Length \(length)")
                }
                totalSize = length
            }
            bodyOffset = answer.cutOffset
        default:
            break
        }
        self.init(status: answer.status, body: answer.body, bodyOffset: bodyOffset, totalSize: totalSize,
                  etag: answer.etag, lastModified: answer.lastModified)
    }
}
