/// Splits bytes that arrive in arbitrary chunks into whole top-level boxes. A box is handed out
/// only when all its bytes are here; its declared size is checked against the caller's bound for
/// its type as soon as its header is, so an oversized box is refused before it is buffered.
struct BoxFraming {
    struct Box {
        var type: String
        var headerSize: Int
        /// The whole box, header included.
        var bytes: [UInt8]
        var payload: ArraySlice<UInt8> { bytes[headerSize...] }
    }

    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes taken in so far (for log lines: where in the stream a problem was).
    private(set) var streamOffset: UInt64 = 0

    /// Bytes received that do not form a whole box yet.
    var pendingBytes: Int { buffer.count - start }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        if start > 0, start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: chunk)
    }

    /// The next whole box, or nil when more bytes are needed. `maxBoxBytes` is the largest box of
    /// a type the caller will take now.
    mutating func next(maxBoxBytes: (String) -> UInt64) throws(LiveIngestError) -> Box? {
        let available = buffer.count - start
        guard available >= 8 else { return nil }
        let size32 = buffer[start..<start + 4].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let typeBytes = buffer[start + 4..<start + 8]
        let type = typeBytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f })
            ? String(decoding: typeBytes, as: UTF8.self) : "????"
        var headerSize = 8
        var size = size32
        if size32 == 1 {
            guard available >= 16 else { return nil }
            size = buffer[start + 8..<start + 16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            headerSize = 16
        } else if size32 == 0 {
            throw .brokenBox("box '\(type)' at byte \(streamOffset) has size 0 (to the end of the stream), which a live stream cannot have")
        }
        if type == "uuid" { headerSize += 16 }
        guard size >= UInt64(headerSize) else {
            throw .brokenBox("box '\(type)' at byte \(streamOffset) declares \(size) bytes, less than its header")
        }
        let bound = maxBoxBytes(type)
        guard size <= bound else {
            throw .tooLarge("box '\(type)' at byte \(streamOffset) declares \(size) bytes (at most \(bound))")
        }
        guard let whole = Int(exactly: size) else { throw .tooLarge("box '\(type)' of \(size) bytes") }
        guard available >= whole else { return nil }
        let bytes = Array(buffer[start..<start + whole])
        start += whole
        streamOffset &+= size
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        } else if start >= 1 << 20 {
            // Keep the buffer from growing with every box that stays behind a partial one.
            buffer.removeFirst(start)
            start = 0
        }
        return Box(type: type, headerSize: headerSize, bytes: bytes)
    }
}
