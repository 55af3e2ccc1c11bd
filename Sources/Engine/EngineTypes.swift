import ByteIO
import PlayerURL
import MediaModel
import Storage

/// One request, as the module hands it over (see `origo_engine.h`).
public struct EngineRequest: Sendable {
    public var method: String
    /// Local path of the server manifest (`.ism`/`.isml`) or of a media file addressed directly, or
    /// its `http(s)://` URL (without the query) when it lives upstream.
    public var manifestPath: String
    /// The part after `<manifest>/`, URL-decoded, without a leading slash.
    public var virtualPath: String
    public var query: String?
    public var maxIndexBytes: UInt64
    /// Upstream reads for remote manifests and sources (IsmProxyPass); nil: local files only.
    public var upstream: (any Upstream)?
    /// Whether local media the engine copies anyway (TS segments) may be read through mappings
    /// (`EnableMMAP`); otherwise with `pread`.
    public var mapFiles: Bool
    /// Answer from memory only (the caller is an event loop): anything that would read, or
    /// build what is not built yet, ends the request with ``EngineResponse/wouldBlock``.
    public var noWait: Bool
    /// What the server's path walk found at `manifestPath` (a local file); nil: the engine stats it.
    public var manifestIdentity: FileIdentity?
    /// How long local files found unchanged are trusted by requests that read no samples from
    /// them (manifests); the server manifest and the files a segment reads are checked every time.
    public var fileCheckInterval: FileCheckInterval
    /// Statuses for live fragments the window cannot answer (the `Fmp4…Fragment…` directives).
    public var liveFragmentStatus = LiveFragmentStatus()

    public init(method: String, manifestPath: String, virtualPath: String, query: String?, maxIndexBytes: UInt64 = 0,
                upstream: (any Upstream)? = nil, mapFiles: Bool = true, noWait: Bool = false,
                manifestIdentity: FileIdentity? = nil, fileCheckInterval: FileCheckInterval = .everyRequest) {
        self.method = method
        self.manifestPath = manifestPath
        self.virtualPath = virtualPath
        self.query = query
        self.maxIndexBytes = maxIndexBytes
        self.upstream = upstream
        self.mapFiles = mapFiles
        self.noWait = noWait
        self.manifestIdentity = manifestIdentity
        self.fileCheckInterval = fileCheckInterval
    }
}

public struct EngineResponse: Sendable {
    public var status: Int
    public var contentType: String?
    /// Strong ETag, quoted.
    public var etag: String?
    /// Seconds since the epoch (the server manifest's mtime), 0 when unknown.
    public var lastModified: Int64
    /// One line for the error log when `status >= 400`.
    public var logReason: String?
    public var body: [BodyPiece]
    /// Whether the body's bytes are buffers of the engine's pool, to be handed back with
    /// ``Engine/recycle(_:)`` once they have been sent.
    public var bodyIsPooled = false
    /// The output format the request was for (counted by the status endpoint); nil for none.
    public var format: OutputFormat?
    /// Further response headers (live: `Cache-Control`, `Sunset`), sent as they are.
    public var headers: [(name: String, value: String)] = []

    public init(status: Int, contentType: String?, etag: String?, lastModified: Int64, logReason: String?, body: [BodyPiece]) {
        self.status = status
        self.contentType = contentType
        self.etag = etag
        self.lastModified = lastModified
        self.logReason = logReason
        self.body = body
    }

    /// A ``EngineRequest/noWait`` request that needs reading or building: ask again where
    /// blocking is fine (`ORIGO_STATUS_WOULD_BLOCK`).
    public static var wouldBlock: EngineResponse {
        EngineResponse(status: 0, contentType: nil, etag: nil, lastModified: 0, logReason: nil, body: [])
    }

    public static func error(_ status: Int, _ reason: String) -> EngineResponse {
        EngineResponse(status: status, contentType: nil, etag: nil, lastModified: 0, logReason: reason, body: [])
    }
}

/// Errors raised by the engine's own logic (routing, presentation assembly).
struct EngineError: StatusCodedError {
    let httpStatus: Int
    let logReason: String

    static func notFound(_ reason: String) -> EngineError { .init(httpStatus: 404, logReason: reason) }
    static func badRequest(_ reason: String) -> EngineError { .init(httpStatus: 400, logReason: reason) }
    static func methodNotAllowed(_ method: String) -> EngineError {
        .init(httpStatus: 405, logReason: "method \(method) not allowed")
    }
    static func serverManifest(_ reason: String) -> EngineError { .init(httpStatus: 500, logReason: reason) }
    static func notImplemented(_ reason: String) -> EngineError { .init(httpStatus: 501, logReason: reason) }
}

/// FNV-1a, 64 bit: cheap content hashes for ETags (not for security).
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ bytes: some Sequence<UInt8>) {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 }
    }
    mutating func add(_ s: String) { add(s.utf8); add(CollectionOfOne(0)) }
    mutating func add(_ n: Int64) { withUnsafeBytes(of: n.littleEndian) { add($0) } }
    /// `"origo-` + 16 lowercase hex digits + `"`: a strong ETag, its quotes included.
    var etag: String {
        var bytes = Array("\"origo-".utf8)
        bytes.reserveCapacity(bytes.count + 17)
        for shift in stride(from: 60, through: 0, by: -4) {
            let nibble = UInt8(truncatingIfNeeded: value >> UInt64(shift)) & 0xF
            bytes.append(nibble < 10 ? 0x30 + nibble : 0x57 + nibble)
        }
        bytes.append(UInt8(ascii: "\""))
        return String(decoding: bytes, as: UTF8.self)
    }
}
