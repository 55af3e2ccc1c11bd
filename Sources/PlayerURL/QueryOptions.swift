import ByteIO

/// The query string of a player request, decoded into ordered key/value pairs.
public struct QueryOptions: Sendable, Equatable {
    public let pairs: [(key: String, value: String)]
    /// The raw query as received (re-used verbatim on child URLs).
    public let raw: String

    public static func == (a: QueryOptions, b: QueryOptions) -> Bool { a.raw == b.raw }

    public static let maxLength = 4096

    /// No query at all.
    public init() {
        pairs = []
        raw = ""
    }

    public init(raw: String?) throws(PlayerURLError) {
        let raw = raw ?? ""
        guard raw.utf8.count <= QueryOptions.maxLength else { throw .malformed("query string longer than \(QueryOptions.maxLength) bytes") }
        var pairs: [(String, String)] = []
        for part in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try QueryOptions.percentDecode(kv[0])
            let value = kv.count > 1 ? try QueryOptions.percentDecode(kv[1]) : ""
            pairs.append((key, value))
        }
        self.pairs = pairs
        self.raw = raw
    }

    /// The last value given for `key`.
    public func value(_ key: String) -> String? { pairs.last { $0.key == key }?.value }

    /// `true`/`1`/`yes`/empty-as-flag → true, `false`/`0`/`no` → false, absent → nil.
    public func flag(_ key: String) throws(PlayerURLError) -> Bool? {
        guard let v = value(key) else { return nil }
        switch v.lowercased() {
        case "", "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw .malformed("\(Sanitized.text(key)) must be true or false, got \(Sanitized.text(v))")
        }
    }

    static func percentDecode(_ s: Substring) throws(PlayerURLError) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "+") { bytes.append(0x20); continue }
            guard b == UInt8(ascii: "%") else { bytes.append(b); continue }
            guard let h = it.popFirst(), let l = it.popFirst(), let hv = hexValue(h), let lv = hexValue(l) else {
                throw .malformed("bad percent-encoding in query")
            }
            bytes.append(hv << 4 | lv)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }
}
