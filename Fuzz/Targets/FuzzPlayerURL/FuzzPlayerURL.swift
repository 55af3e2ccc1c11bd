import FuzzDriver
import PlayerURL

/// One input: `<virtual path>?<query>` (the first `?` splits them, as in a request line), parsed
/// against the track names of a typical presentation.
private let trackNames: Set<String> = ["video", "audio_eng", "audio_fra", "textstream_zh-Hans", "audio", "a-b"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    let split = bytes.firstIndex(of: UInt8(ascii: "?"))
    let path = String(decoding: bytes[..<(split ?? bytes.endIndex)], as: UTF8.self)
    let query = split.map { String(decoding: bytes[($0 + 1)...], as: UTF8.self) }
    _ = try? VirtualPath.parse(path, trackNames: trackNames)
    if let options = try? QueryOptions(raw: query) {
        for pair in options.pairs { _ = try? options.flag(pair.key) }
    }
    return 0
}

/// SwiftPM links executables with `main` aliased to `<Module>_main`: hand over to libFuzzer's driver.
@_cdecl("FuzzPlayerURL_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzOne)
}
