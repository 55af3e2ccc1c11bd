import Encryption
import FuzzDriver

/// One input: a CPIX key document. Whatever it accepts must answer key lookups for every kind of
/// track without trapping, and name no key in its refusals.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let document = try? CPIX(parsing: fuzzBytes(data, size)) else { return 0 }
    let tracks = [CPIX.Track(kind: .video, pixels: 640 * 360, framesPerSecond: 25, bitrate: 800_000),
                  CPIX.Track(kind: .video, pixels: 3840 * 2160, framesPerSecond: 60, bitrate: 20_000_000),
                  CPIX.Track(kind: .audio, channels: 2, bitrate: 128_000), CPIX.Track(kind: .audio, channels: 6)]
    for track in tracks {
        if let key = try? document.key(for: track), let kid = key.kid {
            _ = document.system([UInt8](repeating: 0, count: 16), kid: kid)
        }
    }
    return 0
}

/// SwiftPM links executables with `main` aliased to `<Module>_main`: hand over to libFuzzer's driver.
@_cdecl("FuzzCPIX_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzOne)
}
