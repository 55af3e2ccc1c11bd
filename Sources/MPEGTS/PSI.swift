/// Program Specific Information: the PAT and PMT sections every segment starts with.
enum PSI {
    static let patPID: UInt16 = 0x0000
    static let pmtPID: UInt16 = 0x1000
    static let programNumber: UInt16 = 1
    static let transportStreamID: UInt16 = 1

    /// The program association section (without pointer field), CRC included.
    static func patSection() -> [UInt8] {
        var body: [UInt8] = []
        body.append(UInt8(truncatingIfNeeded: transportStreamID >> 8))
        body.append(UInt8(truncatingIfNeeded: transportStreamID))
        body += [0xC1, 0x00, 0x00]  // version 0, current, section 0 of 0
        body.append(UInt8(truncatingIfNeeded: programNumber >> 8))
        body.append(UInt8(truncatingIfNeeded: programNumber))
        body.append(0xE0 | UInt8(truncatingIfNeeded: pmtPID >> 8))
        body.append(UInt8(truncatingIfNeeded: pmtPID))
        return section(tableID: 0x00, body: body)
    }

    /// The program map section for the given streams (video first), CRC included.
    static func pmtSection(pcrPID: UInt16, streams: [ElementaryStream]) -> [UInt8] {
        var body: [UInt8] = []
        body.append(UInt8(truncatingIfNeeded: programNumber >> 8))
        body.append(UInt8(truncatingIfNeeded: programNumber))
        body += [0xC1, 0x00, 0x00]
        body.append(0xE0 | UInt8(truncatingIfNeeded: pcrPID >> 8))
        body.append(UInt8(truncatingIfNeeded: pcrPID))
        body += [0xF0, 0x00]  // program_info_length 0
        for stream in streams {
            body.append(stream.streamType)
            body.append(0xE0 | UInt8(truncatingIfNeeded: stream.pid >> 8))
            body.append(UInt8(truncatingIfNeeded: stream.pid))
            let infoLength = stream.descriptors.count & 0x3FF
            body.append(0xF0 | UInt8(truncatingIfNeeded: infoLength >> 8))
            body.append(UInt8(truncatingIfNeeded: infoLength))
            body += stream.descriptors.prefix(infoLength)
        }
        return section(tableID: 0x02, body: body)
    }

    /// table_id, section_syntax_indicator 1, section_length, body, CRC32/MPEG-2.
    private static func section(tableID: UInt8, body: [UInt8]) -> [UInt8] {
        let length = body.count + 4
        var out: [UInt8] = [tableID, 0xB0 | UInt8(truncatingIfNeeded: length >> 8) & 0x0F,
                            UInt8(truncatingIfNeeded: length)]
        out += body
        let crc = CRC32MPEG2.checksum(out)
        out += [UInt8(truncatingIfNeeded: crc >> 24), UInt8(truncatingIfNeeded: crc >> 16),
                UInt8(truncatingIfNeeded: crc >> 8), UInt8(truncatingIfNeeded: crc)]
        return out
    }
}
