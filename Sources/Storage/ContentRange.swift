/// The bytes a `206` answer says it carries, from its `Content-Range` header:
/// `bytes first-last/total`, or `bytes first-last/*` when the object's size is not known.
///
/// Parsing is strict: the unit `bytes` (any letter case) and one space, then unsigned decimals
/// without sign, spaces or anything after them, each within 64 bits; `first <= last`, and
/// `last < total` when the total is given. An unsatisfied range (`bytes */1234`, sent with a
/// `416`) names no bytes and does not parse.
public struct ContentRange: Sendable, Equatable, CustomStringConvertible {
    /// Object offset of the first byte carried.
    public let first: UInt64
    /// Object offset of the last byte carried (inclusive); never below ``first``.
    public let last: UInt64
    /// Size of the whole object, always above ``last``; nil for `*` (unknown).
    public let total: UInt64?

    /// nil unless `first <= last` and, with a total, `last < total`.
    public init?(first: UInt64, last: UInt64, total: UInt64?) {
        guard first <= last, total.map({ last < $0 }) ?? true else { return nil }
        self.first = first
        self.last = last
        self.total = total
    }

    /// Parses a header value as sent; nil when it is not a satisfied byte range.
    public init?(parsing value: String) {
        var rest = Substring(value).utf8
        let unit = "bytes ".utf8
        guard rest.starts(with: unit, by: { asciiLowercased($0) == $1 }) else { return nil }
        rest = rest.dropFirst(unit.count)
        guard let first = Self.number(&rest), rest.popFirst() == UInt8(ascii: "-"),
              let last = Self.number(&rest), rest.popFirst() == UInt8(ascii: "/") else { return nil }
        let total: UInt64?
        if rest.elementsEqual("*".utf8) {
            total = nil
        } else {
            guard let value = Self.number(&rest), rest.isEmpty else { return nil }
            total = value
        }
        self.init(first: first, last: last, total: total)
    }

    /// Whether a body of `count` bytes is exactly the bytes `first...last`.
    public func isLength(of count: Int) -> Bool {
        // last - first + 1 would overflow for 0...UInt64.max; count - 1 cannot.
        count > 0 && UInt64(count) - 1 == last - first
    }

    /// The header value, in canonical form (parses back to the same range).
    public var description: String {
        "bytes \(first)-\(last)/" + (total.map { String($0) } ?? "*")
    }

    /// The unsigned decimal at the start of `text` (digits only, at least one, within 64 bits),
    /// removed from it; nil when there is none or it overflows.
    static func number(_ text: inout Substring.UTF8View) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        while let byte = text.first, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = sum
            digits += 1
            text = text.dropFirst()
        }
        return digits > 0 ? value : nil
    }
}

/// The `Content-Length` header of an answer.
public enum ContentLength {
    /// The value as a number: one unsigned decimal (digits only, within 64 bits); nil for anything
    /// else, a list of values (`5,5`, a repeated header) included.
    public static func parse(_ value: String) -> UInt64? {
        var rest = Substring(value).utf8
        guard let length = ContentRange.number(&rest), rest.isEmpty else { return nil }
        return length
    }
}

private func asciiLowercased(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
}
