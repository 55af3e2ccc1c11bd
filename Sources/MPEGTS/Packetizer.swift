/// Writes 188-byte transport packets into one output array (reserved up front by the caller).
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

    private static func appendHeader(pid: UInt16, unitStart: Bool, adaptation: Bool, payload: Bool,
                                     counter: UInt8, to out: inout [UInt8]) {
        out.append(0x47)
        out.append((unitStart ? 0x40 : 0x00) | UInt8(truncatingIfNeeded: pid >> 8) & 0x1F)
        out.append(UInt8(truncatingIfNeeded: pid))
        let control: UInt8 = (adaptation ? 0x20 : 0x00) | (payload ? 0x10 : 0x00)
        out.append(control | counter & 0x0F)
    }

    /// Appends an adaptation field of exactly `size` bytes (length byte included, `size >= 1`).
    private static func appendAdaptation(size: Int, randomAccess: Bool, pcrBase: Int64?, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: size &- 1))
        guard size >= 2 else { return }
        var written = 2
        var flags: UInt8 = randomAccess ? 0x40 : 0x00
        if pcrBase != nil && size >= pcrAdaptationSize { flags |= 0x10 }
        out.append(flags)
        if flags & 0x10 != 0, let pcrBase {
            let base = UInt64(bitPattern: pcrBase) & 0x1_FFFF_FFFF
            out.append(UInt8(truncatingIfNeeded: base >> 25))
            out.append(UInt8(truncatingIfNeeded: base >> 17))
            out.append(UInt8(truncatingIfNeeded: base >> 9))
            out.append(UInt8(truncatingIfNeeded: base >> 1))
            out.append(UInt8(truncatingIfNeeded: base & 1) << 7 | 0x7E)  // 6 reserved bits, extension 0
            out.append(0x00)
            written += 6
        }
        while written < size {
            out.append(0xFF)
            written += 1
        }
    }

    /// One packet holding a PSI section (pointer field 0), padded with 0xFF.
    static func appendSection(_ section: [UInt8], pid: UInt16, counter: UInt8, to out: inout [UInt8]) {
        appendHeader(pid: pid, unitStart: true, adaptation: false, payload: true, counter: counter, to: &out)
        out.append(0x00)
        let body = section.prefix(payloadCapacity - 1)
        out.append(contentsOf: body)
        for _ in 0..<(payloadCapacity - 1 - body.count) { out.append(0xFF) }
    }

    /// A packet with only an adaptation field carrying a PCR; it has no payload, so it repeats the
    /// PID's last continuity counter (`nextCounter - 1`).
    static func appendPCROnly(pid: UInt16, pcrBase: Int64, nextCounter: UInt8, to out: inout [UInt8]) {
        appendHeader(pid: pid, unitStart: false, adaptation: true, payload: false,
                     counter: (nextCounter &+ 15) & 0x0F, to: &out)
        appendAdaptation(size: payloadCapacity, randomAccess: false, pcrBase: pcrBase, to: &out)
    }

    /// Splits a whole PES packet into exactly `packets` transport packets (the caller guarantees
    /// `packetCount(pes.count, …) <= packets`; a PES shorter than `packets` bytes is padded with
    /// zeros, one payload byte per packet). The first packet carries the PCR and random access
    /// indicator when asked; adaptation field stuffing fills what the payload leaves.
    static func appendPES(_ pes: inout some PESBytes, packets: Int, pid: UInt16, randomAccess: Bool, pcrBase: Int64?,
                          counter: inout UInt8, to out: inout [UInt8]) {
        let firstAdaptation = pcrBase != nil ? pcrAdaptationSize : (randomAccess ? flagsAdaptationSize : 0)
        let total = max(pes.count, packets)
        var position = 0
        for index in 0..<packets {
            let remaining = total - position
            let capacity = index == 0 ? payloadCapacity - firstAdaptation : payloadCapacity
            // Leave at least one byte for each packet still to come.
            let take = max(1, min(capacity, remaining - (packets - 1 - index)))
            let adaptation = payloadCapacity - take
            appendHeader(pid: pid, unitStart: index == 0, adaptation: adaptation > 0, payload: true,
                         counter: counter, to: &out)
            if adaptation > 0 {
                appendAdaptation(size: adaptation, randomAccess: index == 0 && randomAccess,
                                 pcrBase: index == 0 ? pcrBase : nil, to: &out)
            }
            pes.appendNext(take, to: &out)
            position += take
            counter = (counter &+ 1) & 0x0F
        }
    }
}

/// The bytes of one PES packet, handed to the packetizer in order.
protocol PESBytes {
    /// Bytes in the PES, header included.
    var count: Int { get }
    /// Appends the next `n` bytes to `out`; zeros once the PES is used up.
    mutating func appendNext(_ n: Int, to out: inout [UInt8])
}

/// A PES assembled in one array (audio: PES header, ADTS headers and frames).
struct ContiguousPES: PESBytes {
    let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var count: Int { bytes.count }

    mutating func appendNext(_ n: Int, to out: inout [UInt8]) {
        let end = min(position &+ n, bytes.count)
        if position < end {
            // One buffer view: an ArraySlice per packet would retain and release the array.
            bytes.withUnsafeBufferPointer { out.append(contentsOf: UnsafeBufferPointer(rebasing: $0[position..<end])) }
        }
        let padding = n - max(end - position, 0)
        if padding > 0 { out.append(contentsOf: repeatElement(0, count: padding)) }
        position = max(position, end)
    }
}

/// A video PES gathered rather than copied: `head` (PES header, delimiter, parameter sets), then
/// each NAL unit of the sample behind a start code, read straight from the sample's read buffer.
/// The NAL unit bytes are copied once, into the transport packets.
struct GatheredPES: PESBytes {
    let head: [UInt8]
    /// Ranges of `source` (checked against the sample by ``AnnexB/gather``).
    let units: [Range<Int>]
    let source: UnsafeBufferPointer<UInt8>
    let count: Int
    /// -1 while in `head`, else the index of the unit being written.
    private var piece = -1
    /// Position in the current piece (for a unit, its start code's four bytes come first).
    private var offset = 0

    init(head: [UInt8], units: [Range<Int>], source: UnsafeBufferPointer<UInt8>) {
        self.head = head
        self.units = units
        self.source = source
        count = units.reduce(head.count) { $0 &+ AnnexB.startCode.count &+ $1.count }
    }

    mutating func appendNext(_ n: Int, to out: inout [UInt8]) {
        var n = n
        while n > 0 {
            if piece < 0 {
                let k = min(head.count - offset, n)
                if k > 0 {
                    out.append(contentsOf: head[offset..<(offset + k)])
                    offset += k
                    n -= k
                } else {
                    piece = 0
                    offset = 0
                }
                continue
            }
            guard piece < units.count else {
                out.append(contentsOf: repeatElement(0, count: n))
                return
            }
            let unit = units[piece]
            let codeLength = AnnexB.startCode.count
            if offset < codeLength {
                let k = min(codeLength - offset, n)
                out.append(contentsOf: AnnexB.startCode[offset..<(offset + k)])
                offset += k
                n -= k
                continue
            }
            let from = unit.lowerBound &+ (offset - codeLength)
            let k = min(unit.upperBound - from, n)
            if k > 0, from >= 0, from &+ k <= source.count {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: source[from..<(from + k)]))
                offset += k
                n -= k
            } else {
                piece += 1
                offset = 0
            }
        }
    }
}
