import ByteIO
import Encryption
import HLS
import MediaModel
@testable import Engine
import ISOBMFF
import Testing

/// Sources that arrive encrypted: read with their protection, passed through in DASH untouched,
/// refused where they cannot be carried.
@Suite struct PreEncryptedTests {
    /// Our own DASH CENC output of one track, init and every segment in one file: a fragmented,
    /// encrypted MP4 like a packager writes.
    static func encryptedFile(_ site: ProtectionTests.Site, token: String, to path: String) throws -> [[UInt8]] {
        var parts = [ProtectionTests.bytes(site.get("x-\(token).dash"))]
        var n = 1
        while true {
            let segment = site.get("x-\(token)-n\(n).dash")
            guard segment.status == 200 else { break }
            parts.append(ProtectionTests.bytes(segment))
            n += 1
        }
        #expect(n > 2)
        try IndexMP4EngineTests.write(Array(parts.joined()), to: path)
        return parts
    }

    @Test func encryptedSourcesPassThroughDASHByteForByte() throws {
        let origin = try ProtectionTests.Site(["cenc.key": "\(ProtectionTests.kid):\(ProtectionTests.cek)", "hls.playout": "clear"])
        let dir = SubtitlesTests.temporaryDirectory()
        let video = try Self.encryptedFile(origin, token: "video=100000", to: dir + "/v.mp4")
        let audio = try Self.encryptedFile(origin, token: "audio_fra=64000", to: dir + "/a.mp4")
        SubtitlesTests.write(dir + "/x.ism", """
            <smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head/><body><switch>
            <video src="v.mp4" systemBitrate="100000"/><audio src="a.mp4" systemBitrate="64000" systemLanguage="fra"/>
            </switch></body></smil>
            """)
        let engine = Engine()
        func get(_ path: String) -> EngineResponse {
            engine.handle(EngineRequest(method: "GET", manifestPath: dir + "/x.ism", virtualPath: path, query: nil))
        }
        // Every media segment is the one it was made from: same samples, IVs and subsamples.
        for (token, parts) in [("video=100000", video), ("audio_fra=64000", audio)] {
            for n in 1..<parts.count {
                #expect(ProtectionTests.bytes(get("x-\(token)-n\(n).dash")) == parts[n], "\(token) \(n)")
            }
            let initSegment = ProtectionTests.bytes(get("x-\(token).dash"))
            #expect(ProtectionTests.contains(initSegment, "encv") == token.hasPrefix("video"))
            #expect(ProtectionTests.contains(initSegment, "tenc") && ProtectionTests.contains(initSegment, "pssh"))
        }
        let mpd = ProtectionTests.text(get(".mpd"))
        #expect(mpd.contains("value=\"cenc\" cenc:default_KID=\"01234567-89ab-cdef-0123-456789abcdef\""))
        #expect(mpd.contains("urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"))
        #expect(mpd.contains("codecs=\"avc1."))
        // No other format can carry the samples without decrypting them.
        for path in [".m3u8", "Manifest", ".f4m", "x-video=100000-1.ts"] {
            #expect(get(path).status == 403, "\(path)")
        }
    }

    /// Files Shaka Packager encrypted (Fixtures/encrypted: cenc and cbcs, Widevine, PlayReady and
    /// common pssh boxes) read with their protection.
    @Test func packagedFilesAreReadWithTheirProtection() throws {
        for scheme in ["cenc", "cbcs"] {
            for kind in ["video", "audio"] {
                let index = try Fixtures.index("encrypted/\(kind)-\(scheme).mp4")
                let track = try #require(index.tracks.first)
                let protection = try #require(track.protection, "\(kind) \(scheme)")
                #expect(protection.scheme == scheme)
                #expect(Hex.string(protection.kid) == ProtectionTests.kid)
                #expect(track.sampleEntryType == (kind == "video" ? "avc1" : "mp4a"))
                #expect(track.codecsString.hasPrefix(kind == "video" ? "avc1." : "mp4a.40"))
                #expect(protection.psshBoxes.count == 3)
                #expect(protection.samples.count == track.samples.count && track.samples.count > 0)
                #expect(protection.samples.hasSubsamples == (kind == "video"))
                if scheme == "cbcs" {
                    #expect(protection.ivSize == 0 && protection.constantIV.count == 16)
                    #expect(kind == "audio" || (protection.cryptByteBlock == 1 && protection.skipByteBlock == 9))
                } else {
                    #expect(protection.ivSize == 8 || protection.ivSize == 16)
                }
                // The runs of every video sample cover it exactly.
                for i in 0..<track.samples.count where protection.samples.hasSubsamples {
                    let runs = protection.samples.parsed(i, ivSize: Int(protection.ivSize)).runs
                    #expect(runs.reduce(0) { $0 + Int($1.clear) + Int($1.protected) } == Int(track.samples.sizes[i]))
                }
            }
        }
    }

    /// HLS with fMP4 segments passes them through too, naming the keys by the DRM systems of the
    /// source's `pssh` boxes (or a key URI the server manifest gives), never TS.
    @Test func hlsFMP4PassesThroughAndNamesTheSourcesSystems() throws {
        for (scheme, method) in [("cenc", "SAMPLE-AES-CTR"), ("cbcs", "SAMPLE-AES")] {
            let dir = SubtitlesTests.temporaryDirectory()
            SubtitlesTests.write(dir + "/x.ism", """
                <smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head><meta name="hls.fmp4" content="true"/></head><body><switch>
                <video src="\(Fixtures.path("encrypted/video-\(scheme).mp4"))" systemBitrate="100000"/>
                <audio src="\(Fixtures.path("encrypted/audio-\(scheme).mp4"))" systemBitrate="64000"/>
                </switch></body></smil>
                """)
            let engine = Engine()
            func get(_ path: String) -> EngineResponse {
                engine.handle(EngineRequest(method: "GET", manifestPath: dir + "/x.ism", virtualPath: path, query: nil))
            }
            let master = ProtectionTests.text(get(".m3u8"))
            #expect(master.contains("#EXT-X-SESSION-KEY:METHOD=\(method),URI=\"data:text/plain;base64,"), "\(master)")
            let video = ProtectionTests.text(get("x-video=100000.m3u8"))
            #expect(video.contains("#EXT-X-KEY:METHOD=\(method),URI=\"data:text/plain;base64,"))
            #expect(video.contains("KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\",KEYFORMATVERSIONS=\"1\""))
            #expect(video.contains("KEYFORMAT=\"com.microsoft.playready\""))
            #expect(video.contains(",IV=0x") == (scheme == "cbcs"))     // cbcs's constant IV; cenc's are per sample
            // The same init segment and segments as DASH gives.
            #expect(ProtectionTests.bytes(get("x-video=100000.m4s")) == ProtectionTests.bytes(get("x-video=100000.dash")))
            let fragment = ProtectionTests.bytes(get("x-video=100000-1.m4s"))
            #expect(ProtectionTests.contains(fragment, "senc") && fragment.count > 1000)
            #expect(get("keyframes/x-video=100000.m3u8").status == 200)
            // Smooth carries cenc (PIFF) with the source's PlayReady header, not cbcs.
            let manifest = get("Manifest")
            #expect(manifest.status == (scheme == "cenc" ? 200 : 403))
            if scheme == "cenc" {
                #expect(ProtectionTests.text(manifest).contains("<ProtectionHeader SystemID=\"9A04F079-9840-4286-AB92-E65BE0885F95\">"))
            }
        }
    }

    @Test func sampleEncryptionThatDoesNotMatchTheSamplesIsRefused() throws {
        let origin = try ProtectionTests.Site(["cenc.key": "\(ProtectionTests.kid):\(ProtectionTests.cek)", "hls.playout": "clear"])
        let dir = SubtitlesTests.temporaryDirectory()
        var parts = try Self.encryptedFile(origin, token: "video=100000", to: dir + "/v.mp4")
        // One subsample run grows by a byte: the runs no longer cover the sample.
        let senc = Array("senc".utf8)
        guard let at = (0..<(parts[1].count - 4)).first(where: { Array(parts[1][$0..<($0 + 4)]) == senc }) else {
            Issue.record("no senc"); return
        }
        let run = at + 4 + 4 + 4 + 8 + 2 + 1    // type, flags, count, IV, run count, into the clear bytes
        parts[1][run] &+= 1
        try IndexMP4EngineTests.write(Array(parts.joined()), to: dir + "/v.mp4")
        let response = Engine().handle(EngineRequest(method: "GET", manifestPath: dir + "/v.mp4", virtualPath: ".mpd", query: nil))
        #expect(response.status >= 400 && response.status < 600)
        #expect(response.logReason?.contains("subsamples cover") == true, "\(response.logReason ?? "")")
    }
}

/// What a review of the encryption found, kept fixed.
@Suite struct EncryptionReviewTests {
    /// The first IV in a segment's `senc`.
    static func firstIV(_ segment: [UInt8]) -> [UInt8] {
        let senc = Array("senc".utf8)
        guard let at = (0..<(segment.count - 4)).first(where: { Array(segment[$0..<($0 + 4)]) == senc }),
              at + 20 <= segment.count else { return [] }
        return Array(segment[(at + 12)..<(at + 20)])
    }

    @Test func aSubclipNeverReusesTheWholeViewsIVs() throws {
        let site = try ProtectionTests.Site(["cenc.key": "\(ProtectionTests.kid):\(ProtectionTests.cek)", "hls.playout": "clear"])
        let whole = Self.firstIV(ProtectionTests.bytes(site.get("x-audio_fra=64000-n1.dash")))
        let clipped = Self.firstIV(ProtectionTests.bytes(site.get("x-audio_fra=64000-n1.dash", "vbegin=1")))
        #expect(whole.count == 8 && clipped.count == 8 && whole != clipped)
    }

    @Test func subsampleMapsFitWhatSaizCanSay() {
        let runs = (0..<50).map { CENC.Subsample(clear: UInt16(5 + $0 % 3), protected: UInt32(100 + $0)) }
        let limited = CENC.limited(runs)
        #expect(limited.count == CENC.maxSubsamples && 16 + 2 + 6 * limited.count <= 255)
        #expect(limited.reduce(0) { $0 + Int($1.clear) + Int($1.protected) } == runs.reduce(0) { $0 + Int($1.clear) + Int($1.protected) })
        #expect(Array(limited.prefix(CENC.maxSubsamples - 1)) == Array(runs.prefix(CENC.maxSubsamples - 1)))
        #expect(CENC.limited(Array(runs.prefix(3))) == Array(runs.prefix(3)))
    }

    @Test func playReadyIsNotAnnouncedForCBCS() throws {
        let site = try ProtectionTests.Site(["playready.key": "\(ProtectionTests.kid):\(ProtectionTests.cek)",
                                             "mpd.encryption_scheme": "cbcs"])
        #expect(site.get(".mpd").status == 400)
    }

    @Test func sourceIVsReachHLSPlaylistsAsPlayersReadThem() {
        let pssh = ProtectionSystem(systemID: ProtectionSystem.widevineID, kids: [], data: [1, 2]).box
        var constant = SourceProtection(scheme: "cbcs", originalFormat: "avc1", kid: [UInt8](repeating: 7, count: 16), ivSize: 0,
                                        constantIV: [1, 2, 3, 4, 5, 6, 7, 8], psshBoxes: [pssh])
        let keys = PreEncrypted.hlsKeys(constant, identityURI: nil)
        #expect(keys.count == 1 && keys[0].iv == [1, 2, 3, 4, 5, 6, 7, 8] + [UInt8](repeating: 0, count: 8) && !keys[0].samplesCarryIVs)
        constant.ivSize = 16
        constant.constantIV = []
        let perSample = PreEncrypted.hlsKeys(constant, identityURI: "https://k.example/k")
        #expect(perSample.count == 2 && perSample.allSatisfy { $0.iv == nil && $0.samplesCarryIVs })
    }
}
