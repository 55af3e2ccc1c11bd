import ByteIO
import DASH
import Encryption
import HLS
import ISOBMFF
import MediaModel
import Smooth

/// Tracks that arrive encrypted (Common Encryption in their source) are passed through: their
/// samples go out as they are, with the source's `sinf`, `pssh` boxes and per-sample IVs and
/// subsamples, and the manifest says how they are protected. DASH and HLS with fMP4 segments carry
/// them; TS, Smooth and HDS would need the clear samples.
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

    /// How HLS playlists name `protection`'s keys: `SAMPLE-AES` (`cbcs`) or `SAMPLE-AES-CTR`
    /// (`cenc`), for each DRM system HLS players know by its `pssh` (Widevine's and PlayReady's as
    /// `data:` URIs), and the key at `identityURI` (`hls.license_server_url`) when the server manifest
    /// gives one. Empty: no player could learn the key from a playlist.
    static func hlsKeys(_ protection: SourceProtection, identityURI: String?) -> [HLSSegmentKey] {
        let method: HLSSegmentKey.Method = ["cbcs", "cbc1"].contains(protection.scheme) ? .sampleAES : .sampleAESCTR
        let iv = protection.constantIV.count == 16 ? protection.constantIV : nil
        var keys: [HLSSegmentKey] = []
        if let identityURI, !identityURI.isEmpty {
            keys.append(HLSSegmentKey(method: method, uri: identityURI, iv: iv, keyFormat: "identity"))
        }
        for system in systems(protection) {
            switch system.systemID {
            case ProtectionSystem.widevineID:
                keys.append(HLSSegmentKey(method: method, uri: "data:text/plain;base64," + Base64.encode(system.box), iv: iv,
                                          keyFormat: "urn:uuid:" + DASHProtection.uuid(ProtectionSystem.widevineID),
                                          keyFormatVersions: "1"))
            case PlayReadyHeader.systemID:
                keys.append(HLSSegmentKey(method: method, uri: "data:text/plain;charset=UTF-16;base64," + Base64.encode(system.data),
                                          iv: iv, keyFormat: "com.microsoft.playready", keyFormatVersions: "1"))
            default:
                continue
            }
        }
        return keys
    }

    /// The Smooth client manifest's PlayReady header for `protection`: its source's PlayReady
    /// object, when the source has one and is encrypted as PIFF can say (`cenc`, 8- or 16-byte IVs).
    static func smoothHeader(_ protection: SourceProtection) -> SmoothProtectionHeader? {
        guard protection.scheme == "cenc", protection.ivSize == 8 || protection.ivSize == 16,
              let playReady = systems(protection).first(where: { $0.systemID == PlayReadyHeader.systemID }) else { return nil }
        return SmoothProtectionHeader(systemID: DASHProtection.uuid(PlayReadyHeader.systemID).uppercased(),
                                      data: Base64.encode(playReady.data))
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
        return try passThroughFragment(track, protection, samples: range, number: number)
    }

    /// Samples `range` of a pre-encrypted track as one media segment, written as `options` say
    /// (Smooth's: PIFF's sample encryption box, times on its timeline).
    func passThroughFragment(_ track: PresentationTrack, _ protection: SourceProtection, samples range: Range<Int>,
                             number: Int, options: FragmentWriter.Options = FragmentWriter.Options()) throws -> EngineResponse {
        let ivSize = Int(protection.ivSize)
        var ivs: [[UInt8]] = []
        var subsamples: [[(clear: UInt16, protected: UInt32)]] = []
        for i in range {
            let (iv, runs) = protection.samples.parsed(i, ivSize: ivSize)
            ivs.append(iv)
            subsamples.append(runs)
        }
        var options = options
        options.encryption = FragmentEncryption(ivs: ivs, subsamples: protection.samples.hasSubsamples ? subsamples : nil)
        let pieces = try FragmentWriter.mediaSegment(track: track.track, samples: range,
                                                     sequenceNumber: UInt32(clamping: number), options: options)
        return Self.segment(try media.materialize(pieces), type: Self.mp4Type(track.kind))
    }
}
