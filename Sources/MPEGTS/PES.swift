/// PES packet headers (ISO/IEC 13818-1 2.4.3.6) with PTS and, when it differs, DTS.
enum PES {
    /// Header bytes for a PES with only a PTS, or with PTS and DTS.
    static func headerSize(hasDTS: Bool) -> Int { hasDTS ? 19 : 14 }

    /// The largest PES_packet_length; longer audio PES packets are written with length 0.
    static let maxPacketLength = 0xFFFF

    /// Appends a PES header. `payloadSize` sets PES_packet_length (0, unbounded, when `unbounded`
    /// or when it does not fit in 16 bits). Times are 90 kHz and wrap to 33 bits.
    static func appendHeader(streamID: UInt8, pts: Int64, dts: Int64?, payloadSize: Int, unbounded: Bool,
                             to out: inout [UInt8]) {
        out.append(0x00)
        out.append(0x00)
        out.append(0x01)
        out.append(streamID)
        let headerData = dts == nil ? 5 : 10
        let length = 3 &+ headerData &+ payloadSize
        let field = unbounded || length > maxPacketLength || length < 0 ? 0 : length
        out.append(UInt8(truncatingIfNeeded: field >> 8))
        out.append(UInt8(truncatingIfNeeded: field))
        out.append(0x84)  // '10', not scrambled, data_alignment_indicator
        out.append(dts == nil ? 0x80 : 0xC0)
        out.append(UInt8(headerData))
        if let dts {
            appendTimestamp(0x3, pts, to: &out)
            appendTimestamp(0x1, dts, to: &out)
        } else {
            appendTimestamp(0x2, pts, to: &out)
        }
    }

    /// The 5-byte PTS/DTS field: 4-bit prefix, 33-bit time split 3/15/15 with marker bits.
    private static func appendTimestamp(_ prefix: UInt8, _ time: Int64, to out: inout [UInt8]) {
        let t = UInt64(bitPattern: time) & 0x1_FFFF_FFFF
        out.append(prefix << 4 | UInt8(truncatingIfNeeded: t >> 29) & 0x0E | 0x01)
        out.append(UInt8(truncatingIfNeeded: t >> 22))
        out.append(UInt8(truncatingIfNeeded: t >> 14) & 0xFE | 0x01)
        out.append(UInt8(truncatingIfNeeded: t >> 7))
        out.append(UInt8(truncatingIfNeeded: t << 1) & 0xFE | 0x01)
    }
}
