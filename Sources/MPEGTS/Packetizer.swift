/// Writes 188-byte transport packets, whole packets at a time, in place into a ``PacketBuffer``.
enum Packetizer {
    static let packetSize = 188
    static let payloadCapacity = 184
    /// Adaptation field bytes (length byte included) that carry flags and a PCR.
    static let pcrAdaptationSize = 8
    /// Adaptation field bytes that carry only flags (the random access indicator).
    static let flagsAdaptationSize = 2

    /// Packets needed for `bytes` of PES (header included) when the first packet carries an
    /// adaptation field of at least `firstAdaptation` bytes.
    static func packetCount(_ bytes: Int, firstAdaptation: Int) -> Int {
        let first = payloadCapacity - firstAdaptation
        guard bytes > first else { return 1 }
        return 1 &+ (bytes &- first &+ payloadCapacity &- 1) / payloadCapacity
    }

    /// The 4-byte packet header at `p`.
    @inline(__always)
    private static func writeHeader(_ p: UnsafeMutablePointer<UInt8>, pid: UInt16, unitStart: Bool, adaptation: Bool,
                                    payload: Bool, counter: UInt8) {
        p[0] = 0x47
        p[1] = (unitStart ? 0x40 : 0x00) | UInt8(truncatingIfNeeded: pid >> 8) & 0x1F
        p[2] = UInt8(truncatingIfNeeded: pid)
        let control: UInt8 = (adaptation ? 0x20 : 0x00) | (payload ? 0x10 : 0x00)
        p[3] = control | counter & 0x0F
    }

    /// An adaptation field of exactly `size` bytes at `p` (length byte included, `1 ... 184`).
    @inline(__always)
    private static func writeAdaptation(_ p: UnsafeMutablePointer<UInt8>, size: Int, randomAccess: Bool, pcrBase: Int64?) {
        p[0] = UInt8(truncatingIfNeeded: size &- 1)
        guard size >= 2 else { return }
        var written = 2
        var flags: UInt8 = randomAccess ? 0x40 : 0x00
        if let pcrBase, size >= pcrAdaptationSize {
            flags |= 0x10
            let base = UInt64(bitPattern: pcrBase) & 0x1_FFFF_FFFF
            p[2] = UInt8(truncatingIfNeeded: base >> 25)
            p[3] = UInt8(truncatingIfNeeded: base >> 17)
            p[4] = UInt8(truncatingIfNeeded: base >> 9)
            p[5] = UInt8(truncatingIfNeeded: base >> 1)
            p[6] = UInt8(truncatingIfNeeded: base & 1) << 7 | 0x7E  // 6 reserved bits, extension 0
            p[7] = 0x00
            written = pcrAdaptationSize
        }
        p[1] = flags
        if written < size { (p + written).update(repeating: 0xFF, count: size &- written) }
    }

    /// One packet holding a PSI section (pointer field 0), padded with 0xFF.
    static func appendSection(_ section: [UInt8], pid: UInt16, counter: UInt8, to out: inout PacketBuffer) {
        out.writePackets(1) { p in
            writeHeader(p, pid: pid, unitStart: true, adaptation: false, payload: true, counter: counter)
            p[4] = 0x00
            let body = min(section.count, payloadCapacity &- 1)
            section.withUnsafeBufferPointer { s in
                if let base = s.baseAddress, body > 0 { (p + 5).update(from: base, count: body) }
            }
            let filled = 5 &+ body
            if filled < packetSize { (p + filled).update(repeating: 0xFF, count: packetSize &- filled) }
        }
    }

    /// A packet with only an adaptation field carrying a PCR; it has no payload, so it repeats the
    /// PID's last continuity counter (`nextCounter - 1`).
    static func appendPCROnly(pid: UInt16, pcrBase: Int64, nextCounter: UInt8, to out: inout PacketBuffer) {
        out.writePackets(1) { p in
            writeHeader(p, pid: pid, unitStart: false, adaptation: true, payload: false, counter: (nextCounter &+ 15) & 0x0F)
            writeAdaptation(p + 4, size: payloadCapacity, randomAccess: false, pcrBase: pcrBase)
        }
    }

    /// Splits a whole PES packet into exactly `packets` transport packets (the caller guarantees
    /// `packetCount(pes.count, …) <= packets`; a PES shorter than `packets` bytes is padded with
    /// zeros, one payload byte per packet). The first packet carries the PCR and random access
    /// indicator when asked; adaptation field stuffing fills what the payload leaves.
    static func appendPES(_ pes: inout some PESBytes, packets: Int, pid: UInt16, randomAccess: Bool, pcrBase: Int64?,
                          counter: inout UInt8, to out: inout PacketBuffer) {
        let firstAdaptation = pcrBase != nil ? pcrAdaptationSize : (randomAccess ? flagsAdaptationSize : 0)
        let total = max(pes.count, packets)
        var position = 0
        var next = counter
        out.writePackets(packets) { start in
            var p = start
            for index in 0..<packets {
                let remaining = total &- position
                let capacity = index == 0 ? payloadCapacity &- firstAdaptation : payloadCapacity
                // Leave at least one byte for each packet still to come.
                let take = max(1, min(capacity, remaining &- (packets &- 1 &- index)))
                let adaptation = payloadCapacity &- take
                writeHeader(p, pid: pid, unitStart: index == 0, adaptation: adaptation > 0, payload: true, counter: next)
                if adaptation > 0 {
                    writeAdaptation(p + 4, size: adaptation, randomAccess: index == 0 && randomAccess,
                                    pcrBase: index == 0 ? pcrBase : nil)
                }
                pes.writeNext(take, to: p + 4 + adaptation)
                position &+= take
                next = (next &+ 1) & 0x0F
                p += packetSize
            }
        }
        counter = next
    }
}

/// Transport packets of one segment, written in place into an array that may still hold bytes of
/// an earlier segment (a buffer reused from a pool): only the first `used` bytes are this
/// segment's. The array grows, zero-filled, only when a write needs more than it holds, and
/// ``finish()`` cuts off what lies beyond `used`.
struct PacketBuffer {
    private var bytes: [UInt8]
    private(set) var used = 0

    /// Writes over `bytes`, expecting about `expected` bytes of packets (room for them is made up
    /// front when the array has less capacity).
    init(reusing bytes: consuming [UInt8], expected: Int) {
        // Moved in: with a second reference, making room would copy the buffer.
        self.bytes = consume bytes
        self.bytes.reserveCapacity(expected)
    }

    /// Lets `body` write `packets` whole packets: it gets a pointer to exactly `packets × 188`
    /// bytes and must write every one of them.
    mutating func writePackets(_ packets: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Void) {
        guard packets > 0 else { return }
        let end = used &+ packets &* Packetizer.packetSize
        if bytes.count < end { bytes.append(contentsOf: repeatElement(0, count: end &- bytes.count)) }
        let start = used
        bytes.withUnsafeMutableBufferPointer { buffer in
            if let base = buffer.baseAddress { body(base + start) }
        }
        used = end
    }

    /// The segment: the written bytes only (the array's capacity is kept). The buffer is left
    /// empty: moved out, not copied (a copy would make the trim below reallocate).
    mutating func finish() -> [UInt8] {
        bytes.removeLast(bytes.count &- used)
        used = 0
        var segment: [UInt8] = []
        swap(&segment, &bytes)
        return segment
    }
}

/// The bytes of one PES packet, handed to the packetizer in order.
protocol PESBytes {
    /// Bytes in the PES, header included.
    var count: Int { get }
    /// Writes the next `n` bytes at `p`; zeros once the PES is used up.
    mutating func writeNext(_ n: Int, to p: UnsafeMutablePointer<UInt8>)
}

/// A PES assembled in one buffer (audio: PES header, ADTS headers and frames).
struct ContiguousPES: PESBytes {
    let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var count: Int { bytes.count }

    mutating func writeNext(_ n: Int, to p: UnsafeMutablePointer<UInt8>) {
        let end = min(position &+ n, bytes.count)
        let k = max(end &- position, 0)
        if k > 0, let base = bytes.baseAddress { p.update(from: base + position, count: k) }
        if n > k { (p + k).update(repeating: 0, count: n &- k) }
        position = max(position, end)
    }
}

/// A video PES gathered rather than copied: `head` (PES header, delimiter, parameter sets), then
/// each NAL unit of the sample behind a start code, straight from the sample's bytes (read or mapped).
/// The NAL unit bytes are copied once, into the transport packets.
struct GatheredPES: PESBytes {
    let head: UnsafeBufferPointer<UInt8>
    /// Ranges of `source` (checked against the sample by ``AnnexB/gather``).
    let units: UnsafeBufferPointer<Range<Int>>
    let source: UnsafeRawBufferPointer
    let count: Int
    /// -1 while in `head`, else the index of the unit being written.
    private var piece = -1
    /// Position in the current piece (for a unit, its start code's four bytes come first).
    private var offset = 0

    init(head: UnsafeBufferPointer<UInt8>, units: UnsafeBufferPointer<Range<Int>>, source: UnsafeRawBufferPointer) {
        self.head = head
        self.units = units
        self.source = source
        count = units.reduce(head.count) { $0 &+ AnnexB.startCode.count &+ $1.count }
    }

    mutating func writeNext(_ n: Int, to p: UnsafeMutablePointer<UInt8>) {
        var n = n
        var p = p
        let codeLength = AnnexB.startCode.count
        while n > 0 {
            if piece < 0 {
                let k = min(head.count &- offset, n)
                if k > 0, let base = head.baseAddress {
                    p.update(from: base + offset, count: k)
                    p += k
                    offset &+= k
                    n &-= k
                } else {
                    piece = 0
                    offset = 0
                }
                continue
            }
            guard piece < units.count else {
                p.update(repeating: 0, count: n)
                return
            }
            if offset < codeLength {
                // 00 00 00 01
                let k = min(codeLength &- offset, n)
                for i in 0..<k { p[i] = offset &+ i == codeLength &- 1 ? 1 : 0 }
                p += k
                offset &+= k
                n &-= k
                continue
            }
            let unit = units[piece]
            let from = unit.lowerBound &+ (offset &- codeLength)
            let k = min(unit.upperBound &- from, n)
            if k > 0, from >= 0, from &+ k <= source.count, let base = source.baseAddress {
                UnsafeMutableRawPointer(p).copyMemory(from: base + from, byteCount: k)
                p += k
                offset &+= k
                n &-= k
            } else {
                piece &+= 1
                offset = 0
            }
        }
    }
}
