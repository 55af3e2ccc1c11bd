import DASH
import ISOBMFF
import MediaModel

/// Tracks that arrive encrypted (Common Encryption in their source) are passed through: their
/// samples go out as they are, with the source's `sinf`, `pssh` boxes and per-sample IVs and
/// subsamples, and the manifest says how they are protected. Only DASH can carry them so far.
enum PreEncrypted {
    /// Why `track` cannot be passed through, or nil when it can.
    static func problem(_ track: PresentationTrack) -> String? {
        let t = track.track
        guard let protection = t.protection else {
            // An encrypted sample entry Origo could not read the protection of.
            return ["encv", "enca", "enct", "encs"].contains(t.sampleEntryType)
                ? "track \(track.token) is encrypted in a way Origo cannot read (no usable sinf)" : nil
        }
        guard protection.samples.count == t.samples.count else {
            return "track \(track.token) is encrypted but its source gives the IVs of \(protection.samples.count) of \(t.samples.count) samples"
        }
        return nil
    }

    /// The `pssh` boxes of `protection`'s source, parsed (those that do not parse are left out).
    static func systems(_ protection: SourceProtection) -> [ProtectionSystem] {
        protection.psshBoxes.compactMap { try? ProtectionSystem(parsing: $0) }
    }

    /// How an MPD declares `protection`: its scheme and key, and each system's `pssh`.
    static func mpd(_ protection: SourceProtection) -> DASHProtection {
        DASHProtection(scheme: protection.scheme, kid: protection.kid, systems: systems(protection).map { Protection.mpdSystem($0) })
    }
}

extension AnswerContext {
    /// The init segment of a pre-encrypted track: its own sample entry (`encv`/`enca` with `sinf`)
    /// and its source's `pssh` boxes.
    func passThroughInit(_ track: PresentationTrack, _ protection: SourceProtection) -> EngineResponse {
        let bytes = FragmentWriter.initSegment(for: track.track, sampleEntry: track.track.sampleEntry,
                                               systems: PreEncrypted.systems(protection))
        return Self.segment([.bytes(bytes)], type: Self.mp4Type(track.kind))
    }

    /// A media segment of a pre-encrypted track: the samples as the source has them (sent from the
    /// file), with their IVs and subsamples in `senc`.
    func passThroughFragment(_ track: PresentationTrack, _ protection: SourceProtection, cut: Cut, index: Int,
                             number: Int) throws -> EngineResponse {
        guard let range = cut.ranges[track.token]?[index], !range.isEmpty else {
            throw EngineError.notFound("segment \(number) of \(track.token) is empty")
        }
        let ivSize = Int(protection.ivSize)
        var ivs: [[UInt8]] = []
        var subsamples: [[(clear: UInt16, protected: UInt32)]] = []
        for i in range {
            let (iv, runs) = protection.samples.parsed(i, ivSize: ivSize)
            ivs.append(iv)
            subsamples.append(runs)
        }
        var options = FragmentWriter.Options()
        options.encryption = FragmentEncryption(ivs: ivs, subsamples: protection.samples.hasSubsamples ? subsamples : nil)
        let pieces = try FragmentWriter.mediaSegment(track: track.track, samples: range,
                                                     sequenceNumber: UInt32(clamping: number), options: options)
        return Self.segment(try media.materialize(pieces), type: Self.mp4Type(track.kind))
    }
}
