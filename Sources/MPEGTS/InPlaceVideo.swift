import ByteIO
import MediaModel

/// Reads `count` bytes of `locator` at `offset` straight into `regions`, filling them in order
/// (their lengths add up to the count); throws when the object is shorter.
public typealias ScatterRead = (_ locator: String, _ offset: UInt64,
                                _ regions: UnsafeBufferPointer<UnsafeMutableRawBufferPointer>) throws -> Void

/// Video access units read straight into the payload of their transport packets, so their bytes
/// are copied once (by the kernel, from the file) instead of twice.
///
/// With four-byte NAL unit lengths an access unit keeps its size in Annex B: the sample goes into
/// the packets as it is stored, behind a head (PES header, delimiter, and at sync samples the
/// parameter sets) written with the packets, and each length then becomes a start code in place.
/// Where that would not give what the copying path writes (an in-band delimiter to drop, a sync
/// sample with its own parameter sets, an empty NAL unit, a malformed sample), the sample is
/// gathered from the packets and its PES written again over the same packets as the copying path
/// would write it; the PES needs as many packets either way, since they are counted from the
/// nominal size.
struct InPlaceVideo {
    /// One video PES whose packets hold its head and room for its sample.
    struct Slot {
        /// Index into the video plans.
        var plan: Int
        var sample: Int
        /// Byte offset of the PES's first packet in the segment.
        var offset: Int
        var packets: Int
        var headCount: Int
        /// Continuity counter of the first packet.
        var counter: UInt8
    }

    let stream: ElementaryStream
    let annexB: AnnexB
    private(set) var slots: [Slot] = []

    init(stream: ElementaryStream, annexB: AnnexB) {
        self.stream = stream
        self.annexB = annexB
    }

    /// What goes before the sample in the PES after its header: the delimiter, and the parameter
    /// sets at sync samples (as counted in the nominal size).
    func appendHead(isSync: Bool, to head: inout [UInt8]) {
        head.append(contentsOf: annexB.delimiter)
        if isSync { head.append(contentsOf: annexB.parameterSets) }
    }

    /// Has `write` write the packets of one PES holding `head` and room for sample `sample`;
    /// `write` returns the offset of the first packet, the packet count and the first counter.
    mutating func reserve(plan: Int, sample: Int, head: [UInt8],
                          write: (inout HeadOnlyPES) -> (offset: Int, packets: Int, counter: UInt8)) {
        let size = Int(stream.input.track.samples.sizes[sample])
        head.withUnsafeBufferPointer { head in
            var pes = HeadOnlyPES(head: head, count: head.count &+ size)
            let (offset, packets, counter) = write(&pes)
            slots.append(Slot(plan: plan, sample: sample, offset: offset, packets: packets, headCount: head.count,
                              counter: counter))
        }
    }

    /// Reads every reserved sample into the packets at `base` (one `scatter` call per run of
    /// samples that follow each other in the file) and turns their lengths into start codes;
    /// `rewrite(slot, sample bytes, packets)` writes a PES again from its gathered sample.
    func fill(packets base: UnsafeMutablePointer<UInt8>, scatter: ScatterRead,
              rewrite: (Slot, ByteReader, UnsafeMutablePointer<UInt8>) throws -> Void) throws {
        let table = stream.input.track.samples
        var regions: [UnsafeMutableRawBufferPointer] = []
        var bounds: [Range<Int>] = []
        bounds.reserveCapacity(slots.count)
        for slot in slots {
            let first = regions.count
            var skip = slot.headCount
            var left = Int(table.sizes[slot.sample])
            var p = base + slot.offset
            for _ in 0..<slot.packets {
                var start = Packetizer.payloadStart(ofPacketAt: p)
                let skipped = min(skip, Packetizer.packetSize &- start)
                start &+= skipped
                skip &-= skipped
                let n = min(Packetizer.packetSize &- start, left)
                if n > 0 {
                    regions.append(UnsafeMutableRawBufferPointer(start: p + start, count: n))
                    left &-= n
                }
                p += Packetizer.packetSize
            }
            guard left == 0 else {
                throw MPEGTSError.invalidInput("sample \(slot.sample) does not fit its \(slot.packets) packets")
            }
            bounds.append(first..<regions.count)
        }
        try regions.withUnsafeBufferPointer { all in
            var i = 0
            while i < slots.count {
                var j = i &+ 1
                var (next, overflow) = table.offsets[slots[i].sample].addingReportingOverflow(UInt64(table.sizes[slots[i].sample]))
                while j < slots.count, !overflow, table.offsets[slots[j].sample] == next {
                    (next, overflow) = next.addingReportingOverflow(UInt64(table.sizes[slots[j].sample]))
                    j &+= 1
                }
                let run = UnsafeBufferPointer(rebasing: all[bounds[i].lowerBound..<bounds[j &- 1].upperBound])
                try scatter(stream.input.track.dataSource, table.offsets[slots[i].sample], run)
                i = j
            }
            var peek: [UInt8] = []
            var gathered: [UInt8] = []
            for (slot, range) in zip(slots, bounds) {
                var sample = ScatteredBytes(UnsafeBufferPointer(rebasing: all[range]))
                if let lengths = annexB.lengthFieldsInPlace(&sample, isSync: table.isSync(slot.sample), peek: &peek) {
                    for position in lengths { sample.write(AnnexB.startCode, at: position) }
                } else {
                    gathered.removeAll(keepingCapacity: true)
                    sample.copyAll(into: &gathered)
                    try rewrite(slot, ByteReader(gathered), base + slot.offset)
                }
            }
        }
    }
}

/// A PES whose packets get only its head: the rest of each payload is left for a scatter read.
struct HeadOnlyPES: PESBytes {
    let head: UnsafeBufferPointer<UInt8>
    let count: Int
    private var position = 0

    init(head: UnsafeBufferPointer<UInt8>, count: Int) {
        self.head = head
        self.count = count
    }

    mutating func writeNext(_ n: Int, to p: UnsafeMutablePointer<UInt8>) {
        let k = min(max(head.count &- position, 0), n)
        if k > 0, let base = head.baseAddress { p.update(from: base + position, count: k) }
        position &+= n
    }
}

/// The bytes of one sample spread over packet payloads, addressed as one run. Positions are
/// checked; a forward cursor keeps in-order access linear.
struct ScatteredBytes {
    let regions: UnsafeBufferPointer<UnsafeMutableRawBufferPointer>
    let count: Int
    private var region = 0
    private var regionStart = 0

    init(_ regions: UnsafeBufferPointer<UnsafeMutableRawBufferPointer>) {
        self.regions = regions
        count = regions.reduce(0) { $0 &+ $1.count }
    }

    /// Moves the cursor to the region holding `position` (which is below `count`).
    private mutating func seek(_ position: Int) {
        if position < regionStart {
            region = 0
            regionStart = 0
        }
        while region < regions.count, position >= regionStart &+ regions[region].count {
            regionStart &+= regions[region].count
            region &+= 1
        }
    }

    /// Appends `n` bytes from `position` to `out`; false when they are not all there.
    mutating func copy(from position: Int, count n: Int, into out: inout [UInt8]) -> Bool {
        guard position >= 0, n >= 0, n <= count &- position else { return false }
        var at = position
        var left = n
        while left > 0 {
            seek(at)
            guard region < regions.count else { return false }
            let slice = UnsafeRawBufferPointer(regions[region])
            let from = at &- regionStart
            let k = min(slice.count &- from, left)
            out.append(contentsOf: slice[from..<(from &+ k)])
            at &+= k
            left &-= k
        }
        return true
    }

    /// Writes `bytes` from `position` (bytes that would not fit are not written).
    mutating func write(_ bytes: [UInt8], at position: Int) {
        guard position >= 0, bytes.count <= count &- position else { return }
        var at = position
        for byte in bytes {
            seek(at)
            guard region < regions.count else { return }
            regions[region][at &- regionStart] = byte
            at &+= 1
        }
    }

    func copyAll(into out: inout [UInt8]) {
        for region in regions { out.append(contentsOf: UnsafeRawBufferPointer(region)) }
    }
}
