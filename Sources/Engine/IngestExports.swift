import CEngineAPI
import Live
#if canImport(Glibc)
import Glibc
#endif

// The ingest half of the C ABI (origo_ingest_*, ABI 8). A handle is a retained `IngestHandle`;
// origo_ingest_end takes the retain back.

/// One ingest POST as the module holds it: the session, or why there is none, and the first error.
final class IngestHandle {
    private let session: IngestSession?
    private var failure: LiveIngestError?
    private let uri: String

    init(_ request: origo_ingest_request) {
        uri = request.uri.map { String(cString: $0) } ?? ""
        var limits = IngestLimits()
        if request.max_fragment_bytes > 0 { limits.maxFragmentBytes = request.max_fragment_bytes }
        do throws(LiveIngestError) {
            guard let manifest = request.manifest_path.map({ String(cString: $0) }) else {
                throw .badPath("no publishing point")
            }
            let method = request.method.map { String(cString: $0) } ?? ""
            guard method == "POST" || method == "PUT" else { throw .unsupported("method \(method)") }
            session = try IngestSession(manifestPath: manifest, virtualPath: request.virtual_path.map { String(cString: $0) } ?? "",
                                        limits: limits)
        } catch {
            session = nil
            failure = error
        }
    }

    var status: Int32 { failure.map { Int32(clamping: $0.httpStatus) } ?? 0 }

    func chunk(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        guard failure == nil, let session else { return status }
        do throws(LiveIngestError) { try session.feed(bytes) } catch { failure = error }
        return status
    }

    func end(complete: Bool) -> EngineResponse {
        if failure == nil, let session {
            do throws(LiveIngestError) { try session.finish(complete: complete) } catch { failure = error }
        }
        if let failure { return .error(failure.httpStatus, "\(failure.logReason) (\(uri))") }
        return EngineResponse(status: 200, contentType: nil, etag: nil, lastModified: 0, logReason: nil, body: [])
    }
}

@_cdecl("origo_ingest_begin")
public func origoIngestBegin(_ request: UnsafePointer<origo_ingest_request>?,
                             _ status: UnsafeMutablePointer<Int32>?) -> OpaquePointer? {
    let handle: IngestHandle
    if let request { handle = IngestHandle(request.pointee) } else { handle = IngestHandle(origo_ingest_request()) }
    status?.pointee = handle.status
    return OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
}

@_cdecl("origo_ingest_chunk")
public func origoIngestChunk(_ ingest: OpaquePointer?, _ data: UnsafePointer<UInt8>?, _ length: Int) -> Int32 {
    guard let ingest else { return 500 }
    let handle = Unmanaged<IngestHandle>.fromOpaque(UnsafeRawPointer(ingest)).takeUnretainedValue()
    guard let data, length > 0 else { return handle.status }
    return handle.chunk(UnsafeRawBufferPointer(start: data, count: length))
}

@_cdecl("origo_ingest_end")
public func origoIngestEnd(_ ingest: OpaquePointer?, _ complete: Int32) -> UnsafeMutablePointer<origo_response>? {
    guard let ingest else { return CResponse.make(.error(500, "origo_ingest_end without an ingest")) }
    let handle = Unmanaged<IngestHandle>.fromOpaque(UnsafeRawPointer(ingest)).takeRetainedValue()
    return CResponse.make(handle.end(complete: complete != 0))
}
