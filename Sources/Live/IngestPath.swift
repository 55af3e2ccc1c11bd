/// The publishing point a POST goes to: `<x>.isml/Streams(<name>)`, optionally with
/// `Events(<id>)/` before it (MS-SSTR 2.2.7; DASH-IF ingest uses the same form).
public struct IngestPath: Sendable, Equatable {
    public var stream: String
    public var event: String?

    /// Parses the virtual path (what follows `<x>.isml/`, URL-decoded). Names become directory
    /// names in the store, so only letters, digits, `.`, `_`, `-` are allowed, not starting with a dot.
    public init(virtualPath: String) throws(LiveIngestError) {
        var rest = Substring(virtualPath)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var event: String?
        if rest.hasPrefix("Events(") {
            guard let close = rest.firstIndex(of: ")") else { throw .badPath("Events( without )") }
            event = try Self.name(rest[rest.index(rest.startIndex, offsetBy: 7)..<close], what: "event")
            rest = rest[rest.index(after: close)...]
            guard rest.hasPrefix("/") else { throw .badPath("Events(...) must be followed by /Streams(...)") }
            rest = rest.dropFirst()
        }
        guard rest.hasPrefix("Streams("), rest.hasSuffix(")"), rest.count > 9 else {
            throw .badPath("expected Streams(<name>), got \(Self.printable(virtualPath))")
        }
        self.stream = try Self.name(rest.dropFirst(8).dropLast(), what: "stream")
        self.event = event
    }

    private static func name(_ text: Substring, what: String) throws(LiveIngestError) -> String {
        guard !text.isEmpty, text.utf8.count <= 128, text.first != ".",
              text.utf8.allSatisfy({ isNameByte($0) }) else {
            throw .badPath("\(what) name \(printable(String(text))) (1-128 of A-Z a-z 0-9 . _ -, not starting with .)")
        }
        return String(text)
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"): true
        default: false
        }
    }

    /// Paths come from the client: log at most 80 printable characters of them.
    static func printable(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.prefix(80).map { $0.value < 0x20 || $0.value > 0x7e ? "?" : $0 }))
    }
}
