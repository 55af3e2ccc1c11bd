import FuzzDriver
import ISOBMFF
import Live
#if canImport(Glibc)
import Glibc
#endif

/// One input: a byte choosing how the body is cut into chunks, then an ingest POST body.
/// It goes into a fresh stream of a publishing point in a private temporary directory; whatever
/// the outcome, the store must hold only whole fragments: records that checksum, back to back in
/// the media file, each starting with a moof, and times that never go back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzBytes(data, size)
    guard let selector = input.first else { return 0 }
    let body = Array(input.dropFirst())
    let chunk = [1, 7, 64, 1000, 4096, 65536, body.count][Int(selector) % 7]
    reset()
    if let session = try? IngestSession(manifestPath: manifest, virtualPath: "Streams(s)",
                                        limits: IngestLimits(maxFragmentBytes: 1 << 20, maxHeaderBytes: 1 << 16)) {
        var at = 0
        while at < body.count {
            let n = min(max(chunk, 1), body.count - at)
            if (try? session.feed(Array(body[at..<at + n]))) == nil { break }
            at += n
        }
        _ = try? session.finish(complete: true)
    }
    checkStore()
    return 0
}

private let directory: String = {
    var template = Array("/tmp/origo-fuzz-live-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { p in
        guard let base = p.baseAddress, let made = mkdtemp(base) else { return "/tmp" }
        return String(cString: made)
    }
}()
private let manifest = directory + "/ch.isml"
private let stream = directory + "/ch.live/s"

/// Every input starts from an empty publishing point.
private func reset() {
    unlink(manifest)
    for id in 0..<64 {
        unlink("\(stream)/\(id).index")
        unlink("\(stream)/\(id).media")
    }
    unlink(stream + "/header")
}

private func checkStore() {
    for id in 0..<64 {
        guard let index = try? FragmentIndexReader(path: "\(stream)/\(id).index") else { continue }
        let media = readAll("\(stream)/\(id).media")
        var end: UInt64 = 0
        var time = Int64.min
        for i in 0..<index.count {
            guard let r = try? index.record(at: i) else { fatalError("record \(i) of track \(id) unreadable") }
            guard r.offset == end, r.mediaEnd <= UInt64(media.count), r.size >= 16 else {
                fatalError("track \(id): record \(i) at \(r.offset)+\(r.size), media ends at \(end) of \(media.count)")
            }
            guard Array(media[Int(r.offset) + 4..<Int(r.offset) + 8]) == Array("moof".utf8) else {
                fatalError("track \(id): fragment \(i) does not start with a moof")
            }
            guard r.time >= time else { fatalError("track \(id): fragment \(i) goes back in time") }
            // What playout serves: the stored moof, given a tfdt when it has none, stays a whole moof.
            let moof = Array(media[Int(r.offset)..<Int(r.mediaEnd)])
            let moofSize = Int(moof[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard moofSize >= 8, moofSize < moof.count else { fatalError("track \(id): fragment \(i) moof size \(moofSize)") }
            if let served = try? IngestMovie.moofWithDecodeTime(Array(moof[..<moofSize]), time: UInt64(clamping: r.time)) {
                let size = Int(served[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                guard served.count == moofSize + 20, size == served.count else {
                    fatalError("track \(id): fragment \(i) rewritten to \(served.count) bytes, size field \(size)")
                }
            }
            time = r.end
            end = r.mediaEnd
        }
        guard end == UInt64(media.count) else { fatalError("track \(id): \(media.count - Int(end)) bytes past the last fragment") }
    }
}

private func readAll(_ path: String) -> [UInt8] {
    guard let f = fopen(path, "rb") else { return [] }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n == 0 { break }
        out += buffer[0..<n]
    }
    return out
}

/// SwiftPM links executables with `main` aliased to `<Module>_main`: hand over to libFuzzer's driver.
@_cdecl("FuzzLiveIngest_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzOne)
}
