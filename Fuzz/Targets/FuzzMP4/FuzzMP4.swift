import ByteIO
import FuzzDriver
import ISOBMFF
import MediaModel

/// One input: a whole MP4 file in memory. Small limits keep every run fast and bounded; whatever
/// reads successfully is also segmented, as the engine would.
private let limits = ReadLimits(maxIndexBytes: 1 << 20, maxSamplesPerTrack: 100_000, maxBoxDepth: 16,
                                maxSamplesPerFile: 200_000)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let index = try? MP4Reader.read(MemoryReader(fuzzBytes(data, size)), locator: "fuzz", limits: limits) else {
        return 0
    }
    for length in [FragmentLength?.none, .seconds(4)] {
        if let cut = Segmentation.make(tracks: index.tracks, minimumLength: length) {
            for track in index.tracks { _ = cut.sampleRanges(for: track) }
        }
    }
    return 0
}

/// SwiftPM links executables with `main` aliased to `<Module>_main`: hand over to libFuzzer's driver.
@_cdecl("FuzzMP4_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzOne)
}
