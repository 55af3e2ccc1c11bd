import ByteIO
import Encryption
@testable import HLS
@testable import Engine
import Storage
import Testing

/// Keys in the server manifest: parsing and refusing bad ones, the DRM rule, HLS AES-128 output.
@Suite struct ProtectionTests {
    static let cek = "8275ef8e3b2a4b1c9d0e1f2a3b4c5d6e"
    static let kid = "0123456789abcdef0123456789abcdef"

    @Test func aesCBCMatchesTheNISTVectorAndPadsAsPKCS7() throws {
        // NIST SP 800-38A, F.2.1 (CBC-AES128.Encrypt), first block.
        let key = try ContentKey(kid: nil, bytes: try #require(Hex.bytes("2b7e151628aed2a6abf7158809cf4f3c")))
        let iv = try #require(Hex.bytes("000102030405060708090a0b0c0d0e0f"))
        let plain = try #require(Hex.bytes("6bc1bee22e409f96e93d7e117393172a"))
        var out: [UInt8] = [0xAA]
        try AES128.cbcWithPadding([Array(plain[..<5]), Array(plain[5...])], key: key, iv: iv, into: &out)
        #expect(out.count == 1 + 32)                     // a whole block of padding follows a full block
        #expect(Hex.string(Array(out[1..<17])) == "7649abac8119b246cee98e9b12e9197d")
        #expect(out[0] == 0xAA)                           // appended, not overwritten
        #expect(HLSSegmentKey(method: .aes128, uri: "k").iv(segment: 258) == [UInt8](repeating: 0, count: 14) + [1, 2])
        #expect(HLSSegmentKey(method: .aes128, uri: "k", iv: iv).iv(segment: 258) == iv)
    }

    @Test func keysAreParsedStrictlyAndNeverShown() throws {
        let key = try ContentKey(parsing: "\(Self.kid):\(Self.cek)", kidRequired: true)
        #expect(key.kid.map { Hex.string($0) } == Self.kid && Hex.string(key.bytes) == Self.cek)
        #expect(try ContentKey(parsing: ":\(Self.cek)", kidRequired: false).kid == nil)
        #expect(try ContentKey(parsing: "01234567-89ab-cdef-0123-456789abcdef:\(Self.cek)", kidRequired: true).kid != nil)
        #expect(!key.description.contains(Self.cek))
        #expect(key.fingerprint.count == 16 && !Self.cek.contains(key.fingerprint))
        let bad = [":" + String(repeating: "0", count: 32), ":" + Self.cek.dropLast(2), ":zz" + Self.cek.dropFirst(2),
                   String(repeating: "0", count: 32) + ":" + Self.cek, "a:b:c", ":"]
        for text in bad {
            #expect(throws: ContentKey.Invalid.self) { try ContentKey(parsing: text, kidRequired: false) }
        }
        #expect(throws: ContentKey.Invalid.self) { try ContentKey(parsing: ":\(Self.cek)", kidRequired: true) }
    }

    /// A presentation with `meta` options in its server manifest, over the fixture.
    struct Site {
        let dir = SubtitlesTests.temporaryDirectory()
        let engine = Engine()

        init(_ meta: [String: String]) throws {
            try FileCheckTests.copy(Fixtures.path("progressive.mp4"), to: dir + "/v.mp4")
            let head = meta.map { "<meta name=\"\($0.key)\" content=\"\($0.value)\"/>" }.joined()
            SubtitlesTests.write(dir + "/x.ism", """
                <smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head>\(head)</head><body><switch>
                <video src="v.mp4" systemBitrate="100000"/>
                <audio src="v.mp4" systemBitrate="64000"/>
                </switch></body></smil>
                """)
        }

        func get(_ path: String, _ query: String? = nil) -> EngineResponse {
            engine.handle(EngineRequest(method: "GET", manifestPath: dir + "/x.ism", virtualPath: path, query: query))
        }
    }

    static func text(_ r: EngineResponse) -> String {
        r.body.reduce(into: "") { out, piece in if case .bytes(let b) = piece { out += String(decoding: b, as: UTF8.self) } }
    }

    @Test func hlsAES128EncryptsTSSegmentsAndNamesTheKeyInEveryPlaylist() throws {
        let clear = try Site([:])
        let site = try Site(["hls.key": ":\(Self.cek)", "hls.license_server_url": "https://keys.example/k?id=7"])
        let master = Self.text(site.get(".m3u8"))
        let variant = try #require(master.split(separator: "\n").first { !$0.hasPrefix("#") })
        let media = Self.text(site.get(String(variant)))
        #expect(media.contains("#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/k?id=7\"\n"))
        #expect(!media.contains(Self.cek) && !master.contains(Self.cek))
        let segment = try #require(media.split(separator: "\n").first { !$0.hasPrefix("#") })
        let plain = clear.get(String(segment)), secret = site.get(String(segment))
        #expect(plain.status == 200 && secret.status == 200)
        let plainBytes = plain.body.flatMap { piece -> [UInt8] in if case .bytes(let b) = piece { b } else { [] } }
        let secretBytes = secret.body.flatMap { piece -> [UInt8] in if case .bytes(let b) = piece { b } else { [] } }
        var expected: [UInt8] = []
        try AES128.cbcWithPadding([plainBytes], key: try ContentKey(kid: nil, bytes: try #require(Hex.bytes(Self.cek))),
                                  iv: HLSSegmentKey(method: .aes128, uri: "k").iv(segment: 1), into: &expected)
        #expect(segment.hasSuffix("-1.ts") && secretBytes == expected)
        #expect(plain.etag != secret.etag)
        // I-frame playlists name the key too.
        let iframes = try #require(master.split(separator: "\n").first { $0.hasPrefix("#EXT-X-I-FRAME-STREAM-INF") })
        let uri = try #require(iframes.split(separator: "URI=\"").last?.split(separator: "\"").first)
        #expect(Self.text(site.get(String(uri))).contains("#EXT-X-KEY:METHOD=AES-128"))
    }

    @Test func theDRMRuleRefusesUnprotectedFormatsAndNoQueryTurnsItOff() throws {
        let site = try Site(["hls.key": ":\(Self.cek)", "hls.license_server_url": "k.key", "hds.playout": "clear"])
        #expect(site.get(".mpd").status == 403)
        #expect(site.get("Manifest").status == 403)
        #expect(site.get(".f4m").status == 200)                   // hds.playout=clear
        #expect(site.get(".m3u8", "hls.playout=clear").status == 200)
        #expect(Self.text(site.get(".m3u8", "hls.playout=clear")).isEmpty == false)
        let media = site.get("x-video=100000.m3u8", "hls.playout=clear&mpd.playout=clear")
        #expect(Self.text(media).contains("#EXT-X-KEY"))          // the query changes nothing
        #expect(site.get(".mpd", "mpd.playout=clear").status == 403)
        // fMP4 HLS is protected with cbcs.
        #expect(site.get("x-video=100000.m4s").status == 200)
        #expect(site.get("x-video=100000-1.m4s").status == 200)
        #expect(site.get(".m3u8", "hls.fmp4=true").status == 200)

        let cleared = try Site(["widevine.key": "\(Self.kid):\(Self.cek)", "hls.playout": "clear"])
        #expect(cleared.get(".m3u8").status == 200)
        #expect(cleared.get(".mpd").status == 200)                // DASH CENC
        #expect(cleared.get("Manifest").status == 403)
        let off = try Site(["mpd.playout": "false"])
        #expect(off.get(".mpd").status == 403 && off.get(".m3u8").status == 200)
    }

    @Test func badKeyOptionsAreRefusedNamingTheOptionNotTheValue() throws {
        let cases: [[String: String]] = [
            ["hls.key": ":" + String(repeating: "0", count: 32), "hls.license_server_url": "k"],
            ["hls.key": ":abcd", "hls.license_server_url": "k"],
            ["hls.key": ":\(Self.cek)"],                                               // no key URI
            ["hls.key": ":\(Self.cek)", "hls.license_server_url": "k", "hls.key_iv": "0102"],
            ["iss.key": Self.cek],                                                    // KID missing
            ["widevine.key": String(repeating: "0", count: 32) + ":" + Self.cek],
            ["hls.playout": "maybe"],
        ]
        for meta in cases {
            let site = try Site(meta)
            for path in [".m3u8", ".mpd", "Manifest"] {
                let r = site.get(path)
                #expect(r.status == 400, "\(meta) \(path)")
                let reason = r.logReason ?? ""
                #expect(reason.contains("server manifest option"), "\(reason)")
                #expect(!reason.contains(Self.cek) && !reason.contains("abcd"), "\(reason)")
            }
        }
    }

    @Test func aesCTRMatchesTheNISTVectorAcrossRanges() throws {
        // NIST SP 800-38A, F.5.1 (CTR-AES128.Encrypt), first block.
        let key = try ContentKey(kid: nil, bytes: try #require(Hex.bytes("2b7e151628aed2a6abf7158809cf4f3c")))
        let counter = try #require(Hex.bytes("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"))
        var bytes = [0xEE, 0xEE] + (try #require(Hex.bytes("6bc1bee22e409f96e93d7e117393172a")))
        try AES128.ctr(&bytes, ranges: [2..<9, 9..<18], key: key, iv: counter)
        #expect(Array(bytes[..<2]) == [0xEE, 0xEE])
        #expect(Hex.string(Array(bytes[2...])) == "874d6191b620e3261bef6864990db6ce")
    }

    @Test func videoSamplesKeepNALHeadersAndParameterSetsClear() throws {
        func nal(_ type: UInt8, _ size: Int) -> [UInt8] {
            let n = UInt32(size)
            return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type] + [UInt8](repeating: 7, count: size - 1)
        }
        let sample = nal(0x67, 10) + nal(0x65, 100) + nal(0x41, 20) + nal(0x06, 5)
        let runs = try #require(CENC.subsamples(of: sample[...], layout: .avc(lengthSize: 4)))
        #expect(runs == [CENC.Subsample(clear: 22, protected: 96), CENC.Subsample(clear: 8, protected: 16),
                         CENC.Subsample(clear: 9, protected: 0)])
        #expect(runs.reduce(0) { $0 + Int($1.clear) + Int($1.protected) } == sample.count)
        // Not a sequence of NAL units: encrypted whole by the caller.
        #expect(CENC.subsamples(of: (sample + [0, 0, 9])[...], layout: .avc(lengthSize: 4)) == nil)
        #expect(CENC.subsamples(of: [0, 0, 0, 0][...], layout: .avc(lengthSize: 4)) == nil)
        // A clear run longer than 16 bits is split.
        let big = CENC.subsamples(of: nal(0x06, 70_000)[...], layout: .avc(lengthSize: 4))
        #expect(big == [CENC.Subsample(clear: 65535, protected: 0), CENC.Subsample(clear: 4469, protected: 0)])
        #expect(CENC.iv(salt: 1, index: 2) == [0, 0, 0, 1, 0, 0, 0, 2])
    }

    @Test func dashCENCDeclaresTheKeyAndEncryptsSegments() throws {
        let clear = try Site([:])
        let site = try Site(["cenc.key": "\(Self.kid):\(Self.cek)", "hls.playout": "clear"])
        let mpd = Self.text(site.get(".mpd"))
        #expect(mpd.contains("xmlns:cenc=\"urn:mpeg:cenc:2013\""))
        #expect(mpd.contains("cenc:default_KID=\"01234567-89ab-cdef-0123-456789abcdef\""))
        #expect(mpd.contains("urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"))
        #expect(!mpd.contains(Self.cek))
        let initSegment = Self.bytes(site.get("x-video=100000.dash"))
        for box in ["encv", "sinf", "frma", "schm", "tenc", "pssh"] {
            #expect(Self.contains(initSegment, box), "\(box)")
        }
        let plain = Self.bytes(clear.get("x-video=100000-n1.dash")), secret = Self.bytes(site.get("x-video=100000-n1.dash"))
        #expect(Self.contains(secret, "senc") && Self.contains(secret, "saiz") && Self.contains(secret, "saio"))
        #expect(secret.count > plain.count && secret.suffix(64) != plain.suffix(64))
        #expect(site.get(".m3u8").status == 200)                  // hls.playout=clear
        #expect(site.get("Manifest").status == 403)
        let both = try Site(["cenc.key": "\(Self.kid):\(Self.cek)", "widevine.key": "\(Self.kid):" + String(Self.cek.reversed())])
        #expect(both.get(".mpd").status == 400)
        // Widevine's license server in the MPD (dashif:Laurl); a relative one is refused.
        let widevine = try Site(["widevine.key": "\(Self.kid):\(Self.cek)", "widevine.license_server_url": "https://wv.example/license?a=1"])
        let widevineMPD = Self.text(widevine.get(".mpd"))
        #expect(widevineMPD.contains("<dashif:Laurl>https://wv.example/license?a=1</dashif:Laurl>"))
        #expect(widevineMPD.contains("xmlns:dashif=\"https://dashif.org/CPS\""))
        #expect(try Site(["widevine.key": "\(Self.kid):\(Self.cek)", "widevine.license_server_url": "/license"]).get(".mpd").status == 400)
        let playready = try Site(["playready.key": "\(Self.kid):\(Self.cek)"])
        #expect(playready.get(".mpd").status == 200)              // with PlayReady signalling (PlayReadyTests)
    }

    /// The body, file ranges read in.
    static func bytes(_ r: EngineResponse) -> [UInt8] {
        r.body.flatMap { piece -> [UInt8] in
            switch piece {
            case .bytes(let b): return b
            case .file(let path, let offset, let length):
                guard let file = try? LocalFileBytes.read(path) else { return [] }
                return Array(file[Int(offset)..<Int(offset + length)])
            }
        }
    }

    static func contains(_ bytes: [UInt8], _ type: String) -> Bool {
        let t = Array(type.utf8)
        return bytes.indices.dropLast(3).contains { Array(bytes[$0..<($0 + 4)]) == t }
    }
}
