import ByteIO

/// What a `filter=` expression is evaluated against: one track's attributes, as the engine
/// describes them (PlayerURL knows nothing of the media model).
public struct TrackAttributes: Sendable, Equatable {
    /// `video`, `audio`, `textstream` (text tracks) or `meta`.
    public var type: String
    /// The track's `systemBitrate` (its URL token's bitrate).
    public var systemBitrate: Int64
    /// The language (`eng`, `fra`, `und`).
    public var systemLanguage: String
    /// The `trackName` (`video`, `audio_eng`).
    public var trackName: String
    /// Every spelling of the codec's four-character code the filter should accept: the Smooth
    /// `FourCC` (`H264`, `AACL`) and the sample entry type (`avc1`, `mp4a`).
    public var fourCC: [String]
    /// Display size of video (0 for other kinds).
    public var maxWidth: Int64
    public var maxHeight: Int64

    public init(type: String, systemBitrate: Int64, systemLanguage: String, trackName: String,
                fourCC: [String], maxWidth: Int64 = 0, maxHeight: Int64 = 0) {
        self.type = type
        self.systemBitrate = systemBitrate
        self.systemLanguage = systemLanguage
        self.trackName = trackName
        self.fourCC = fourCC
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
    }
}

/// A parsed `filter=` expression (the reference origin's dynamic track selection):
///
///     filter=(type=="audio"&&systemBitrate<100000)||(type=="video"&&MaxHeight<=576)
///
/// Grammar, loosest binding first (`&&` binds tighter than `||`; `!` tightest):
///
///     or         := and ( "||" and )*
///     and        := unary ( "&&" unary )*
///     unary      := "!" unary | "(" or ")" | comparison
///     comparison := attribute ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) value
///
/// Attributes (names matched without regard to letter case): the strings `type`, `systemLanguage`,
/// `trackName`, `FourCC`, compared with `==`/`!=` against a double-quoted string; the integers
/// `systemBitrate`, `MaxWidth`, `MaxHeight`, compared with any operator against a decimal integer.
/// String comparisons ignore ASCII letter case except for `trackName`, which must match exactly
/// like the URL tokens it forms. `FourCC` matches the Smooth code (`AACL`, `H264`) or the sample
/// entry (`mp4a`, `avc1`). Spaces between tokens are allowed; strings have no escapes.
///
/// Errors are `400`s naming the 1-based character position and what was expected there:
/// `filter: expected ')' at 17`.
public struct TrackFilter: Sendable, Equatable, CustomStringConvertible {
    /// Longest expression accepted (bytes).
    public static let maxLength = 1024
    /// Deepest nesting of parentheses and `!` accepted.
    public static let maxDepth = 32

    public enum Attribute: String, Sendable, CaseIterable {
        case type, systemBitrate, systemLanguage, trackName, fourCC = "FourCC", maxWidth = "MaxWidth", maxHeight = "MaxHeight"

        var isInteger: Bool { self == .systemBitrate || self == .maxWidth || self == .maxHeight }
    }

    public enum Operator: String, Sendable {
        case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    }

    public enum Value: Sendable, Equatable {
        case integer(Int64)
        case string(String)
    }

    public indirect enum Expression: Sendable, Equatable {
        case compare(Attribute, Operator, Value)
        case not(Expression)
        case and(Expression, Expression)
        case or(Expression, Expression)
    }

    public let expression: Expression

    public init(expression: Expression) { self.expression = expression }

    /// Parses an expression (already percent-decoded).
    public init(parsing text: String) throws(PlayerURLError) {
        guard text.utf8.count <= Self.maxLength else {
            throw .malformed("filter: longer than \(Self.maxLength) bytes")
        }
        var parser = FilterParser(bytes: Array(text.utf8))
        expression = try parser.parseAll()
    }

    /// Whether a track with `attributes` is kept.
    public func matches(_ attributes: TrackAttributes) -> Bool {
        Self.evaluate(expression, attributes, depth: 0)
    }

    private static func evaluate(_ e: Expression, _ a: TrackAttributes, depth: Int) -> Bool {
        // A parsed tree has fewer nodes than its text has bytes; this only stops a hand-built monster.
        guard depth <= maxLength * 2 else { return false }
        switch e {
        case .not(let inner): return !evaluate(inner, a, depth: depth + 1)
        case .and(let l, let r): return evaluate(l, a, depth: depth + 1) && evaluate(r, a, depth: depth + 1)
        case .or(let l, let r): return evaluate(l, a, depth: depth + 1) || evaluate(r, a, depth: depth + 1)
        case .compare(let attribute, let op, let value):
            switch (attribute, value) {
            case (.systemBitrate, .integer(let v)): return compare(a.systemBitrate, op, v)
            case (.maxWidth, .integer(let v)): return compare(a.maxWidth, op, v)
            case (.maxHeight, .integer(let v)): return compare(a.maxHeight, op, v)
            case (.type, .string(let v)): return equality(op, foldedEqual(a.type, v))
            case (.systemLanguage, .string(let v)): return equality(op, foldedEqual(a.systemLanguage, v))
            case (.trackName, .string(let v)): return equality(op, a.trackName == v)
            case (.fourCC, .string(let v)): return equality(op, a.fourCC.contains { foldedEqual($0, v) })
            default: return false  // the parser rejects mismatched kinds
            }
        }
    }

    private static func compare(_ lhs: Int64, _ op: Operator, _ rhs: Int64) -> Bool {
        switch op {
        case .equal: lhs == rhs
        case .notEqual: lhs != rhs
        case .less: lhs < rhs
        case .lessOrEqual: lhs <= rhs
        case .greater: lhs > rhs
        case .greaterOrEqual: lhs >= rhs
        }
    }

    private static func equality(_ op: Operator, _ equal: Bool) -> Bool { op == .notEqual ? !equal : equal }

    private static func foldedEqual(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        for (x, y) in zip(a.utf8, b.utf8) where fold(x) != fold(y) { return false }
        return true
    }

    static func fold(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }

    /// A canonical spelling: attribute names as documented, no spaces, parentheses only where the
    /// tree needs them. Equal filters written differently (`( type=="video" )`, `TYPE=="video"`)
    /// give the same text, which the engine uses as a cache key, and the text parses back to the
    /// same filter (never nested deeper than the original).
    public var description: String { Self.render(expression, depth: 0) }

    private static func precedence(_ e: Expression) -> Int {
        switch e {
        case .or: 1
        case .and: 2
        case .not, .compare: 3
        }
    }

    private static func render(_ e: Expression, depth: Int) -> String {
        guard depth <= maxLength * 2 else { return "" }
        func child(_ c: Expression, parenthesisedBelow level: Int) -> String {
            let text = render(c, depth: depth + 1)
            return precedence(c) < level ? "(" + text + ")" : text
        }
        switch e {
        case .not(let inner): return "!" + child(inner, parenthesisedBelow: 3)
        // Chains are left-nested by the parser; a right operand of the same operator came from
        // parentheses and keeps them.
        case .and(let l, let r): return child(l, parenthesisedBelow: 2) + "&&" + child(r, parenthesisedBelow: 3)
        case .or(let l, let r): return child(l, parenthesisedBelow: 1) + "||" + child(r, parenthesisedBelow: 2)
        case .compare(let attribute, let op, let value):
            switch value {
            case .integer(let v): return attribute.rawValue + op.rawValue + String(v)
            case .string(let s): return attribute.rawValue + op.rawValue + "\"" + s + "\""
            }
        }
    }
}

/// Recursive descent over the bytes of one expression. Positions in messages are 1-based.
private struct FilterParser {
    let bytes: [UInt8]
    var i = 0
    var depth = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseAll() throws(PlayerURLError) -> TrackFilter.Expression {
        skipSpaces()
        guard i < bytes.count else { throw fail("an expression") }
        let e = try parseOr()
        skipSpaces()
        guard i >= bytes.count else { throw fail("'&&', '||' or the end") }
        return e
    }

    private mutating func parseOr() throws(PlayerURLError) -> TrackFilter.Expression {
        var lhs = try parseAnd()
        while true {
            skipSpaces()
            guard take("||") else { return lhs }
            lhs = .or(lhs, try parseAnd())
        }
    }

    private mutating func parseAnd() throws(PlayerURLError) -> TrackFilter.Expression {
        var lhs = try parseUnary()
        while true {
            skipSpaces()
            guard take("&&") else { return lhs }
            lhs = .and(lhs, try parseUnary())
        }
    }

    private mutating func parseUnary() throws(PlayerURLError) -> TrackFilter.Expression {
        skipSpaces()
        guard i < bytes.count else { throw fail("an attribute, '(' or '!'") }
        if bytes[i] == UInt8(ascii: "!") && !(i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "=")) {
            i += 1
            try enter()
            defer { depth -= 1 }
            return .not(try parseUnary())
        }
        if bytes[i] == UInt8(ascii: "(") {
            i += 1
            try enter()
            defer { depth -= 1 }
            let inner = try parseOr()
            skipSpaces()
            guard take(")") else { throw fail("')'") }
            return inner
        }
        return try parseComparison()
    }

    private mutating func enter() throws(PlayerURLError) {
        depth += 1
        guard depth <= TrackFilter.maxDepth else {
            throw .malformed("filter: nested deeper than \(TrackFilter.maxDepth) at \(i)")
        }
    }

    private mutating func parseComparison() throws(PlayerURLError) -> TrackFilter.Expression {
        let nameStart = i
        while i < bytes.count, isNameByte(bytes[i]) { i += 1 }
        guard i > nameStart else { throw fail("an attribute, '(' or '!'", at: nameStart) }
        let name = bytes[nameStart..<i]
        guard let attribute = TrackFilter.Attribute.allCases.first(where: { matchesIgnoringCase(name, $0.rawValue) }) else {
            throw .malformed("filter: unknown attribute \(Sanitized.text(String(decoding: name, as: UTF8.self), limit: 40)) at \(nameStart + 1)"
                + " (expected type, systemBitrate, systemLanguage, trackName, FourCC, MaxWidth or MaxHeight)")
        }
        skipSpaces()
        let opStart = i
        let op: TrackFilter.Operator
        if take("==") { op = .equal }
        else if take("!=") { op = .notEqual }
        else if take("<=") { op = .lessOrEqual }
        else if take(">=") { op = .greaterOrEqual }
        else if take("<") { op = .less }
        else if take(">") { op = .greater }
        else { throw fail("a comparison operator (== != < <= > >=)") }
        skipSpaces()
        let valueStart = i
        let value = try parseValue()
        if attribute.isInteger {
            guard case .integer = value else {
                throw .malformed("filter: \(attribute.rawValue) is compared with an integer, expected a number at \(valueStart + 1)")
            }
        } else {
            guard case .string = value else {
                throw .malformed("filter: \(attribute.rawValue) is compared with a quoted string, expected '\"' at \(valueStart + 1)")
            }
            guard op == .equal || op == .notEqual else {
                throw .malformed("filter: \(attribute.rawValue) is a string, expected '==' or '!=' at \(opStart + 1)")
            }
        }
        return .compare(attribute, op, value)
    }

    private mutating func parseValue() throws(PlayerURLError) -> TrackFilter.Value {
        guard i < bytes.count else { throw fail("a number or a quoted string") }
        if bytes[i] == UInt8(ascii: "\"") {
            let start = i + 1
            guard let close = bytes[start...].firstIndex(of: UInt8(ascii: "\"")) else {
                throw fail("a closing '\"'", at: bytes.count)
            }
            i = close + 1
            return .string(String(decoding: bytes[start..<close], as: UTF8.self))
        }
        let start = i
        while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
        guard i > start else { throw fail("a number or a quoted string") }
        guard i - start <= 18, let v = Int64(String(decoding: bytes[start..<i], as: UTF8.self)) else {
            throw .malformed("filter: number too large at \(start + 1)")
        }
        return .integer(v)
    }

    private mutating func skipSpaces() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func take(_ token: StaticString) -> Bool {
        let n = token.utf8CodeUnitCount
        guard bytes.count - i >= n else { return false }
        let matches = token.withUTF8Buffer { t in
            var k = 0
            while k < n, bytes[i + k] == t[k] { k += 1 }
            return k == n
        }
        if matches { i += n }
        return matches
    }

    private func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: "_")
    }

    private func matchesIgnoringCase(_ name: ArraySlice<UInt8>, _ expected: String) -> Bool {
        guard name.count == expected.utf8.count else { return false }
        for (a, b) in zip(name, expected.utf8) where TrackFilter.fold(a) != TrackFilter.fold(b) { return false }
        return true
    }

    private func fail(_ expected: String, at position: Int? = nil) -> PlayerURLError {
        let at = (position ?? i) + 1
        if let p = position ?? Optional(i), p < bytes.count {
            return .malformed("filter: expected \(expected) at \(at), found '\(Sanitized.text(String(decoding: bytes[p...p], as: UTF8.self)))'")
        }
        return .malformed("filter: expected \(expected) at \(at) (end of the expression)")
    }
}
