/// How the samples of a track that arrives already encrypted (Common Encryption, ISO/IEC 23001-7)
/// are protected, as its source says: the scheme and default key from the sample entry's `sinf`,
/// the `pssh` boxes of its movie, and each sample's auxiliary information (IV and subsamples) from
/// the fragments' `senc` (or PIFF's sample encryption `uuid`). Outputs that can carry it pass the
/// samples through untouched with these; none decrypts or encrypts them again.
public struct SourceProtection: Sendable, Equatable {
    /// `cenc`, `cbcs`, `cens` or `cbc1`.
    public var scheme: String
    /// The codec's own sample entry type (`frma`): `avc1`, `mp4a`, …
    public var originalFormat: String
    /// The default key ID (`tenc`), 16 bytes.
    public var kid: [UInt8]
    /// Bytes of each sample's IV (8 or 16), or 0 with a constant IV.
    public var ivSize: UInt8
    /// The constant IV (`cbcs`), when the samples have none of their own.
    public var constantIV: [UInt8]
    /// The pattern (`tenc` version 1): encrypted and skipped 16-byte blocks; 0 and 0 without one.
    public var cryptByteBlock: UInt8
    public var skipByteBlock: UInt8
    /// The movie's `pssh` boxes, whole.
    public var psshBoxes: [[UInt8]]
    /// Per sample, its auxiliary information; empty until fragments gave it.
    public var samples: SampleAuxiliaryInfo

    public init(scheme: String, originalFormat: String, kid: [UInt8], ivSize: UInt8, constantIV: [UInt8] = [],
                cryptByteBlock: UInt8 = 0, skipByteBlock: UInt8 = 0, psshBoxes: [[UInt8]] = [],
                samples: SampleAuxiliaryInfo = SampleAuxiliaryInfo()) {
        self.scheme = scheme
        self.originalFormat = originalFormat
        self.kid = kid
        self.ivSize = ivSize
        self.constantIV = constantIV
        self.cryptByteBlock = cryptByteBlock
        self.skipByteBlock = skipByteBlock
        self.psshBoxes = psshBoxes
        self.samples = samples
    }
}

/// Each sample's IV and subsample runs, in one byte column: sample `i`'s IV (``ivSize`` bytes),
/// then, when ``hasSubsamples``, its run count (16 bits) and runs (16-bit clear, 32-bit protected
/// byte counts), big-endian as in `senc`. Checked when read: every entry is whole and its runs
/// cover exactly the sample's bytes.
public struct SampleAuxiliaryInfo: Sendable, Equatable {
    public private(set) var bytes: [UInt8] = []
    /// Where each sample's entry ends in ``bytes``.
    public private(set) var ends: [UInt32] = []
    public private(set) var hasSubsamples = false

    public init() {}

    public var count: Int { ends.count }

    /// Appends one sample's entry (already checked); the first one decides whether entries have runs.
    public mutating func append(_ entry: ArraySlice<UInt8>, hasSubsamples: Bool) {
        if ends.isEmpty { self.hasSubsamples = hasSubsamples }
        bytes.append(contentsOf: entry)
        ends.append(UInt32(clamping: bytes.count))
    }

    /// Sample `i`'s entry (empty when out of range).
    public func entry(_ i: Int) -> ArraySlice<UInt8> {
        guard i >= 0, i < ends.count else { return [] }
        let start = i == 0 ? 0 : Int(ends[i - 1]), end = Int(ends[i])
        guard start <= end, end <= bytes.count else { return [] }
        return bytes[start..<end]
    }

    /// Samples `range` only (clamped).
    public func slice(_ range: Range<Int>) -> SampleAuxiliaryInfo {
        var out = SampleAuxiliaryInfo()
        out.hasSubsamples = hasSubsamples
        let lower = Swift.min(Swift.max(range.lowerBound, 0), count), upper = Swift.min(Swift.max(range.upperBound, lower), count)
        for i in lower..<upper { out.append(entry(i), hasSubsamples: hasSubsamples) }
        return out
    }

    /// Sample `i`'s IV and runs (clear, protected), read back from its entry of `ivSize` bytes of IV.
    public func parsed(_ i: Int, ivSize: Int) -> (iv: [UInt8], runs: [(clear: UInt16, protected: UInt32)]) {
        let e = Array(entry(i))
        guard e.count >= ivSize else { return ([], []) }
        var runs: [(clear: UInt16, protected: UInt32)] = []
        if hasSubsamples, e.count >= ivSize + 2 {
            let n = Int(e[ivSize]) << 8 | Int(e[ivSize + 1])
            var at = ivSize + 2
            for _ in 0..<n where at + 6 <= e.count {
                let clear = UInt16(e[at]) << 8 | UInt16(e[at + 1])
                let protected = UInt32(e[at + 2]) << 24 | UInt32(e[at + 3]) << 16 | UInt32(e[at + 4]) << 8 | UInt32(e[at + 5])
                runs.append((clear, protected))
                at += 6
            }
        }
        return (Array(e[0..<ivSize]), runs)
    }

    var memoryFootprint: Int { bytes.count &+ ends.count &* 4 }
}
