import CEngineAPI
import MediaModel
import Storage
#if canImport(Glibc)
import Glibc
#endif

// The C ABI of `origo_engine.h`. Everything handed to C is allocated with malloc and released by
// `origo_response_free`, so the module never needs to know about Swift memory.

@_cdecl("origo_engine_init")
public func origoEngineInit() -> Int32 {
    _ = Engine.shared
    return ORIGO_ABI_VERSION
}

@_cdecl("origo_engine_version")
public func origoEngineVersion() -> UnsafePointer<CChar> {
    // A literal lives in static storage for the life of the process (the library is never unloaded).
    let version: StaticString = "origo-engine/0.3 (abi 3)"
    return UnsafeRawPointer(version.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("origo_engine_configure")
public func origoEngineConfigure(_ config: UnsafePointer<origo_engine_config>?) {
    guard let c = config?.pointee else { return }
    Engine.shared.configure(indexCacheBytes: c.index_cache_bytes, presentationCacheBytes: c.presentation_cache_bytes)
}

@_cdecl("origo_handle")
public func origoHandle(_ request: UnsafePointer<origo_request>?) -> UnsafeMutablePointer<origo_response>? {
    let response: EngineResponse
    if let r = request?.pointee, let manifest = r.manifest_path.map(String.init(cString:)) {
        response = Engine.shared.handle(EngineRequest(
            method: r.method.map(String.init(cString:)) ?? "GET",
            manifestPath: manifest,
            virtualPath: r.virtual_path.map(String.init(cString:)) ?? "",
            query: r.query.map(String.init(cString:)),
            maxIndexBytes: r.max_index_bytes,
            upstream: r.upstream.map { CUpstream(table: $0.pointee) }))
    } else {
        response = .error(500, "engine called without a request")
    }
    return CResponse.make(response)
}

@_cdecl("origo_response_free")
public func origoResponseFree(_ response: UnsafeMutablePointer<origo_response>?) {
    CResponse.free(response)
}

enum CResponse {
    static func make(_ r: EngineResponse) -> UnsafeMutablePointer<origo_response>? {
        guard let out = calloc(1, MemoryLayout<origo_response>.stride)?.bindMemory(to: origo_response.self, capacity: 1) else {
            return nil
        }
        out.pointee.status = Int32(clamping: r.status)
        out.pointee.content_type = dup(r.contentType)
        out.pointee.etag = dup(r.etag)
        out.pointee.last_modified = r.lastModified
        out.pointee.log_reason = dup(r.logReason.map(oneLine))
        out.pointee.cache_control = nil
        let count = r.body.count
        if count > 0, let pieces = calloc(count, MemoryLayout<origo_piece>.stride)?.bindMemory(to: origo_piece.self, capacity: count) {
            var total: UInt64 = 0
            for (i, piece) in r.body.enumerated() {
                switch piece {
                case .bytes(let bytes):
                    let data = malloc(max(bytes.count, 1))
                    if let data {
                        bytes.withUnsafeBytes { src in
                            if let base = src.baseAddress { memcpy(data, base, bytes.count) }
                        }
                    }
                    pieces[i] = origo_piece(data: UnsafePointer(data?.assumingMemoryBound(to: UInt8.self)),
                                            length: UInt64(bytes.count), file_path: nil, file_offset: 0)
                case .file(let locator, let offset, let length):
                    pieces[i] = origo_piece(data: nil, length: length, file_path: dup(locator), file_offset: offset)
                }
                total &+= piece.length
            }
            out.pointee.pieces = UnsafePointer(pieces)
            out.pointee.piece_count = count
            out.pointee.content_length = total
        }
        return out
    }

    static func free(_ response: UnsafeMutablePointer<origo_response>?) {
        guard let r = response else { return }
        release(r.pointee.content_type)
        release(r.pointee.etag)
        release(r.pointee.log_reason)
        release(r.pointee.cache_control)
        if let pieces = r.pointee.pieces {
            for i in 0..<r.pointee.piece_count {
                if let data = pieces[i].data { Glibc.free(UnsafeMutableRawPointer(mutating: data)) }
                release(pieces[i].file_path)
            }
            Glibc.free(UnsafeMutableRawPointer(mutating: pieces))
        }
        Glibc.free(r)
    }

    private static func dup(_ s: String?) -> UnsafePointer<CChar>? {
        guard let s else { return nil }
        return UnsafePointer(strdup(s))
    }

    private static func release(_ p: UnsafePointer<CChar>?) {
        if let p { Glibc.free(UnsafeMutableRawPointer(mutating: p)) }
    }

    /// Log reasons must stay on one line: control characters become spaces.
    private static func oneLine(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
    }
}

/// The module's fetch callback table as an ``Upstream``. Only used during the `origo_handle` call
/// that received it (the context points into the module's request), on that call's thread.
struct CUpstream: Upstream, @unchecked Sendable {
    let table: origo_upstream

    var scope: String { table.scope.map { String(cString: $0) } ?? "" }

    func fetch(_ url: String, offset: UInt64, length: UInt64) throws(UpstreamError) -> UpstreamResponse {
        guard let fetch = table.fetch else { throw UpstreamError(.notConfigured, url: url) }
        var out = origo_fetch_result()
        let rc = url.withCString { fetch(table.ctx, $0, offset, length, &out) }
        defer {
            if let data = out.data { Glibc.free(data) }
            if let etag = out.etag { Glibc.free(etag) }
            if let error = out.error { Glibc.free(error) }
        }
        let detail = out.error.map { String(cString: $0) } ?? ""
        guard rc == 0 else {
            switch rc {
            case 403: throw UpstreamError(.forbidden, url: url, detail: detail)
            case 504: throw UpstreamError(.unreachable(gatewayStatus: 504), url: url, detail: detail)
            default: throw UpstreamError(.unreachable(gatewayStatus: 502), url: url, detail: detail)
            }
        }
        var body: [UInt8] = []
        if let data = out.data, out.length > 0 {
            guard out.length <= UInt64(Int.max) else { throw UpstreamError(.tooLarge, url: url) }
            body = Array(UnsafeBufferPointer(start: data, count: Int(out.length)))
        }
        return UpstreamResponse(status: Int(out.status), body: body, bodyOffset: out.data_offset,
                                totalSize: out.total_size > 0 ? out.total_size : nil,
                                etag: out.etag.map { String(cString: $0) }, lastModified: out.last_modified)
    }
}
