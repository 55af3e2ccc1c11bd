import PlayerURL
import XML

/// A finished manifest with the query left open: the bytes between the places where child URLs
/// carry `?<query>` (``ChildURL/template(base:)``). Built once per presentation view, virtual path
/// and format options; every request fills in its own query, so a new session id costs a copy of
/// the bytes, not a manifest build.
struct ManifestTemplate: Sendable {
    enum Slot: Sendable { case query, templateQuery }

    /// The manifest without its placeholders (what a request without a query gets).
    let bytes: [UInt8]
    /// Where each slot goes in ``bytes`` (ascending) and which suffix it takes.
    let slotOffsets: [Int]
    let slots: [Slot]
    let contentType: String
    /// XML manifests (MPD, Smooth, F4M) get the query escaped as attribute text.
    let isXML: Bool
    let lastModified: Int64
    /// The bytes' hash so far; the query is added per request.
    private let hash: FNV1a
    /// The response for an empty query, made once.
    private let plain: EngineResponse

    /// Takes the UTF-8 forms of the two placeholders out of `bytes`, remembering where they were.
    init(bytes: [UInt8], contentType: String, isXML: Bool, lastModified: Int64) {
        // U+F8F0 and U+F8F1 in UTF-8: EF A3 B0 and EF A3 B1.
        var kept: [UInt8] = []
        kept.reserveCapacity(bytes.count)
        var offsets: [Int] = []
        var slots: [Slot] = []
        var start = 0
        var i = 0
        while i &+ 2 < bytes.count {
            if bytes[i] == 0xEF, bytes[i &+ 1] == 0xA3, bytes[i &+ 2] == 0xB0 || bytes[i &+ 2] == 0xB1 {
                kept.append(contentsOf: bytes[start..<i])
                offsets.append(kept.count)
                slots.append(bytes[i &+ 2] == 0xB0 ? .query : .templateQuery)
                i &+= 3
                start = i
            } else {
                i &+= 1
            }
        }
        kept.append(contentsOf: bytes[start...])
        self.bytes = kept
        self.slotOffsets = offsets
        self.slots = slots
        self.contentType = contentType
        self.isXML = isXML
        self.lastModified = lastModified
        var hash = FNV1a()
        hash.add(bytes)
        self.hash = hash
        plain = EngineResponse(status: 200, contentType: contentType, etag: hash.etag, lastModified: lastModified,
                               logReason: nil, body: [.bytes(kept)])
    }

    /// Bytes held, for the cache bound.
    var cost: Int { 256 &+ bytes.count &+ slots.count &* 9 }

    /// The manifest for a request whose raw query is `rawQuery`: the bytes copied run by run, with
    /// the query's suffix written into every slot.
    func response(query rawQuery: String) -> EngineResponse {
        guard !rawQuery.isEmpty, !slots.isEmpty else { return plain }
        let plainSuffix = encoded(ChildURL.querySuffix(rawQuery, inTemplate: false))
        let templateSuffix = encoded(ChildURL.querySuffix(rawQuery, inTemplate: true))
        var total = bytes.count
        for slot in slots { total &+= slot == .query ? plainSuffix.count : templateSuffix.count }
        let body = [UInt8](unsafeUninitializedCapacity: total) { out, initialized in
            bytes.withUnsafeBufferPointer { source in
                plainSuffix.withUnsafeBufferPointer { plainSuffix in
                    templateSuffix.withUnsafeBufferPointer { templateSuffix in
                        guard let to = out.baseAddress else { return }
                        var written = 0
                        func put(_ run: UnsafeBufferPointer<UInt8>) {
                            guard let p = run.baseAddress, !run.isEmpty, run.count <= out.count &- written else { return }
                            (to + written).initialize(from: p, count: run.count)
                            written &+= run.count
                        }
                        var copied = 0
                        for (k, offset) in slotOffsets.enumerated() where offset >= copied && offset <= source.count {
                            put(UnsafeBufferPointer(rebasing: source[copied..<offset]))
                            copied = offset
                            put(slots[k] == .query ? plainSuffix : templateSuffix)
                        }
                        put(UnsafeBufferPointer(rebasing: source[copied...]))
                        initialized = written
                    }
                }
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
