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
        // A constant IV of 8 bytes is the first half of a 16-byte one (ISO/IEC 23001-7 §9.1).
        let constant = protection.constantIV
        let iv = constant.isEmpty ? nil : constant + [UInt8](repeating: 0, count: max(16 - constant.count, 0))
        let perSample = protection.ivSize > 0
        var keys: [HLSSegmentKey] = []
        if let identityURI, !identityURI.isEmpty {
            keys.append(HLSSegmentKey(method: method, uri: identityURI, iv: iv, keyFormat: "identity", samplesCarryIVs: perSample))
        }
        for system in systems(protection) {
            switch system.systemID {
            case ProtectionSystem.widevineID:
                keys.append(.widevine(method: method, pssh: system.box, iv: iv, samplesCarryIVs: perSample))
            case PlayReadyHeader.systemID:
                keys.append(.playReady(method: method, object: system.data, iv: iv, samplesCarryIVs: perSample))
            default:
                continue
            }
        }
        return keys
    }

    /// The Smooth client manifest's PlayReady header for `protection`: its source's PlayReady
    /// object, when the source has one and is encrypted as Smooth clients read PIFF (`cenc` with
    /// 8-byte IVs: they build `tenc` themselves with that size).
    static func smoothHeader(_ protection: SourceProtection) -> SmoothProtectionHeader? {
        guard protection.scheme == "cenc", protection.ivSize == 8,
              let playReady = systems(protection).first(where: { $0.systemID == PlayReadyHeader.systemID }) else { return nil }
        return Protection.smoothHeader(playReadyObject: playReady.data)
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

    /// Samples `range` of a pre-encrypted track as one media segment, as the source has them (sent
    /// from the file), with their IVs and subsamples written as `options` say (`senc`, or PIFF's box).
    func passThroughFragment(_ track: PresentationTrack, _ protection: SourceProtection, samples range: Range<Int>,
                             number: Int, options: FragmentWriter.Options) throws -> [BodyPiece] {
        let ivSize = Int(protection.ivSize)
        var ivs: [[UInt8]] = []
        var subsamples: [[(clear: UInt16, protected: UInt32)]] = []
        for i in range {
            guard protection.samples.entry(i).count <= 255 else {
                throw EngineError.notImplemented("sample \(i + 1) of \(track.token) has more encryption information than saiz can state (over 255 bytes)")
            }
            let (iv, runs) = protection.samples.parsed(i, ivSize: ivSize)
            ivs.append(iv)
            subsamples.append(runs)
        }
        var options = options
        options.encryption = FragmentEncryption(ivs: ivs, subsamples: protection.samples.hasSubsamples ? subsamples : nil)
        let pieces = try FragmentWriter.mediaSegment(track: track.track, samples: range,
                                                     sequenceNumber: UInt32(clamping: number), options: options)
        return try media.materialize(pieces)
    }
}
