import ByteIO
import Encryption
@testable import Engine
import ISOBMFF
import Testing

/// CPIX key documents: what is read, what is refused, and separate audio and video keys in DASH and HLS.
@Suite struct CPIXTests {
    static let videoKID = "11111111222233334444555555555555", videoKey = "a1a2a3a4a5a6a7a8a9aaabacadaeafa0"
    static let audioKID = "66666666777788889999aaaaaaaaaaaa", audioKey = "b1b2b3b4b5b6b7b8b9babbbcbdbebfb0"

    static func uuid(_ hex: String) -> String {
        let h = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(h[$0]) }.joined(separator: "-")
    }

    static func key(_ kid: String, _ cek: String, extra: String = "") -> String {
        let value = Base64.encode(Hex.bytes(cek) ?? [])
        return "<cpix:ContentKey kid=\"\(uuid(kid))\" \(extra)><cpix:Data><pskc:Secret><pskc:PlainValue>\(value)"
            + "</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>"
    }

    /// A CPIX document with `keys`, `systems` and `rules` inside their lists.
    static func document(keys: String, systems: String = "", rules: String = "") -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <cpix:CPIX contentId="x" version="2.3" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc">
          <cpix:ContentKeyList>\(keys)</cpix:ContentKeyList>
          <cpix:DRMSystemList>\(systems)</cpix:DRMSystemList>
          <cpix:ContentKeyUsageRuleList>\(rules)</cpix:ContentKeyUsageRuleList>
        </cpix:CPIX>
        """
    }

    static let widevine = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"

    static func widevinePSSH(_ kid: String) -> [UInt8] {
        ProtectionSystem(systemID: ProtectionSystem.widevineID, kids: [], data: [0x12, 0x10] + (Hex.bytes(kid) ?? [])).box
    }

    /// Separate keys by track type, a Widevine pssh and an HLS key URI for each.
    static var separateKeys: String {
        var systems = ""
        for (kid, name) in [(videoKID, "video"), (audioKID, "audio")] {
            systems += "<cpix:DRMSystem kid=\"\(uuid(kid))\" systemId=\"\(widevine)\"><cpix:PSSH>"
                + Base64.encode(widevinePSSH(kid)) + "</cpix:PSSH></cpix:DRMSystem>"
            systems += "<cpix:DRMSystem kid=\"\(uuid(kid))\" systemId=\"3ea8778f-7742-4bf9-b18b-e834b2acbd47\"><cpix:URIExtXKey>"
                + Base64.encode(Array("https://keys.example/\(name).key".utf8)) + "</cpix:URIExtXKey></cpix:DRMSystem>"
        }
        return document(keys: key(videoKID, videoKey) + key(audioKID, audioKey), systems: systems, rules: """
            <cpix:ContentKeyUsageRule kid="\(uuid(videoKID))" intendedTrackType="VIDEO"><cpix:VideoFilter/></cpix:ContentKeyUsageRule>
            <cpix:ContentKeyUsageRule kid="\(uuid(audioKID))" intendedTrackType="AUDIO"><cpix:AudioFilter/></cpix:ContentKeyUsageRule>
            """)
    }

    @Test func keysGoToTheTracksTheirRulesName() throws {
        let cpix = try CPIX(parsing: Array(Self.separateKeys.utf8))
        let videoKey = try cpix.key(for: CPIX.Track(kind: .video, pixels: 640 * 360))
        let audioKey = try cpix.key(for: CPIX.Track(kind: .audio, channels: 2))
        let video = try #require(videoKey), audio = try #require(audioKey)
        #expect(video.kid == Hex.bytes(Self.videoKID) && video.bytes == Hex.bytes(Self.videoKey))
        #expect(audio.kid == Hex.bytes(Self.audioKID) && audio.bytes == Hex.bytes(Self.audioKey))
        let kid = try #require(Hex.bytes(Self.videoKID))
        let system = try #require(cpix.system(ProtectionSystem.widevineID, kid: kid))
        #expect(system.pssh == Self.widevinePSSH(Self.videoKID))
        #expect(try ProtectionSystem(parsing: Self.widevinePSSH(Self.videoKID)).box == Self.widevinePSSH(Self.videoKID))

        // SD and HD keys by pixels; bitrate filters; filters of one type are alternatives.
        let sd = "<cpix:ContentKeyUsageRule kid=\"\(Self.uuid(Self.videoKID))\"><cpix:VideoFilter maxPixels=\"409920\"/>"
            + "<cpix:VideoFilter minPixels=\"8294400\"/></cpix:ContentKeyUsageRule>"
        let hd = "<cpix:ContentKeyUsageRule kid=\"\(Self.uuid(Self.audioKID))\"><cpix:VideoFilter minPixels=\"409921\" maxPixels=\"8294399\"/>"
            + "<cpix:BitrateFilter minBitrate=\"1000000\"/></cpix:ContentKeyUsageRule>"
        let tiers = try CPIX(parsing: Array(Self.document(keys: Self.key(Self.videoKID, Self.videoKey) + Self.key(Self.audioKID, Self.audioKey),
                                                          rules: sd + hd).utf8))
        func tierKID(_ track: CPIX.Track) throws -> String? { try tiers.key(for: track)?.kid.map { Hex.string($0) } }
        #expect(try tierKID(CPIX.Track(kind: .video, pixels: 640 * 360)) == Self.videoKID)
        #expect(try tierKID(CPIX.Track(kind: .video, pixels: 3840 * 2160)) == Self.videoKID)
        #expect(try tierKID(CPIX.Track(kind: .video, pixels: 1280 * 720, bitrate: 3_000_000)) == Self.audioKID)
        #expect(try tierKID(CPIX.Track(kind: .video, pixels: 1280 * 720, bitrate: 500_000)) == nil)
        #expect(try tierKID(CPIX.Track(kind: .audio, channels: 2)) == nil)

        // One key and no rules: it encrypts everything.
        let one = try CPIX(parsing: Array(Self.document(keys: Self.key(Self.videoKID, Self.videoKey)).utf8))
        let any = try one.key(for: CPIX.Track(kind: .audio))
        #expect(any?.kid == Hex.bytes(Self.videoKID))
    }

    /// The fixture (also the fuzz target's seed): filters with fps and bitrate bounds.
    @Test func theFixtureDocumentGivesVideoAndAudioTheirKeys() throws {
        let cpix = try CPIX(parsing: try Fixtures.bytes("keys.cpix.xml"))
        let video = try cpix.key(for: CPIX.Track(kind: .video, pixels: 1280 * 720, framesPerSecond: 25, bitrate: 3_000_000))
        let audio = try cpix.key(for: CPIX.Track(kind: .audio, channels: 2, bitrate: 128_000))
        #expect(video.map { Hex.string($0.bytes) } == Self.videoKey && audio.map { Hex.string($0.bytes) } == Self.audioKey)
        #expect(try cpix.key(for: CPIX.Track(kind: .video, pixels: 7680 * 4320, framesPerSecond: 25, bitrate: 1)) == nil)
        let audioKID = try #require(Hex.bytes(Self.audioKID))
        #expect(cpix.system(Protection.aes128SystemID, kid: audioKID)?.hlsKeyURI == "https://keys.example/audio.key")
    }

    @Test func whatCannotBeHonouredIsRefusedWithAReasonThatNamesNoKey() {
        let k = Self.key(Self.videoKID, Self.videoKey), k2 = Self.key(Self.audioKID, Self.audioKey)
        let videoRule = "<cpix:ContentKeyUsageRule kid=\"\(Self.uuid(Self.videoKID))\"><cpix:VideoFilter/></cpix:ContentKeyUsageRule>"
        let encrypted = "<cpix:ContentKey kid=\"\(Self.uuid(Self.videoKID))\"><cpix:Data><pskc:Secret><pskc:EncryptedValue>"
            + "<enc:CipherData/></pskc:EncryptedValue></pskc:Secret></cpix:Data></cpix:ContentKey>"
        let cases: [(String, String)] = [
            (Self.document(keys: ""), "no ContentKey"),
            (Self.document(keys: k + k2), "no ContentKeyUsageRule"),
            (Self.document(keys: k + k), "listed twice"),
            (Self.document(keys: encrypted), "(PlainValue) only"),
            (Self.document(keys: Self.key(Self.videoKID, String(repeating: "0", count: 32))), "all zeros"),
            (Self.document(keys: Self.key(Self.videoKID, "a1a2")), "16 bytes"),
            (Self.document(keys: Self.key(String(repeating: "0", count: 32), Self.videoKey)), "all zeros"),
            (Self.document(keys: Self.key(Self.videoKID, Self.videoKey, extra: "commonEncryptionScheme=\"cens\"")), "cens"),
            (Self.document(keys: k, rules: "<cpix:ContentKeyUsageRule kid=\"\(Self.uuid(Self.audioKID))\"/>"), "not in the ContentKeyList"),
            (Self.document(keys: k, rules: "<cpix:ContentKeyUsageRule kid=\"\(Self.uuid(Self.videoKID))\"><cpix:KeyPeriodFilter periodId=\"p\"/></cpix:ContentKeyUsageRule>"), "key periods"),
            (Self.document(keys: k, rules: "<cpix:ContentKeyUsageRule kid=\"\(Self.uuid(Self.videoKID))\"><cpix:VideoFilter minPixels=\"9\" maxPixels=\"1\"/></cpix:ContentKeyUsageRule>"), "above"),
            (Self.document(keys: k, systems: "<cpix:DRMSystem kid=\"\(Self.uuid(Self.videoKID))\" systemId=\"\(Self.widevine)\"><cpix:PSSH>AAAA</cpix:PSSH></cpix:DRMSystem>"), "not a base64 pssh"),
            (Self.document(keys: k, systems: "<cpix:DRMSystem kid=\"\(Self.uuid(Self.videoKID))\" systemId=\"x\"/>"), "not a UUID"),
            ("<?xml version=\"1.0\"?><cpix:Other xmlns:cpix=\"urn:dashif:org:cpix\">" + k + videoRule + "</cpix:Other>", "not CPIX"),
            ("<cpix:CPIX", "well-formed"),
        ]
        for (text, reason) in cases {
            do {
                _ = try CPIX(parsing: Array(text.utf8))
                Issue.record("accepted: \(reason)")
            } catch {
                #expect(error.reason.contains(reason), "\(error.reason)")
                #expect(!error.reason.lowercased().contains(Self.videoKey) && !error.reason.lowercased().contains(Self.audioKey))
            }
        }
        // Two rules giving one track two keys.
        let both = try? CPIX(parsing: Array(Self.document(keys: k + k2, rules: videoRule
            + "<cpix:ContentKeyUsageRule kid=\"\(Self.uuid(Self.audioKID))\"/>").utf8))
        #expect(throws: CPIX.Invalid.self) { try both?.key(for: CPIX.Track(kind: .video)) }
    }

    /// The protection fixture's presentation with its keys in a CPIX document.
    static func site(_ document: String, meta: [String: String] = [:]) throws -> ProtectionTests.Site {
        let site = try ProtectionTests.Site(meta.merging(["cpix": "keys.cpix"]) { a, _ in a })
        SubtitlesTests.write(site.dir + "/keys.cpix", document)
        return site
    }

    @Test func separateAudioAndVideoKeysInDASHAndHLS() throws {
        let site = try Self.site(Self.separateKeys)
        let mpd = ProtectionTests.text(site.get(".mpd"))
        #expect(mpd.contains("cenc:default_KID=\"\(Self.uuid(Self.videoKID))\""))
        #expect(mpd.contains("cenc:default_KID=\"\(Self.uuid(Self.audioKID))\""))
        #expect(mpd.contains(Base64.encode(Self.widevinePSSH(Self.videoKID))) && mpd.contains(Base64.encode(Self.widevinePSSH(Self.audioKID))))
        #expect(!mpd.contains(Self.videoKey) && !mpd.contains(Self.audioKey))
        let videoInit = ProtectionTests.bytes(site.get("x-video=100000.dash"))
        let audioInit = ProtectionTests.bytes(site.get("x-audio_fra=64000.dash"))
        let videoKID = try #require(Hex.bytes(Self.videoKID)), audioKID = try #require(Hex.bytes(Self.audioKID))
        #expect(Self.contains(videoInit, videoKID) && !Self.contains(videoInit, audioKID))
        #expect(Self.contains(audioInit, audioKID) && !Self.contains(audioInit, videoKID))
        #expect(Self.contains(videoInit, Self.widevinePSSH(Self.videoKID)))

        // HLS: a muxed variant takes the video key, audio-only playlists the audio key.
        let audio = ProtectionTests.text(site.get("x-audio_fra=64000.m3u8"))
        let muxed = ProtectionTests.text(site.get("x-audio_fra=64000-video=100000.m3u8"))
        #expect(audio.contains("URI=\"https://keys.example/audio.key\"") && !audio.contains("video.key"))
        #expect(muxed.contains("URI=\"https://keys.example/video.key\"") && !muxed.contains("audio.key"))
        #expect(site.get("x-audio_fra=64000-1.ts").status == 200)

        // cpix and a key option at once: which one would apply?
        let twice = try Self.site(Self.separateKeys, meta: ["cenc.key": "\(Self.videoKID):\(Self.videoKey)"])
        #expect(twice.get(".mpd").status == 400)
        // A document missing or unreadable refuses every format.
        let bad = try Self.site("<cpix:CPIX xmlns:cpix=\"urn:dashif:org:cpix\"/>")
        #expect(bad.get(".mpd").status == 400 && bad.get(".m3u8").status == 400)
        // No key URI for HLS: HLS is not protected, so the DRM rule refuses it; DASH plays.
        let noURI = try Self.site(Self.document(keys: Self.key(Self.videoKID, Self.videoKey)))
        #expect(noURI.get(".m3u8").status == 403 && noURI.get(".mpd").status == 200)
        let withURL = try Self.site(Self.document(keys: Self.key(Self.videoKID, Self.videoKey)),
                                    meta: ["hls.license_server_url": "https://keys.example/one"])
        #expect(ProtectionTests.text(withURL.get("x-video=100000.m3u8")).contains("URI=\"https://keys.example/one\""))
        #expect(withURL.get("Manifest").status == 403)   // the DRM rule: Smooth is not protected
    }

    static func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= bytes.count else { return false }
        return (0...(bytes.count - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
