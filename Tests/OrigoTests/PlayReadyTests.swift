import ByteIO
import Encryption
@testable import Engine
@testable import ISOBMFF
import Testing

/// PlayReady's header object, PIFF's sample encryption box, and the options that turn on Smooth
/// PIFF encryption and PlayReady signalling in DASH.
@Suite struct PlayReadyTests {
    static let cek = ProtectionTests.cek
    static let kid = ProtectionTests.kid

    /// The PlayReady Object of KID 01234567-89ab-cdef-0123-456789abcdef and CEK 8275ef8e…: the
    /// checksum is the known answer of `openssl enc -aes-128-ecb -nopad -K 8275ef8e3b2a4b1c9d0e1f2a3b4c5d6e`
    /// over the GUID-order key ID 67452301ab89efcd0123456789abcdef (d1827d898f603475…, first 8
    /// bytes in base64 `0YJ9iY9gNHU=`).
    @Test func theHeaderObjectNamesTheKeyIDInGUIDOrderWithItsChecksum() throws {
        let key = try ContentKey(parsing: "\(Self.kid):\(Self.cek)", kidRequired: true)
        #expect(Hex.string(PlayReadyHeader.guidOrder(try #require(key.kid))) == "67452301ab89efcd0123456789abcdef")
        let header = try PlayReadyHeader(key: key, licenseURL: "https://pr.example/rm.asmx?a=1&b=2")
        #expect(Hex.string(header.checksum) == "d1827d898f603475")
        let xml = #"<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0">"#
            + "<DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO>"
            + "<KID>Z0UjAauJ780BI0VniavN7w==</KID><CHECKSUM>0YJ9iY9gNHU=</CHECKSUM>"
            + "<LA_URL>https://pr.example/rm.asmx?a=1&amp;b=2</LA_URL></DATA></WRMHEADER>"
        #expect(header.wrmHeader == xml)
        let object = header.object
        let utf16 = Array(xml.utf16)
        // Length (LE 32), record count 1, record type 1, record length (LE 16), the header in UTF-16LE.
        #expect(object.count == 10 + 2 * utf16.count)
        #expect(Array(object[0..<4]) == [UInt8(object.count & 0xFF), UInt8(object.count >> 8), 0, 0])
        #expect(Array(object[4..<8]) == [1, 0, 1, 0])
        #expect(Array(object[8..<10]) == [UInt8(2 * utf16.count & 0xFF), UInt8(2 * utf16.count >> 8)])
        #expect(Array(object[10..<14]) == [UInt8(ascii: "<"), 0, UInt8(ascii: "W"), 0])
        let units = stride(from: 10, to: object.count, by: 2).map { UInt16(object[$0]) | UInt16(object[$0 + 1]) << 8 }
        #expect(String(decoding: units, as: UTF16.self) == xml)
        #expect(!Hex.string(object).contains(Self.cek))
        // Without a license server there is no LA_URL; a key ID is required, a URL is bounded.
        #expect(!(try PlayReadyHeader(key: key, licenseURL: nil)).wrmHeader.contains("LA_URL"))
        #expect(throws: EncryptionError.self) { try PlayReadyHeader(key: try ContentKey(parsing: ":\(Self.cek)", kidRequired: false), licenseURL: nil) }
        #expect(throws: EncryptionError.self) { try PlayReadyHeader(key: key, licenseURL: String(repeating: "a", count: 5000)) }
    }

    @Test func aesECBMatchesTheNISTVector() throws {
        // NIST SP 800-38A, F.1.1 (ECB-AES128.Encrypt), first block.
        let key = try ContentKey(kid: nil, bytes: try #require(Hex.bytes("2b7e151628aed2a6abf7158809cf4f3c")))
        let block = try #require(Hex.bytes("6bc1bee22e409f96e93d7e117393172a"))
        #expect(Hex.string(try AES128.ecb(block: block, key: key)) == "3ad77bb40d7a3660a89ecaf32466ef97")
    }

    /// PIFF 1.1 §5.3.2.1: `uuid` A2394F52-…, version 0, flags 2 with subsamples (never 1: no
    /// override of the track's algorithm, IV size and key ID), sample count, per sample its
    /// 8-byte IV and, with flags 2, its entry count and (clear 16, protected 32) entries.
    @Test func thePIFFSampleEncryptionBoxLayout() {
        let ivs: [[UInt8]] = [[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15, 16]]
        var w = ByteWriter()
        FragmentEncryption(ivs: ivs, subsamples: [[(5, 16)], [(3, 0), (2, 32)]]).writePIFF(&w)
        #expect(Hex.string(w.take()) == "00000046" + "75756964" + "a2394f525a9b4f14a2446c427c648df4"
            + "00000002" + "00000002"
            + "0102030405060708" + "0001" + "0005" + "00000010"
            + "090a0b0c0d0e0f10" + "0002" + "0003" + "00000000" + "0002" + "00000020")
        var audio = ByteWriter()
        FragmentEncryption(ivs: ivs, subsamples: nil).writePIFF(&audio)
        #expect(Hex.string(audio.take()) == "00000030" + "75756964" + "a2394f525a9b4f14a2446c427c648df4"
            + "00000000" + "00000002" + "0102030405060708" + "090a0b0c0d0e0f10")
    }

    /// The boxes directly inside `traf` of a fragment, by type (`uuid` boxes by their extended type).
    static func trafChildren(_ bytes: [UInt8]) -> [String] {
        func children(_ start: Int, _ end: Int) -> [(String, Int, Int)] {
            var out: [(String, Int, Int)] = []
            var at = start
            while at + 8 <= end {
                let size = Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
                guard size >= 8, at + size <= end else { break }
                var type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
                if type == "uuid", at + 24 <= end { type = Hex.string(Array(bytes[(at + 8)..<(at + 24)])) }
                out.append((type, at + 8, at + size))
                at += size
            }
            return out
        }
        guard let moof = children(0, bytes.count).first(where: { $0.0 == "moof" }),
              let traf = children(moof.1, moof.2).first(where: { $0.0 == "traf" }) else { return [] }
        return children(traf.1, traf.2).map(\.0)
    }

    /// The URL of the first fragment of the first quality level of the video stream.
    static func firstVideoFragment(_ manifest: String) -> String? {
        guard let stream = manifest.firstRange(of: "<StreamIndex Type=\"video\"") else { return nil }
        let rest = manifest[stream.upperBound...]
        func attribute(_ name: String) -> Substring? {
            guard let r = rest.firstRange(of: " \(name)=\"") else { return nil }
            return rest[r.upperBound...].prefix { $0 != "\"" }
        }
        guard let url = attribute("Url"), let bitrate = attribute("Bitrate"), let time = attribute("t") else { return nil }
        return String(url).replacing("{bitrate}", with: bitrate).replacing("{start time}", with: time)
    }

    @Test func smoothWithAKeyIsPIFFEncryptedAndCarriesThePlayReadyHeader() throws {
        let clear = try ProtectionTests.Site([:])
        for option in ["iss.key", "playready.key"] {
            let site = try ProtectionTests.Site([option: "\(Self.kid):\(Self.cek)", "iss.license_server_url": "https://pr.example/rm",
                                                 "mpd.playout": "clear", "hls.playout": "clear"])
            let manifest = ProtectionTests.text(site.get("Manifest"))
            #expect(manifest.contains("<Protection>\n    <ProtectionHeader SystemID=\"9A04F079-9840-4286-AB92-E65BE0885F95\">"))
            let header = try PlayReadyHeader(key: try ContentKey(parsing: "\(Self.kid):\(Self.cek)", kidRequired: true),
                                             licenseURL: "https://pr.example/rm")
            #expect(manifest.contains(">\(Base64.encode(header.object))</ProtectionHeader>"))
            #expect(!manifest.contains(Self.cek))
            #expect(!ProtectionTests.text(clear.get("Manifest")).contains("Protection"))
            let path = try #require(Self.firstVideoFragment(manifest))
            let plain = clear.get(path), secret = site.get(path)
            #expect(plain.status == 200 && secret.status == 200)
            #expect(plain.etag != secret.etag)
            let children = Self.trafChildren(ProtectionTests.bytes(secret))
            #expect(children.contains(Hex.string(FragmentEncryption.piffUUID)), "\(children)")
            #expect(!children.contains("senc") && !children.contains("saiz") && !children.contains("saio"), "\(children)")
            #expect(!Self.trafChildren(ProtectionTests.bytes(plain)).contains(Hex.string(FragmentEncryption.piffUUID)))
            let plainBytes = ProtectionTests.bytes(plain), secretBytes = ProtectionTests.bytes(secret)
            #expect(secretBytes.count > plainBytes.count && secretBytes.suffix(64) != plainBytes.suffix(64))
            // Other formats follow the DRM rule: HDS is not protected, so it is refused.
            #expect(site.get(".f4m").status == 403)
        }
        // iss.playout names the DRM system.
        #expect(try ProtectionTests.Site(["iss.key": "\(Self.kid):\(Self.cek)", "iss.playout": "playready"]).get("Manifest").status == 200)
        #expect(try ProtectionTests.Site(["iss.key": "\(Self.kid):\(Self.cek)", "iss.playout": "clear"]).get("Manifest").status == 200)
        #expect(ProtectionTests.text(try ProtectionTests.Site(["iss.key": "\(Self.kid):\(Self.cek)", "iss.playout": "clear"])
            .get("Manifest")).contains("Protection") == false)
    }

    @Test func dashWithAPlayReadyKeySignalsPlayReady() throws {
        let site = try ProtectionTests.Site(["playready.key": "\(Self.kid):\(Self.cek)", "hls.playout": "clear",
                                             "playready.license_server_url": "https://pr.example/rm?a=1&amp;b=2"])
        let mpd = ProtectionTests.text(site.get(".mpd"))
        #expect(mpd.contains("xmlns:mspr=\"urn:microsoft:playready\"") && mpd.contains("xmlns:dashif=\"https://dashif.org/CPS\""))
        #expect(mpd.contains("<ContentProtection schemeIdUri=\"urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95\" value=\"MSPR 2.0\">"))
        let header = try PlayReadyHeader(key: try ContentKey(parsing: "\(Self.kid):\(Self.cek)", kidRequired: true),
                                         licenseURL: "https://pr.example/rm?a=1&b=2")
        let pssh = ProtectionSystem(systemID: PlayReadyHeader.systemID, kids: [], data: header.object).box
        #expect(mpd.contains("<cenc:pssh>\(Base64.encode(pssh))</cenc:pssh>"))
        #expect(mpd.contains("<mspr:pro>\(Base64.encode(header.object))</mspr:pro>"))
        #expect(mpd.contains("<dashif:Laurl>https://pr.example/rm?a=1&amp;b=2</dashif:Laurl>"))
        #expect(!mpd.contains(Self.cek))
        let initSegment = ProtectionTests.bytes(site.get("x-video=100000.dash"))
        #expect(Hex.string(initSegment).contains(Hex.string(pssh)))
        #expect(Self.trafChildren(ProtectionTests.bytes(site.get("x-video=100000-n1.dash"))).contains("senc"))
        // Smooth uses the same key and header (no iss.license_server_url: playready.license_server_url).
        #expect(ProtectionTests.text(site.get("Manifest")).contains(Base64.encode(header.object)))
        // Without a license URL: no dashif:Laurl, no namespace for it.
        let bare = ProtectionTests.text(try ProtectionTests.Site(["playready.key": "\(Self.kid):\(Self.cek)"]).get(".mpd"))
        #expect(bare.contains("mspr:pro") && !bare.contains("dashif"))
    }

    @Test func conflictingKeysAndBadURLsAreRefusedNamingTheOptions() throws {
        let other = String(Self.cek.reversed())
        let cases: [([String: String], String)] = [
            (["cenc.key": "\(Self.kid):\(Self.cek)", "playready.key": "\(Self.kid):\(other)"], "cenc.key and playready.key"),
            (["widevine.key": "\(Self.kid):\(Self.cek)", "playready.key": "\(Self.kid):\(other)"], "widevine.key and playready.key"),
            (["iss.key": "\(Self.kid):\(Self.cek)", "playready.key": "\(Self.kid):\(other)"], "iss.key and playready.key"),
            (["playready.key": "\(Self.kid):\(Self.cek)", "playready.license_server_url": "/rm.asmx"], "playready.license_server_url"),
            (["iss.key": "\(Self.kid):\(Self.cek)", "iss.license_server_url": "rm"], "iss.license_server_url"),
        ]
        for (meta, names) in cases {
            let site = try ProtectionTests.Site(meta)
            for path in [".mpd", "Manifest"] {
                let r = site.get(path)
                let reason = r.logReason ?? ""
                #expect(r.status == 400 && reason.contains(names), "\(meta) \(path): \(reason)")
                #expect(!reason.contains(Self.cek) && !reason.contains(other), "\(reason)")
            }
        }
    }
}
