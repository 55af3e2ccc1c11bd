import PlayerURL
import XML

/// A finished manifest with the query left open: the bytes between the places where child URLs
/// carry `?<query>` (``ChildURL/template(base:)``). Built once per presentation view, virtual path
/// and format options; every request fills in its own query, so a new session id costs a copy of
/// the bytes, not a manifest build.
struct ManifestTemplate: Sendable {
    enum Slot: Sendable { case query, templateQuery }

    /// `slots.count + 1` runs of bytes; slot `k` goes between `parts[k]` and `parts[k + 1]`.
    let parts: [[UInt8]]
    let slots: [Slot]
    let contentType: String
    /// XML manifests (MPD, Smooth, F4M) get the query escaped as attribute text.
    let isXML: Bool
    let lastModified: Int64
    /// The bytes' hash so far; the query is added per request.
    private let hash: FNV1a
    /// The response for an empty query, made once.
    private let plain: EngineResponse

    /// Splits `bytes` at the UTF-8 forms of the two placeholders.
    init(bytes: [UInt8], contentType: String, isXML: Bool, lastModified: Int64) {
        // U+F8F0 and U+F8F1 in UTF-8: EF A3 B0 and EF A3 B1.
        var parts: [[UInt8]] = []
        var slots: [Slot] = []
        var start = 0
        var i = 0
        while i &+ 2 < bytes.count {
            if bytes[i] == 0xEF, bytes[i &+ 1] == 0xA3, bytes[i &+ 2] == 0xB0 || bytes[i &+ 2] == 0xB1 {
                parts.append(Array(bytes[start..<i]))
                slots.append(bytes[i &+ 2] == 0xB0 ? .query : .templateQuery)
                i &+= 3
                start = i
            } else {
                i &+= 1
            }
        }
        parts.append(Array(bytes[start...]))
        self.parts = parts
        self.slots = slots
        self.contentType = contentType
        self.isXML = isXML
        self.lastModified = lastModified
        var hash = FNV1a()
        hash.add(bytes)
        self.hash = hash
        var whole: [UInt8] = []
        whole.reserveCapacity(bytes.count)
        for part in parts { whole.append(contentsOf: part) }
        plain = EngineResponse(status: 200, contentType: contentType, etag: hash.etag, lastModified: lastModified,
                               logReason: nil, body: [.bytes(whole)])
    }

    /// Bytes held, for the cache bound.
    var cost: Int { parts.reduce(256) { $0 &+ $1.count &+ 32 } }

    /// The manifest for a request whose raw query is `rawQuery`.
    func response(query rawQuery: String) -> EngineResponse {
        guard !rawQuery.isEmpty, !slots.isEmpty else { return plain }
        let plainSuffix = encoded(ChildURL.querySuffix(rawQuery, inTemplate: false))
        let templateSuffix = encoded(ChildURL.querySuffix(rawQuery, inTemplate: true))
        var total = 0
        for part in parts { total &+= part.count }
        var body: [UInt8] = []
        body.reserveCapacity(total &+ slots.count &* max(plainSuffix.count, templateSuffix.count))
        for (k, part) in parts.enumerated() {
            body.append(contentsOf: part)
            if k < slots.count {
                body.append(contentsOf: slots[k] == .query ? plainSuffix : templateSuffix)
            }
        }
        var etag = hash
        etag.add(rawQuery)
        return EngineResponse(status: 200, contentType: contentType, etag: etag.etag, lastModified: lastModified,
                              logReason: nil, body: [.bytes(body)])
    }

    private func encoded(_ suffix: String) -> [UInt8] {
        guard isXML else { return Array(suffix.utf8) }
        var out: [UInt8] = []
        XMLWriter.appendAttributeValue(suffix, to: &out)
        return out
    }
}
