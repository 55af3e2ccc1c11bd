import ByteIO
import DASH
import Encryption
import HLS
import ISOBMFF
import MediaModel
import PlayerURL

/// Common Encryption `cbcs` of fMP4 segments: HLS fMP4 whenever `hls.key` applies, and DASH when
/// the server manifest says `mpd.encryption_scheme=cbcs`. One key, one constant IV for every
/// sample (`hls.key_iv`, or one derived from the key, so every Apache child writes the same bytes).
struct CBCSEncryption: Sendable {
    let key: ContentKey
    let kid: [UInt8]
    /// The constant IV (16 bytes), in `tenc` and the playlists.
    let iv: [UInt8]
    /// The `pssh` boxes of init segments.
    let systems: [ProtectionSystem]

    /// What the init segment of a `kind` track declares: `tenc` version 1 with no per-sample IV,
    /// the constant IV, and the pattern (1:9 for video, every whole block for the rest).
    func track(_ kind: TrackKind) -> TrackEncryption {
        let pattern = kind == .video ? CBCS.Pattern.video : CBCS.Pattern.whole
        return TrackEncryption(scheme: "cbcs", kid: kid, ivSize: 0, systems: systems,
                               pattern: (pattern.crypt, pattern.skip), constantIV: iv)
    }
}

/// HLS fMP4 with `cbcs`: the encryption, and the playlists' keys: `METHOD=SAMPLE-AES` at
/// `hls.license_server_url` (`KEYFORMAT="identity"`, or FairPlay's with
/// `hls.playout=sample_aes_streamingkeydelivery`), and Widevine's `pssh` as a `data:` URI when
/// `widevine.key` names the same key. Every line states the constant IV: without `IV` a player
/// would take the media sequence number (RFC 8216 §5.2).
struct HLSCBCS: Sendable {
    let encryption: CBCSEncryption
    let playlistKeys: [HLSSegmentKey]

    init(key: ContentKey, uri: String, iv: [UInt8]?, playout: String?, widevine: ContentKey?,
         widevineSystem: ProtectionSystem?) throws(EngineError) {
        let sameKey = widevine.map { $0.bytes == key.bytes } ?? false
        if widevine != nil, !sameKey {
            throw EngineError(httpStatus: 400, logReason: "server manifest options hls.key and widevine.key name different keys: HLS fMP4 (cbcs) encrypts with one")
        }
        if let hlsKID = key.kid, let widevineKID = widevine?.kid, hlsKID != widevineKID {
            throw EngineError(httpStatus: 400, logReason: "server manifest options hls.key and widevine.key give the key different key IDs")
        }
        let kid = key.kid ?? widevine?.kid ?? CBCS.keyID(for: key)
        let iv = iv ?? CBCS.constantIV(for: key)
        let widevineSystem = sameKey ? widevineSystem : nil
        encryption = CBCSEncryption(key: key, kid: kid, iv: iv,
                                    systems: Protection.systems(kid: kid, widevine: widevineSystem))
        let fairPlay = playout == "sample_aes_streamingkeydelivery"
        var keys = [HLSSegmentKey(method: .sampleAES, uri: uri, iv: iv,
                                  keyFormat: fairPlay ? "com.apple.streamingkeydelivery" : "identity",
                                  keyFormatVersions: fairPlay ? "1" : nil)]
        if let widevineSystem {
            keys.append(.widevine(method: .sampleAES, pssh: widevineSystem.box, iv: iv))
        }
        playlistKeys = keys
    }

    /// The ETag part of this setting (the key's own fingerprint is already in it).
    var fingerprint: String {
        Hex.string(encryption.kid + encryption.iv) + Hex.string(encryption.systems.flatMap(\.box))
            + playlistKeys.map { $0.keyFormat ?? "" }.joined()
    }
}

extension Protection {
    /// `mpd.encryption_scheme`: `cenc` (the default) or `cbcs`.
    static func dashScheme(_ text: String?) throws(EngineError) -> String {
        switch text?.lowercased() {
        case nil, "", "cenc": return "cenc"
        case "cbcs": return "cbcs"
        case let value?:
            throw EngineError(httpStatus: 400, logReason: "server manifest option mpd.encryption_scheme must be cenc or cbcs, got \(Sanitized.text(value, limit: 40))")
        }
    }
}

extension AnswerContext {
    /// The `cbcs` encryption of an HLS fMP4 `track` (audio and video; text stays clear).
    func hlsCBCS(for track: PresentationTrack) -> CBCSEncryption? {
        guard track.kind != .text, track.track.inlineData == nil else { return nil }
        return protection.hlsCBCS(for: [track])?.encryption
    }

    /// An HLS fMP4 init segment: the encrypted form of the track's under `cbcs`.
    func hlsInitSegment(_ token: String) throws -> EngineResponse {
        let track = try track(token)
        if let source = track.track.protection { return passThroughInit(track, source) }
        guard let cbcs = hlsCBCS(for: track) else { return try initSegment(token) }
        return try encryptedInitSegment(track, cbcs.track(track.kind))
    }

    /// An init segment whose sample entry is marked as encrypted by `encryption`.
    func encryptedInitSegment(_ track: PresentationTrack, _ encryption: TrackEncryption) throws -> EngineResponse {
        guard let bytes = FragmentWriter.initSegment(for: track.track, encryption: encryption) else {
            throw EngineError.notImplemented("the sample entry of \(track.token) cannot be marked as encrypted")
        }
        return Self.segment([.bytes(bytes)], type: Self.mp4Type(track.kind))
    }

    /// HLS fMP4 media segment `index` of `track`, `cbcs` when it applies.
    func hlsFragment(_ track: PresentationTrack, samples range: Range<Int>, number: Int) throws -> EngineResponse {
        try fmp4Segment(track, samples: range, number: number, hlsProtection(track))
    }

    /// How HLS fMP4 segments of `track` go out: as their source encrypted them, `cbcs`, or clear.
    func hlsProtection(_ track: PresentationTrack) -> SampleProtection {
        if let source = track.track.protection { return .source(source) }
        return hlsCBCS(for: track).map { .cbcs($0) } ?? .clear
    }

    /// Samples `range` of `track` as one `cbcs` fMP4 segment: video NAL units pattern-encrypted
    /// behind their clear NAL and slice headers, other samples' whole blocks encrypted; `senc` lists the
    /// subsamples and no IVs (the constant IV is in `tenc`).
    func cbcsFragment(_ track: PresentationTrack, samples range: Range<Int>, number: Int,
                      _ cbcs: CBCSEncryption, options: FragmentWriter.Options) throws -> [BodyPiece] {
        let pattern = track.kind == .video ? CBCS.Pattern.video : CBCS.Pattern.whole
        var sliceHeaders: AVCSliceHeaders? = nil
        if case .avc(let c) = track.track.codec { sliceHeaders = AVCSliceHeaders(sps: c.sps, pps: c.pps) }
        return try encryptedFragment(track, samples: range, number: number, options: options, subsamples: { sample, layout in
            CBCS.subsamples(of: sample, layout: layout, sliceHeaders: sliceHeaders)
        }) {
            data, sample, _, runs throws(EncryptionError) in
            try CBCS.encrypt(&data, sample: sample, subsamples: runs, pattern: pattern, key: cbcs.key, iv: cbcs.iv)
            return []
        }
    }

    /// Samples `range` of `track` as one fMP4 segment with sample encryption (written as `options`
    /// say: `senc`, or PIFF's box), header and sample bytes: each sample's bytes
    /// are encrypted in place by `encrypt` (the segment's bytes, the sample's range in them, its
    /// index in the track, its subsamples), which returns the IV `senc` lists for it (none for a
    /// constant IV). Video samples are split by `subsamples` (a malformed one is one protected run);
    /// other samples are encrypted whole.
    func encryptedFragment(
        _ track: PresentationTrack, samples range: Range<Int>, number: Int, options: FragmentWriter.Options,
        subsamples: (ArraySlice<UInt8>, CENC.NALLayout) -> [CENC.Subsample]?,
        encrypt: (inout [UInt8], Range<Int>, Int, [CENC.Subsample]?) throws(EncryptionError) -> [UInt8]
    ) throws -> [BodyPiece] {
        var data = try sampleBytes(track.track, range)
        let layout: CENC.NALLayout? = switch track.track.codec {
        case .avc(let c): .avc(lengthSize: c.nalLengthSize)
        case .hevc(let c): .hevc(lengthSize: c.nalLengthSize)
        default: nil
        }
        var ivs: [[UInt8]] = []
        var sampleRuns: [[(clear: UInt16, protected: UInt32)]] = []
        ivs.reserveCapacity(range.count)
        var at = 0
        for i in range {
            let size = Int(track.track.samples.sizes[i])
            guard size <= data.count - at else {
                throw EngineError(httpStatus: 500, logReason: "samples of \(track.token) shorter than their sizes")
            }
            let sample = at..<(at + size)
            let runs = layout.map {
                CENC.limited(subsamples(data[sample], $0) ?? [CENC.Subsample(clear: 0, protected: UInt32(clamping: size))])
            }
            do {
                ivs.append(try encrypt(&data, sample, i, runs))
            } catch {
                throw EngineError(httpStatus: 500, logReason: "encrypting a segment of \(track.token) failed: \(error)")
            }
            sampleRuns.append((runs ?? []).map { ($0.clear, $0.protected) })
            at += size
        }
        var options = options
        options.encryption = FragmentEncryption(ivs: ivs, subsamples: layout == nil ? nil : sampleRuns)
        let pieces = try FragmentWriter.mediaSegment(track: track.track, samples: range,
                                                     sequenceNumber: UInt32(clamping: number), options: options)
        guard case .bytes(let header)? = pieces.first else {
            throw EngineError(httpStatus: 500, logReason: "no fragment header for \(track.token)")
        }
        return [.bytes(header), .bytes(data)]
    }
}
