import ByteIO

/// The few AMF0 values an FLV `onMetaData` script body uses (Adobe AMF0 specification).
public enum AMF0Value: Sendable, Equatable {
    case number(Double)
    case boolean(Bool)
    case string(String)
}

/// Writes the body of an FLV `onMetaData` script tag: the string `onMetaData` followed by an ECMA
/// array of named values, in the given order.
public enum AMF0 {
    public static func onMetaData(_ properties: [(String, AMF0Value)]) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + properties.count * 24)
        writeString(&w, "onMetaData")
        w.writeUInt8(0x08)                                  // ECMA array marker
        w.writeUInt32(UInt32(clamping: properties.count))   // approximate count
        for (name, value) in properties {
            writeName(&w, name)
            switch value {
            case .number(let d):
                w.writeUInt8(0x00)
                w.writeUInt64(d.bitPattern)
            case .boolean(let b):
                w.writeUInt8(0x01)
                w.writeUInt8(b ? 1 : 0)
            case .string(let s):
                writeString(&w, s)
            }
        }
        w.writeUInt16(0)                                    // empty name, then
        w.writeUInt8(0x09)                                  // the object end marker
        return w.take()
    }

    private static func writeString(_ w: inout ByteWriter, _ s: String) {
        w.writeUInt8(0x02)
        writeName(&w, s)
    }

    private static func writeName(_ w: inout ByteWriter, _ s: String) {
        let bytes = Array(s.utf8.prefix(Int(UInt16.max)))
        w.writeUInt16(UInt16(bytes.count))
        w.write(bytes)
    }
}
