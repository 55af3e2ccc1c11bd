import ByteIO

/// Reading objects from an upstream HTTP server (IsmProxyPass storage, a CMS, a bucket).
///
/// The engine never opens sockets: the web server module provides an ``Upstream`` per request
/// (Apache subrequests through mod_proxy, or libcurl), and tests provide fakes. The module's
/// answers are interpreted and checked here (``UpstreamResponse/init(checking:url:)``), not by it.
public protocol Upstream: Sendable {
    /// Fetches `length` bytes of `url` starting at `offset`; `length == 0` means "to the end"
    /// (and `offset == 0, length == 0` the whole object, without a `Range` header).
    ///
    /// Any consistent HTTP answer is returned, whatever its status; a failure to get one
    /// (connection refused or reset, timeout, a host that is not allowed) or an answer that
    /// contradicts its own headers throws.
    func fetch(_ url: String, offset: UInt64, length: UInt64) throws(UpstreamError) -> UpstreamResponse

    /// The access policy this upstream enforces (e.g. its allowed hosts). Cached presentations are
    /// only shared between upstreams with the same scope.
    var scope: String { get }
}

extension Upstream {
    public var scope: String { "" }
}

/// One upstream answer, interpreted: which bytes of the object its body holds. Answers from the
/// web server module are built, and checked, by ``init(checking:url:)``.
public struct UpstreamResponse: Sendable, Equatable {
    /// The upstream HTTP status (200, 206, 404, ...).
    public var status: Int
    /// The body bytes received (possibly only part of the object, see ``bodyOffset``).
    public var body: [UInt8]
    /// Offset in the object of `body[0]`: the range start of a `206`, 0 for a plain `200`, or the
    /// requested offset when the module already cut a `200` down to the requested range.
    public var bodyOffset: UInt64
    /// Size of the whole object (a `206`'s `Content-Range` total; a `200`'s length as read to its
    /// end, else its `Content-Length`), nil when unknown.
    public var totalSize: UInt64?
    public var etag: String?
    /// Seconds since the epoch, 0 when unknown.
    public var lastModified: Int64

    public init(status: Int, body: [UInt8], bodyOffset: UInt64 = 0, totalSize: UInt64? = nil,
                etag: String? = nil, lastModified: Int64 = 0) {
        self.status = status
        self.body = body
        self.bodyOffset = bodyOffset
        self.totalSize = totalSize
        self.etag = etag
        self.lastModified = lastModified
    }
}

/// Everything that can go wrong talking to upstream storage, mapped to the status the client gets.
public struct UpstreamError: StatusCodedError, Equatable {
    public enum Code: Sendable, Equatable {
        /// Upstream answered 404 or 410.
        case notFound
        /// Upstream answered 401 or 403, or the host is not on the allow-list.
        case forbidden
        /// Upstream answered another unusable status (5xx, 416, 3xx, ...).
        case badStatus(Int)
        /// No answer: connection refused or reset, DNS failure (502), or a timeout (504).
        case unreachable(gatewayStatus: Int)
        /// The answer does not hold what it should: its body is shorter than the range asked for
        /// or disagrees with its `Content-Range`/`Content-Length`, or the object size is missing.
        case shortBody
        /// The object changed (another ETag) while a presentation built from it was in use.
        case changed
        /// A remote source but no upstream configured for this request (no IsmProxyPass).
        case notConfigured
        /// An object larger than the engine accepts for this purpose (a server manifest).
        case tooLarge
    }

    public let code: Code
    /// The URL, without its query string (which may carry signatures or CMS parameters).
    public let url: String
    public let detail: String

    public init(_ code: Code, url: String, detail: String = "") {
        self.code = code
        self.url = RemoteURL.withoutQuery(url)
        self.detail = detail
    }

    public var httpStatus: Int {
        switch code {
        case .notFound: 404
        case .forbidden: 403
        case .badStatus(let s): s == 504 ? 504 : 502
        case .unreachable(let s): s == 504 ? 504 : 502
        case .shortBody, .changed, .tooLarge: 502
        case .notConfigured: 501
        }
    }

    public var logReason: String {
        let what: String = switch code {
        case .notFound: "upstream has no such object"
        case .forbidden: "upstream refused access"
        case .badStatus(let s): "upstream answered \(s)"
        case .unreachable(let s): s == 504 ? "upstream timed out" : "upstream unreachable"
        case .shortBody: "upstream answer is incomplete or inconsistent"
        case .changed: "upstream object changed while in use"
        case .notConfigured: "remote source without IsmProxyPass"
        case .tooLarge: "upstream object too large"
        }
        let text = detail.isEmpty ? "\(what): \(url)" : "\(what): \(url) (\(detail))"
        return String(text.unicodeScalars.prefix(400).map { $0.value < 0x20 || $0.value == 0x7F ? " " : Character($0) })
    }

    /// The error for an upstream status that is not a success.
    public static func status(_ status: Int, url: String) -> UpstreamError {
        switch status {
        case 404, 410: UpstreamError(.notFound, url: url, detail: "status \(status)")
        case 401, 403: UpstreamError(.forbidden, url: url, detail: "status \(status)")
        default: UpstreamError(.badStatus(status), url: url)
        }
    }
}

extension Upstream {
    /// Fetches and checks: a non-2xx status throws, a `206` must start at `offset`, and the body
    /// must cover `offset..<offset+length` (for `length == 0`, up to the object's end). Returns the
    /// answer; the wanted bytes start at `offset - bodyOffset` in its body.
    public func fetchChecked(_ url: String, offset: UInt64, length: UInt64) throws(UpstreamError) -> UpstreamResponse {
        let r = try fetch(url, offset: offset, length: length)
        guard r.status == 200 || r.status == 206 else { throw .status(r.status, url: url) }
        let bodyEnd = r.bodyOffset.addingReportingOverflow(UInt64(r.body.count))
        guard !bodyEnd.overflow, r.bodyOffset <= offset, r.status != 206 || r.bodyOffset == offset else {
            throw UpstreamError(.shortBody, url: url, detail: "\(r.status) body starts at \(r.bodyOffset), wanted \(offset)")
        }
        let wantedEnd: UInt64
        if length > 0 {
            let (end, overflow) = offset.addingReportingOverflow(length)
            guard !overflow else { throw UpstreamError(.shortBody, url: url, detail: "range overflows") }
            // A range running past the end of the object is answered up to its end.
            wantedEnd = r.totalSize.map { min(end, max($0, offset)) } ?? end
        } else {
            wantedEnd = r.totalSize ?? bodyEnd.partialValue
        }
        guard bodyEnd.partialValue >= wantedEnd else {
            throw UpstreamError(.shortBody, url: url,
                                detail: "got \(r.body.count) bytes at \(r.bodyOffset), wanted up to \(wantedEnd)")
        }
        if let total = r.totalSize, bodyEnd.partialValue > total {
            throw UpstreamError(.shortBody, url: url, detail: "body runs past the object size \(total)")
        }
        return r
    }
}

/// What tells one version of an upstream object from another.
///
/// Storage behind one name is often several nodes that compute ETags differently (a multipart
/// upload on one, a plain MD5 on another), so an ETag alone cannot say "changed". Two answers
/// describe the same version when their ETags agree, or when both give a size and a
/// Last-Modified and those agree; without either, nothing can be compared and they agree.
public struct RemoteVersion: Sendable, Hashable {
    public var etag: String
    public var size: UInt64?
    /// Seconds since the epoch, 0 when unknown.
    public var lastModified: Int64

    public init(etag: String?, size: UInt64?, lastModified: Int64) {
        self.etag = etag ?? ""
        self.size = size
        self.lastModified = lastModified
    }

    /// The version an answer describes.
    public init(of answer: UpstreamResponse) {
        self.init(etag: answer.etag, size: answer.totalSize, lastModified: answer.lastModified)
    }

    /// The version an index was built from (see ``identity(url:)``).
    public init(_ identity: FileIdentity) {
        self.init(etag: identity.etag, size: identity.size, lastModified: identity.mtimeSeconds)
    }

    public func isSameObject(as other: RemoteVersion) -> Bool {
        if !etag.isEmpty, etag == other.etag { return true }
        let sizesAgree = size == nil || other.size == nil || size == other.size
        let datesKnown = lastModified > 0 && other.lastModified > 0
        if datesKnown { return sizesAgree && lastModified == other.lastModified }
        // No date to compare: differing ETags are all there is.
        return sizesAgree && (etag.isEmpty || other.etag.isEmpty)
    }

    /// The key the index cache files this version under: size and Last-Modified when upstream
    /// sends a date (so nodes with different ETags share one index), else the ETag.
    public func identity(url: String) -> FileIdentity {
        FileIdentity(path: url, size: size ?? 0, mtimeSeconds: lastModified, mtimeNanoseconds: 0,
                     etag: lastModified > 0 ? "" : etag)
    }

    /// Throws ``UpstreamError/Code/changed`` unless `answer` is this version.
    public func check(_ answer: UpstreamResponse, url: String) throws(UpstreamError) {
        let got = RemoteVersion(of: answer)
        guard isSameObject(as: got) else {
            throw UpstreamError(.changed, url: url, detail: "\(describe) became \(got.describe)")
        }
    }

    private var describe: String {
        let lm = lastModified > 0 ? " modified \(lastModified)" : ""
        return (etag.isEmpty ? "no ETag" : "ETag \(etag)") + (size.map { ", \($0) bytes" } ?? "") + lm
    }
}
