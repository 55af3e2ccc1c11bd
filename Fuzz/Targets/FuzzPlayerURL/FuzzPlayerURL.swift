import FuzzDriver
import PlayerURL

/// One input: `<virtual path>?<query>` (the first `?` splits them, as in a request line), parsed
/// against the track names of a typical presentation; the path also as a whole request path
/// (``ManifestPath``).
private let trackNames: Set<String> = ["video", "audio_eng", "audio_fra", "textstream_zh-Hans", "audio", "a-b"]

private let sampleTrack = TrackAttributes(type: "audio", systemBitrate: 128_000, systemLanguage: "eng",
                                          trackName: "audio_eng", fourCC: ["AACL", "mp4a"])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    let split = bytes.firstIndex(of: UInt8(ascii: "?"))
    let path = String(decoding: bytes[..<(split ?? bytes.endIndex)], as: UTF8.self)
    let query = split.map { String(decoding: bytes[($0 + 1)...], as: UTF8.self) }
    // A path that parses is counted under the format it parsed as (the status endpoint names the
    // format from the path's shape alone).
    if let request = try? VirtualPath.parse(path, trackNames: trackNames) {
        let shape = Array(path.utf8).withUnsafeBufferPointer { OutputFormat(virtualPath: $0) }
        guard shape == request.format else {
            fatalError("\(path) parses as \(request.format) but its shape says \(String(describing: shape))")
        }
    }
    // Where a request path's file part ends (what the web server modules ask through the C ABI):
    // before a `/` or at the end, and nothing shorter qualifies.
    let pathBytes = Array(bytes[..<(split ?? bytes.endIndex)])
    if let n = ManifestPath.length(of: pathBytes) {
        guard n <= pathBytes.count, n == pathBytes.count || pathBytes[n] == UInt8(ascii: "/"),
              ManifestPath.length(of: Array(pathBytes[..<n])) == n else {
            fatalError("manifest length \(n) of \(path) is not the shortest file part")
        }
    }
    if let options = try? QueryOptions(raw: query) {
        for pair in options.pairs { _ = try? options.flag(pair.key) }
        // The consumed options: filter=, max_bitrate=, vbegin/vend, t=; then the filter evaluated
        // and its canonical text parsed back (it must parse to the same filter).
        if let selection = try? Selection(query: options) {
            _ = selection.key
            if let filter = selection.filter {
                _ = filter.matches(sampleTrack)
                guard let again = try? TrackFilter(parsing: filter.description), again == filter else {
                    fatalError("canonical filter text does not parse back: \(filter.description)")
                }
            }
        }
        // Each value on its own as a filter and a time, as a fuzzer finds them faster.
        for pair in options.pairs.prefix(4) {
            _ = try? TrackFilter(parsing: pair.value)
            _ = try? Subclip.parseMediaFragment(pair.value)
        }
    }
    return 0
}

/// SwiftPM links executables with `main` aliased to `<Module>_main`: hand over to libFuzzer's driver.
@_cdecl("FuzzPlayerURL_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzOne)
}
