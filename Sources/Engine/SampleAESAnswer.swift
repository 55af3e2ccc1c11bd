import Encryption
import HLS
import MPEGTS
import MediaModel

/// HLS SAMPLE-AES of TS segments (`hls.playout=sample_aes` or `sample_aes_streamingkeydelivery`
/// with `hls.key`, or keys from a CPIX document): the TS writer signals it and passes every sample
/// through ``SampleAES``.
extension SampleAES: TSSampleEncrypter {}

extension Protection {
    /// How HLS playlists name a key: `SAMPLE-AES` when `playout` (`hls.playout`) asks for it, else
    /// `AES-128`. `sample_aes_streamingkeydelivery` is the same encryption signalled for FairPlay
    /// Streaming (`KEYFORMAT="com.apple.streamingkeydelivery"`), whose players ask the key server
    /// an `skd://` URI names: `uri` must be one.
    static func hlsPlaylistKey(playout: String?, uri: String, iv: [UInt8]?) throws(EngineError) -> HLSSegmentKey {
        switch playout {
        case "sample_aes":
            return HLSSegmentKey(method: .sampleAES, uri: uri, iv: iv)
        case "sample_aes_streamingkeydelivery":
            guard uri.lowercased().hasPrefix("skd://") else {
                throw EngineError(httpStatus: 400, logReason: "server manifest option hls.license_server_url must be an skd:// URI with hls.playout=sample_aes_streamingkeydelivery")
            }
            let format = HLSSegmentKey.streamingKeyDelivery
            return HLSSegmentKey(method: .sampleAES, uri: uri, iv: iv, keyFormat: format.keyFormat, keyFormatVersions: format.versions)
        default:
            return HLSSegmentKey(method: .aes128, uri: uri, iv: iv)
        }
    }
}

extension AnswerContext {
    /// The encrypter of TS segment `number` of `tracks` (the segment's media sequence number, in
    /// media and I-frame playlists alike) under SAMPLE-AES, else nil.
    func sampleAES(for tracks: [PresentationTrack], segment number: Int) throws -> SampleAES? {
        guard let setting = protection.hlsAES128(for: tracks), setting.playlistKey.method == .sampleAES else { return nil }
        do {
            return try SampleAES(key: setting.key, iv: setting.playlistKey.iv(segment: number))
        } catch {
            throw EngineError(httpStatus: 500, logReason: "setting up SAMPLE-AES failed: \(error)")
        }
    }

    /// Under SAMPLE-AES, refuses (501) a playlist of a track whose codec has no SAMPLE-AES form in
    /// MPEG-TS (only H.264, AAC, AC-3 and E-AC-3 have one), rather than list segments that would be
    /// refused or sent in the clear. Text tracks stay clear (WebVTT).
    func checkSampleAES(_ tracks: [PresentationTrack]) throws {
        guard protection.hlsAES128(for: tracks)?.playlistKey.method == .sampleAES else { return }
        for track in tracks where track.kind != .text && !TransportStreamWriter.canEncryptSamples(of: track.track.codec) {
            throw EngineError.notImplemented("HLS SAMPLE-AES of \(track.token) (\(track.track.sampleEntryType)) in MPEG-TS: only H.264, AAC, AC-3 and E-AC-3 can be sample-encrypted; refused rather than served in the clear")
        }
    }
}
