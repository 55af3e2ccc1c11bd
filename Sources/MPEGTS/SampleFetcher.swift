import ByteIO
import MediaModel

/// The bytes of a run of samples as the caller of ``TransportStreamWriter`` supplies them: read
/// into an array, or lent from memory that stays valid and unchanged until the segment is written
/// (a mapped file), which saves copying them before they are copied into the packets.
public enum SampleRun {
    case owned([UInt8])
    case lent(UnsafeRawBufferPointer)

    var count: Int {
        switch self {
        case .owned(let bytes): bytes.count
        case .lent(let bytes): bytes.count
        }
    }
}

/// Reads the sample bytes of one input, a run of contiguous samples per read call, so an MP4 chunk
/// costs one read instead of one per sample.
struct SampleFetcher {
    /// The most bytes one read asks for (a single larger sample is still read whole).
    static let maxRunBytes = 4 << 20

    let locator: String
    let table: SampleTable
    let range: Range<Int>
    private var run = SampleRun.owned([])
    private var runStart = 0
    private var runEnd = 0
    private var runOffset: UInt64 = 0

    init(_ input: TSInput) {
        locator = input.track.dataSource
        table = input.track.samples
        range = input.samples
    }

    /// Calls `body` with exactly the bytes of sample `index` (which lies in the input's range).
    mutating func withSample<R>(_ index: Int, read: (String, UInt64, Int) throws -> SampleRun,
                                _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if !(runStart..<runEnd).contains(index) {
            try load(from: index, read: read)
        }
        let size = Int(table.sizes[index])
        let (start, overflow) = table.offsets[index].subtractingReportingOverflow(runOffset)
        guard !overflow, start <= UInt64(run.count), UInt64(size) <= UInt64(run.count) - start else {
            throw MPEGTSError.invalidInput("sample \(index) outside its read run")
        }
        let from = Int(start)
        switch run {
        case .owned(let bytes):
            return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[from..<(from + size)])) }
        case .lent(let bytes):
            return try body(UnsafeRawBufferPointer(rebasing: bytes[from..<(from + size)]))
        }
    }

    private mutating func load(from index: Int, read: (String, UInt64, Int) throws -> SampleRun) throws {
        var end = index + 1
        var total = Int(table.sizes[index])
        var (next, overflow) = table.offsets[index].addingReportingOverflow(UInt64(table.sizes[index]))
        while end < range.upperBound, !overflow, table.offsets[end] == next {
            let size = Int(table.sizes[end])
            guard total &+ size <= Self.maxRunBytes else { break }
            total &+= size
            (next, overflow) = next.addingReportingOverflow(UInt64(size))
            end += 1
        }
        run = .owned([])  // release the previous run before reading the next
        let bytes = try read(locator, table.offsets[index], total)
        guard bytes.count == total else {
            throw MPEGTSError.shortRead(locator: locator, offset: table.offsets[index], expected: total, got: bytes.count)
        }
        run = bytes
        runStart = index
        runEnd = end
        runOffset = table.offsets[index]
    }
}
