import ByteIO
import MediaModel

/// Reads the sample bytes of one input, a run of contiguous samples per read call, so an MP4 chunk
/// costs one read instead of one per sample.
struct SampleFetcher {
    /// The most bytes one read asks for (a single larger sample is still read whole).
    static let maxRunBytes = 4 << 20

    let locator: String
    let table: SampleTable
    let range: Range<Int>
    private var buffer: [UInt8] = []
    private var runStart = 0
    private var runEnd = 0
    private var runOffset: UInt64 = 0

    init(_ input: TSInput) {
        locator = input.track.dataSource
        table = input.track.samples
        range = input.samples
    }

    /// A reader over exactly the bytes of sample `index` (which lies in the input's range).
    mutating func sample(_ index: Int, read: (String, UInt64, Int) throws -> [UInt8]) throws -> ByteReader {
        if !(runStart..<runEnd).contains(index) {
            try load(from: index, read: read)
        }
        let size = Int(table.sizes[index])
        let (start, overflow) = table.offsets[index].subtractingReportingOverflow(runOffset)
        guard !overflow, start <= UInt64(buffer.count), UInt64(size) <= UInt64(buffer.count) - start else {
            throw MPEGTSError.invalidInput("sample \(index) outside its read run")
        }
        var whole = ByteReader(buffer)
        do {
            try whole.seek(to: Int(start))
            return try whole.subReader(count: size)
        } catch {
            throw MPEGTSError.invalidInput("sample \(index) outside its read run")
        }
    }

    private mutating func load(from index: Int, read: (String, UInt64, Int) throws -> [UInt8]) throws {
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
        buffer = []  // release the previous run before reading the next
        let bytes = try read(locator, table.offsets[index], total)
        guard bytes.count == total else {
            throw MPEGTSError.shortRead(locator: locator, offset: table.offsets[index], expected: total, got: bytes.count)
        }
        buffer = bytes
        runStart = index
        runEnd = end
        runOffset = table.offsets[index]
    }
}
