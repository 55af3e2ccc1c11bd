import ByteIO
import Encryption
@testable import Engine
import Testing

/// HLS SAMPLE-AES: the NAL unit and audio frame patterns against known answers (the encrypted blocks
/// were made with `openssl enc -aes-128-cbc -nopad`), emulation prevention, and the engine's options
/// and playlists.
@Suite struct SampleAESTests {
    static let cek = "8275ef8e3b2a4b1c9d0e1f2a3b4c5d6e"
    static let iv = "000102030405060708090a0b0c0d0e0f"

    func encrypter() throws -> SampleAES {
        try SampleAES(key: try ContentKey(kid: nil, bytes: try #require(Hex.bytes(Self.cek))),
                      iv: try #require(Hex.bytes(Self.iv)))
    }

    /// A 220-byte IDR slice: bytes 32..<48 and 192..<208 are the two encrypted blocks (one CBC chain).
    @Test func aSliceKeeps32BytesClearThenEncryptsOneBlockInTen() throws {
        let nal: [UInt8] = [0x65] + (1..<220).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
        // printf of bytes 32..<48 and 192..<208 | openssl enc -aes-128-cbc -nopad -K <cek> -iv <iv>
        let blocks = try #require(Hex.bytes("d542b5519a3d1018e5466e0bcbb7c330fc7e6888b0ef13e22aba2c114f165529"))
        let expected = Array(nal[..<32]) + blocks[..<16] + nal[48..<192] + blocks[16...] + nal[208...]
        var out: [UInt8] = [0xAA]
        let aes = try encrypter()
        try nal.withUnsafeBytes { try aes.appendVideoNAL($0, to: &out) }
        #expect(out == [0xAA] + expected)
        // The IV starts again at the next NAL unit: the same bytes encrypt the same way.
        var again: [UInt8] = []
        try nal.withUnsafeBytes { try aes.appendVideoNAL($0, to: &again) }
        #expect(again == expected)
    }

    @Test func otherNALUnitsAndShortSlicesStayClear() throws {
        let aes = try encrypter()
        let sps: [UInt8] = [0x67] + [UInt8](repeating: 0x42, count: 100)
        let short: [UInt8] = [0x41] + [UInt8](repeating: 0x42, count: 47)   // 48 bytes: all clear
        let sliceOf49: [UInt8] = [0x41] + [UInt8](repeating: 0x42, count: 48)
        for (nal, clear) in [(sps, true), (short, true), (sliceOf49, false)] {
            var out: [UInt8] = []
            try nal.withUnsafeBytes { try aes.appendVideoNAL($0, to: &out) }
            #expect((out == nal) == clear, "\(nal.count) bytes, type \(nal[0] & 0x1F)")
        }
    }

    /// An ADTS frame of 7 + 50 bytes: header and 16 bytes clear, two blocks encrypted, 2 bytes clear.
    @Test func anAACFrameKeepsItsHeaderAnd16BytesClear() throws {
        let frame: [UInt8] = [0xFF, 0xF1, 0x50, 0x80, 0x07, 0x3F, 0xFC] + (0..<50).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
        let blocks = try #require(Hex.bytes("ad8d0e6cfb8be4a33e963255ed6e4c9e277501bd1a4e10d75b7420bf46dbc827"))
        var bytes = [0xEE] + frame + frame
        let aes = try encrypter()
        try aes.encryptAudioFrame(&bytes, frame: 1..<58, headerLength: 7)
        try aes.encryptAudioFrame(&bytes, frame: 58..<115, headerLength: 7)   // IV reset per frame
        let expected = Array(frame[..<23]) + blocks + frame[55...]
        #expect(bytes == [0xEE] + expected + expected)
        // AC-3: 16 clear bytes hold the syncframe header; a frame of 31 bytes has no whole block.
        var ac3 = Array(frame[7...])
        try aes.encryptAudioFrame(&ac3, frame: 0..<ac3.count, headerLength: 0)
        #expect(ac3 == Array(frame[7..<23]) + blocks + frame[55...])
        var tiny = [UInt8](repeating: 7, count: 31)
        try aes.encryptAudioFrame(&tiny, frame: 0..<31, headerLength: 0)
        #expect(tiny == [UInt8](repeating: 7, count: 31))
        #expect(throws: EncryptionError.self) { try aes.encryptAudioFrame(&tiny, frame: 0..<40, headerLength: 0) }
    }

    @Test func emulationPreventionFollowsH264() {
        var out: [UInt8] = []
        SampleAES.appendEscaped([0, 0, 0, 0, 0, 1, 0, 0, 3, 0, 0], to: &out)
        #expect(out == [0, 0, 3, 0, 0, 3, 0, 1, 0, 0, 3, 3, 0, 0, 3])
        out = []
        SampleAES.appendEscaped([1, 0, 0, 4, 0, 0], to: &out)
        #expect(out == [1, 0, 0, 4, 0, 0, 3])
    }

    @Test func playlistsNameTheKeyAndSegmentsAreSampleEncrypted() throws {
        let options = ["hls.key": ":\(Self.cek)", "hls.license_server_url": "https://keys.example/k",
                       "hls.playout": "sample_aes"]
        let site = try ProtectionTests.Site(options)
        let clear = try ProtectionTests.Site([:])
        let master = ProtectionTests.text(site.get(".m3u8"))
        #expect(master.contains("#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"https://keys.example/k\"\n"))
        #expect(master.contains("#EXT-X-VERSION:5\n"))
        let variant = try #require(master.split(separator: "\n").first { !$0.hasPrefix("#") })
        let media = ProtectionTests.text(site.get(String(variant)))
        #expect(media.contains("#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"https://keys.example/k\"\n"))
        #expect(!media.contains(Self.cek) && !master.contains(Self.cek))
        let segment = String(try #require(media.split(separator: "\n").first { !$0.hasPrefix("#") }))
        let secret = site.get(segment), plain = clear.get(segment)
        #expect(secret.status == 200 && plain.status == 200 && secret.etag != plain.etag)
        let bytes = secret.body.flatMap { piece -> [UInt8] in if case .bytes(let b) = piece { b } else { [] } }
        // The PMT (second packet) names encrypted H.264: stream type 0xDB with 'zavc'.
        #expect(bytes.count > 376 && bytes[188 + 17] == 0xDB)
        #expect(Array(bytes[(188 + 22)..<(188 + 28)]) == [0x0F, 0x04] + Array("zavc".utf8))

        var fps = options
        fps["hls.playout"] = "sample_aes_streamingkeydelivery"
        #expect(try ProtectionTests.Site(fps).get(".m3u8").status == 400)   // an https:// URI is refused
        fps["hls.license_server_url"] = "skd://keys.example/k"
        let fpsMaster = ProtectionTests.text(try ProtectionTests.Site(fps).get(".m3u8"))
        #expect(fpsMaster.contains("#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI=\"skd://keys.example/k\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"\n"))
        // The same presentation as fMP4 is Common Encryption cbcs, also METHOD=SAMPLE-AES.
        let fmp4 = site.get(".m3u8", "hls.fmp4=true")
        #expect(fmp4.status == 200 && ProtectionTests.text(fmp4).contains("METHOD=SAMPLE-AES") && ProtectionTests.text(fmp4).contains("KEYFORMAT=\"identity\""))
    }
}
