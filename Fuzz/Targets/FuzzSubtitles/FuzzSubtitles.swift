import FuzzDriver
import MediaModel
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
    let cues: [Cue]?
    switch selector % 4 {
    case 0: cues = try? WebVTTReader.parse(body, limits: limits)
    case 1: cues = try? SRTReader.parse(body, limits: limits)
    case 2: cues = try? TTMLReader.parse(body, limits: limits)
    default: cues = try? WebVTTTrack.cues(in: body, start: 0, duration: 1000)
    }
    // What the loader does with text cues (sidecar files, MP4 text tracks): a track of samples cut
    // at split times, as WebVTT or TTML, read back as an output format would.
    guard let cues, !cues.isEmpty else { return 0 }
    let timescale: UInt32 = selector & 0x10 != 0 ? 90_000 : 1000
    let end = MediaTime.rescale(cues.map(\.end).max() ?? 0, from: 1000, to: timescale)
    let splits = (1...8).map { Int64($0) * 2 * Int64(timescale) }
    for format in [CueTrack.Format.webVTT, .ttml(language: "en")] {
        guard let track = try? CueTrack.track(format, cues: cues, trackID: 1, language: "eng", timescale: timescale,
                                              end: end, splits: splits, name: "fuzz", maxBytes: 4 << 20) else { continue }
        _ = try? TextSamples.cues(of: track, limits: limits) { Array(track.inlineSample($0) ?? []) }
    }
    return 0
}

/// SwiftPM links executables with `main` aliased to `<Module>_main`: hand over to libFuzzer's driver.
@_cdecl("FuzzSubtitles_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzOne)
}
