import ByteIO
@testable import Encryption
@testable import Engine
@testable import ISOBMFF
import Testing

/// Common Encryption `cbcs`: the pattern against OpenSSL's own CBC, the subsample map, the boxes,
/// and HLS fMP4 / DASH output driven by the server manifest.
@Suite struct CBCSTests {
    static let key = "2b7e151628aed2a6abf7158809cf4f3c"
    static let iv = "000102030405060708090a0b0c0d0e0f"

    /// Expected blocks from `openssl enc -aes-128-cbc -nopad -K <key> -iv <iv>` over the blocks the
    /// pattern encrypts, concatenated (CBC chains over them; the skipped blocks stay as they were).
    @Test func thePatternMatchesOpenSSLAndRestartsTheIVAtEverySubsample() throws {
        let key = try ContentKey(kid: nil, bytes: try #require(Hex.bytes(Self.key)))
        let iv = try #require(Hex.bytes(Self.iv))
        let plain = (0..<248).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var bytes = plain
        let runs = [CENC.Subsample(clear: 5, protected: 200), CENC.Subsample(clear: 3, protected: 40)]
        try CBCS.encrypt(&bytes, sample: 0..<248, subsamples: runs, pattern: .video, key: key, iv: iv)
        // First subsample: blocks 0 and 10 of its protected bytes, one CBC chain.
        #expect(Hex.string(Array(bytes[5..<21]) + Array(bytes[165..<181]))
            == "0529178d4ef4f744f38a17eedd85344f722ed6c43f3dbc29c2cc35497675fd62")
        // Second subsample: the IV starts over.
        #expect(Hex.string(Array(bytes[208..<224])) == "7a383ac7a0348e5152988de20bace31c")
        // Everything else is untouched: clear bytes, skipped blocks, the trailing partial block.
        var changed = Array(5..<21) + Array(165..<181) + Array(208..<224)
        changed.sort()
        for i in 0..<248 where !changed.contains(i) { #expect(bytes[i] == plain[i], "byte \(i)") }

        // Whole blocks (audio, pattern 0:0): every full block chained, a trailing partial block clear.
        var audio = Array(0..<37).map { UInt8($0) }
        try CBCS.encrypt(&audio, sample: 0..<37, subsamples: nil, pattern: .whole, key: key, iv: iv)
        #expect(Hex.string(Array(audio[..<32])) == "7df76b0c1ab899b33e42f047b91b546f1caa8018c80b15b8e7aea82794adcb00")
        #expect(Array(audio[32...]) == [32, 33, 34, 35, 36])
    }

    @Test func subsamplesKeepTheFirst32BytesOfPictureNALUnitsClear() throws {
        func nal(_ type: UInt8, _ size: Int) -> [UInt8] {
            let n = UInt32(size)
            return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type]
                + [UInt8](repeating: 7, count: size - 1)
        }
        // SPS (clear), IDR of 100 bytes (4 + 32 clear, 68 protected), a P slice of 40 bytes (fewer
        // than 16 bytes after the lead: clear), SEI.
        let sample = nal(0x67, 10) + nal(0x65, 100) + nal(0x41, 40) + nal(0x06, 5)
        let runs = try #require(CBCS.subsamples(of: sample[...], layout: .avc(lengthSize: 4)))
        #expect(runs == [CENC.Subsample(clear: 14 + 36, protected: 68), CENC.Subsample(clear: 44 + 9, protected: 0)])
        #expect(runs.reduce(0) { $0 + Int($1.clear) + Int($1.protected) } == sample.count)
        // HEVC: a 2-byte header inside the same 32 bytes.
        let hevc = nal(0x26, 60) + [0]
        let h = CBCS.subsamples(of: hevc.dropLast(), layout: .hevc(lengthSize: 4))
        #expect(h == [CENC.Subsample(clear: 36, protected: 28)])
        #expect(CBCS.subsamples(of: (sample + [0, 0, 9])[...], layout: .avc(lengthSize: 4)) == nil)
    }

    /// SPS, PPS and the first IDR and P slices of the test media's 640x360 H.264 (libx264, CABAC);
    /// the sizes are what ffmpeg's trace_headers reports: 40 and 43 bits.
    @Test func sliceHeadersAreMeasuredFromTheSPSAndPPS() throws {
        let sps = try #require(Hex.bytes("6764001eacd940a02ff97011000003000100000300320f162d96"))
        let pps = try #require(Hex.bytes("68efbcb0"))
        let headers = AVCSliceHeaders(sps: [sps], pps: [pps])
        #expect(!headers.isEmpty)
        let idr = try #require(Hex.bytes("6588840057d3d6670b58c90912a2c4132bd4367a9d4b86a7"))
        let p = try #require(Hex.bytes("419a22188affccd478bf0ba8941a197b9fe78fd8f3ea90d0"))
        #expect(headers.headerSize(idr[...]) == 5)
        #expect(headers.headerSize(p[...]) == 6)
        // Not a slice, an unknown PPS, truncated or arbitrary bytes: nil, never a trap.
        #expect(headers.headerSize(pps[...]) == nil)
        #expect(AVCSliceHeaders(sps: [], pps: [pps]).headerSize(idr[...]) == nil)
        for n in 0..<idr.count { #expect((headers.headerSize(idr[..<n]) ?? 0) <= n) }
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2000 {
            var unit: [UInt8] = [0x65]
            for _ in 0..<Int(seed % 40) {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                unit.append(UInt8(truncatingIfNeeded: seed >> 56))
            }
            #expect((headers.headerSize(unit[...]) ?? 0) <= unit.count)
        }
        // Emulation prevention bytes are skipped when reading and counted in the size.
        var r = RBSPBits([0x00, 0x00, 0x03, 0x01][...])
        #expect(r.bits(24) == 1 && r.bytesTouched == 4)
        // With them, cbcs subsamples start protection right after the slice header.
        let sample = [0, 0, 0, UInt8(idr.count)] + idr
        #expect(CBCS.subsamples(of: sample[...], layout: .avc(lengthSize: 4), sliceHeaders: headers)
            == [CENC.Subsample(clear: 9, protected: UInt32(idr.count - 5))])
    }

    @Test func tencVersion1CarriesThePatternAndTheConstantIV() throws {
        let kid = [UInt8](repeating: 0x11, count: 16), iv = [UInt8](repeating: 0x22, count: 16)
        let encryption = TrackEncryption(scheme: "cbcs", kid: kid, ivSize: 0, systems: [], pattern: (1, 9), constantIV: iv)
        var w = ByteWriter()
        encryption.writeTenc(&w)
        let tenc = w.take()
        // size, 'tenc', version 1 + flags, reserved, crypt:skip, protected, IV size 0, KID, 16, IV.
        #expect(Hex.string(tenc) == "00000031" + Hex.string(Array("tenc".utf8)) + "01000000" + "00" + "19" + "01" + "00"
            + Hex.string(kid) + "10" + Hex.string(iv))
        var cenc = ByteWriter()
        TrackEncryption(kid: kid, systems: []).writeTenc(&cenc)
        #expect(Hex.string(cenc.take()) == "00000020" + Hex.string(Array("tenc".utf8)) + "00000000" + "0000" + "0108"
            + Hex.string(kid))
        // Samples with nothing to say (constant IV, no subsamples): saiz lists their sizes of 0.
        var f = ByteWriter()
        FragmentEncryption(ivs: [[], [], []], subsamples: nil).write(&f, moofStart: 0)
        let boxes = f.take()
        #expect(Hex.string(Array(boxes[..<20])) == "00000014" + Hex.string(Array("saiz".utf8)) + "00000000" + "00" + "00000003"
            + "000000")
    }

    @Test func hlsFMP4AndDASHAreEncryptedAsTheServerManifestSays() throws {
        let kid = ProtectionTests.kid, cek = ProtectionTests.cek
        let clear = try ProtectionTests.Site(["hls.fmp4": "true"])
        let site = try ProtectionTests.Site(["hls.key": "\(kid):\(cek)", "hls.license_server_url": "https://k/1",
                                             "hls.fmp4": "true", "widevine.key": "\(kid):\(cek)"])
        let master = ProtectionTests.text(site.get(".m3u8"))
        let ivHex = Hex.string(CBCS.constantIV(for: try ContentKey(parsing: "\(kid):\(cek)", kidRequired: true)), uppercase: true)
        #expect(master.contains("#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"https://k/1\",IV=0x\(ivHex),KEYFORMAT=\"identity\"\n"))
        #expect(master.contains("KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\",KEYFORMATVERSIONS=\"1\""))
        let media = ProtectionTests.text(site.get("x-video=100000.m3u8"))
        #expect(media.contains("#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"https://k/1\",IV=0x\(ivHex),KEYFORMAT=\"identity\"\n"))
        #expect(!master.contains(cek) && !media.contains(cek))
        let initSegment = ProtectionTests.bytes(site.get("x-video=100000.m4s"))
        for box in ["encv", "sinf", "frma", "schm", "cbcs", "tenc", "pssh"] {
            #expect(ProtectionTests.contains(initSegment, box), "\(box)")
        }
        let plain = ProtectionTests.bytes(clear.get("x-video=100000-1.m4s"))
        let secret = site.get("x-video=100000-1.m4s")
        let secretBytes = ProtectionTests.bytes(secret)
        #expect(ProtectionTests.contains(secretBytes, "senc") && secretBytes.suffix(4096) != plain.suffix(4096))
        #expect(secret.etag != clear.get("x-video=100000-1.m4s").etag)
        #expect(site.get("x-video=100000-1.m4s").etag == secret.etag)          // the same bytes every time

        // FairPlay's signalling for the same encryption.
        let fairPlay = try ProtectionTests.Site(["hls.key": "\(kid):\(cek)", "hls.license_server_url": "skd://asset-1",
                                                 "hls.fmp4": "true", "hls.playout": "sample_aes_streamingkeydelivery"])
        #expect(ProtectionTests.text(fairPlay.get("x-video=100000.m3u8")).contains(
            "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://asset-1\",IV=0x\(ivHex),KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"\n"))
        #expect(fairPlay.get("x-video=100000-1.m4s").status == 200)

        let dash = try ProtectionTests.Site(["cenc.key": "\(kid):\(cek)", "mpd.encryption_scheme": "CBCS"])
        #expect(ProtectionTests.text(dash.get(".mpd")).contains("value=\"cbcs\""))
        #expect(ProtectionTests.contains(ProtectionTests.bytes(dash.get("x-video=100000.dash")), "cbcs"))
        let bad = try ProtectionTests.Site(["cenc.key": "\(kid):\(cek)", "mpd.encryption_scheme": "cbc1"])
        let refused = bad.get(".mpd")
        #expect(refused.status == 400)
        #expect(refused.logReason?.contains("server manifest option mpd.encryption_scheme") == true)
        let twoKeys = try ProtectionTests.Site(["hls.key": "\(kid):\(cek)", "hls.license_server_url": "k",
                                                "widevine.key": "\(kid):" + String(cek.reversed())])
        #expect(twoKeys.get(".m3u8").status == 200 && twoKeys.get(".m3u8", "hls.fmp4=true").status == 400)
    }
}
