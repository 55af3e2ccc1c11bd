import FuzzDriver
import IndexStore
import ISOBMFF
import MediaModel

/// One input: a flags byte, then an index store file read under the key "fixture" (the seeds are
/// `Tests/OrigoTests/Fixtures/index-store/*.oix`). With bit 0 set the file's length and checksum
/// are made right first, so that mutations get past them to the description and column checks.
/// Whatever the reader accepts must segment without trapping and store again to a file that reads
/// back the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var bytes = fuzzBytes(data, size)
    guard let flags = bytes.first else { return 0 }
    bytes.removeFirst()
    if flags & 1 != 0, bytes.count >= 64 {
        bytes = IndexStoreFile.resealed(bytes)
    }
    func read(_ file: [UInt8]) -> MP4Index? {
        file.withUnsafeBytes {
            try? IndexStoreFile.decode($0, key: "fixture", maxSamplesPerTrack: 100_000, maxSamplesPerFile: 200_000) { _ in "source" }
        }
    }
    guard let index = read(bytes) else { return 0 }
    let tracks = index.tracks
    if let segmentation = Segmentation.make(tracks: tracks, minimumLength: .seconds(2)) {
        for track in tracks { _ = SegmentStats(track: track, segmentation: segmentation) }
    }
    guard let again = IndexStoreFile.encode(index, key: "fixture"), let back = read(again) else {
        fatalError("an accepted index does not store again")
    }
    guard back.tracks.count == tracks.count, zip(back.tracks, tracks).allSatisfy({ $0.samples == $1.samples }) else {
        fatalError("an accepted index reads back different")
    }
    return 0
}

/// SwiftPM links executables with `main` aliased to `<Module>_main`: hand over to libFuzzer's driver.
@_cdecl("FuzzIndexStore_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzOne)
}
