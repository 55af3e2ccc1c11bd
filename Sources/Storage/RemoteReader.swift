import ByteIO

/// Random access to an upstream object through ranged GETs.
///
/// Opening costs one request: the first window (``window`` bytes from offset 0), which also gives
/// the object's size and version (ETag, Last-Modified). Later reads outside the current window
/// fetch a new window of at least ``window`` bytes, so a parser walking box headers costs one
/// request per window, not one per header. A `200` answer to a ranged request (a server or cache
/// that ignores `Range`) is sliced. Every answer must describe the version seen when opening
/// (``RemoteVersion``), otherwise the read fails with ``UpstreamError/Code/changed``.
public final class RemoteReader: RandomAccessReader, @unchecked Sendable {
    public static let defaultWindow = 256 << 10

    public let url: String
    public let size: UInt64
    /// The version seen when opening; every later answer must agree with it.
    public let version: RemoteVersion
    public let window: Int
    private let upstream: any Upstream
    private let lock = Lock()
    private var buffer: [UInt8]
    private var bufferOffset: UInt64
    private var requests = 1

    /// Opens `url` with one ranged request for the first `window` bytes.
    public init(url: String, upstream: any Upstream, window: Int = RemoteReader.defaultWindow) throws(UpstreamError) {
        let window = max(window, 1)
        let first = try upstream.fetchChecked(url, offset: 0, length: UInt64(window))
        // A 200 read to its end has its length as size (UpstreamResponse(checking:)); one cut at
        // the window has it only from its Content-Length.
        guard let size = first.totalSize else {
            throw UpstreamError(.shortBody, url: url, detail: "no object size in the answer")
        }
        // A shorter object than the window: fetchChecked accepted the body up to `size` only when
        // the total was known, so check it covers the object (or the window).
        let covered = first.bodyOffset &+ UInt64(first.body.count)
        guard first.bodyOffset == 0, covered >= min(size, UInt64(window)) else {
            throw UpstreamError(.shortBody, url: url, detail: "first window incomplete")
        }
        self.url = url
        self.upstream = upstream
        self.size = size
        self.window = window
        self.version = RemoteVersion(etag: first.etag, size: size, lastModified: first.lastModified)
        self.buffer = first.body
        self.bufferOffset = 0
    }

    /// Upstream requests made through this reader (including the opening one).
    public var requestCount: Int { lock.locked { requests } }

    /// The identity the index cache keys this object by.
    public var identity: FileIdentity { version.identity(url: url) }

    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        try lock.locked { () throws(UpstreamError) -> [UInt8] in try readLocked(at: offset, count: count) }
    }

    private func readLocked(at offset: UInt64, count: Int) throws(UpstreamError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw UpstreamError(.shortBody, url: url, detail: "\(count) bytes at \(offset) beyond size \(size)")
        }
        if count == 0 { return [] }
        if let bytes = slice(buffer, at: bufferOffset, offset: offset, count: count) { return bytes }
        let length = min(max(UInt64(count), UInt64(window)), size - offset)
        let r = try upstream.fetchChecked(url, offset: offset, length: length)
        requests += 1
        try version.check(r, url: url)
        guard let bytes = slice(r.body, at: r.bodyOffset, offset: offset, count: count) else {
            throw UpstreamError(.shortBody, url: url, detail: "answer does not cover \(count) bytes at \(offset)")
        }
        // Keep the answer as the next window unless it is a huge whole-object 200 of which only
        // a little was wanted.
        if r.body.count <= max(window, count) * 2 {
            buffer = r.body
            bufferOffset = r.bodyOffset
        }
        return bytes
    }

    private func slice(_ data: [UInt8], at dataOffset: UInt64, offset: UInt64, count: Int) -> [UInt8]? {
        guard offset >= dataOffset else { return nil }
        let start = offset - dataOffset
        guard start <= UInt64(data.count), UInt64(count) <= UInt64(data.count) - start else { return nil }
        let s = Int(start)
        return Array(data[s..<s + count])
    }
}
