import ByteIO
import FuzzDriver
import ISOBMFF
import MPEGTS
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
    let bytes = fuzzBytes(data, size)
    for length in [FragmentLength?.none, .seconds(4)] {
        guard let cut = Segmentation.make(tracks: index.tracks, minimumLength: length) else { continue }
        let ranges = index.tracks.map { cut.sampleRanges(for: $0) }
        // The first segments of the first video and audio track, muxed as the engine does.
        let video = index.tracks.indices.first { index.tracks[$0].kind == .video }
        let audio = index.tracks.indices.first { index.tracks[$0].kind == .audio }
        for segment in 0..<3 {
            let inputs = [video, audio].compactMap { $0 }.compactMap { i -> TSInput? in
                segment < ranges[i].count ? TSInput(track: index.tracks[i], samples: ranges[i][segment]) : nil
            }
            guard !inputs.isEmpty,
                  let ts = try? TransportStreamWriter.segment(inputs: inputs, continuity: .zero, buffers: buffers, read: { _, offset, count in
                      guard offset <= UInt64(bytes.count), count >= 0, UInt64(count) <= UInt64(bytes.count) - offset else {
                          throw FuzzReadError()
                      }
                      return Array(bytes[Int(offset)..<(Int(offset) + count)])
                  }) else { continue }
            buffers.give(ts)
        }
        // Encrypted tracks as DASH passes them through: their samples' IVs and subsamples.
        for (i, track) in index.tracks.enumerated() {
            guard let protection = track.protection, protection.samples.count == track.samples.count,
                  let first = ranges[i].first else { continue }
            var options = FragmentWriter.Options()
            let entries = first.map { protection.samples.parsed($0, ivSize: Int(protection.ivSize)) }
            options.encryption = FragmentEncryption(ivs: entries.map(\.iv),
                                                    subsamples: protection.samples.hasSubsamples ? entries.map(\.runs) : nil)
            _ = try? FragmentWriter.mediaSegment(track: track, samples: first, sequenceNumber: 1, options: options)
            _ = FragmentWriter.initSegment(for: track, sampleEntry: track.sampleEntry,
                                           systems: protection.psshBoxes.compactMap { try? ProtectionSystem(parsing: $0) })
        }
    }
    return 0
}

/// Reused across inputs, as the engine reuses them across requests.
private let buffers = ByteBufferPool(maxBuffers: 8, maxRetainedBytes: 8 << 20)

private struct FuzzReadError: Error {}

/// SwiftPM links executables with `main` aliased to `<Module>_main`: hand over to libFuzzer's driver.
@_cdecl("FuzzMP4_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzOne)
}
