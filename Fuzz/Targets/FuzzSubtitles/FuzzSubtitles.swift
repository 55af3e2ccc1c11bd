import FuzzDriver
import Subtitles

/// One input: a subtitle file. The first byte picks the reader (WebVTT, SubRip, TTML, or a `wvtt`
/// sample as stored in MP4 text tracks); the rest are the file's bytes. Limits are small so one
/// input stays fast, but they are the same code paths as the defaults.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let selector = bytes.first else { return 0 }
    let body = Array(bytes.dropFirst())
    let limits = SubtitleLimits(maxBytes: 1 << 20, maxCues: 10_000, maxCueBytes: 4096)
    switch selector % 4 {
    case 0: _ = try? WebVTTReader.parse(body, limits: limits)
    case 1: _ = try? SRTReader.parse(body, limits: limits)
    case 2: _ = try? TTMLReader.parse(body, limits: limits)
    default: _ = try? WebVTTTrack.cues(in: body, start: 0, duration: 1000)
    }
    return 0
}

/// SwiftPM links executables with `main` aliased to `<Module>_main`: hand over to libFuzzer's driver.
@_cdecl("FuzzSubtitles_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzOne)
}
