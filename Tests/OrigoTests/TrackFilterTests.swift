import Testing
import PlayerURL

@Suite struct TrackFilterTests {
    static let video = TrackAttributes(type: "video", systemBitrate: 800_000, systemLanguage: "und", trackName: "video",
                                       fourCC: ["H264", "avc1"], maxWidth: 1280, maxHeight: 720)
    static let audioEng = TrackAttributes(type: "audio", systemBitrate: 128_000, systemLanguage: "eng", trackName: "audio_eng",
                                          fourCC: ["AACL", "mp4a"])
    static let text = TrackAttributes(type: "textstream", systemBitrate: 1000, systemLanguage: "fra", trackName: "textstream_fra",
                                      fourCC: ["stpp"])

    func keeps(_ expression: String) throws -> [String] {
        let f = try TrackFilter(parsing: expression)
        return [Self.video, Self.audioEng, Self.text].filter(f.matches).map(\.trackName)
    }

    func error(_ expression: String) -> String? {
        do { _ = try TrackFilter(parsing: expression); return nil } catch { return error.reason }
    }

    @Test func referenceExamples() throws {
        #expect(try keeps(#"(type!="video")"#) == ["audio_eng", "textstream_fra"])
        #expect(try keeps(#"(type=="audio"&&systemBitrate<100000)||(type=="video"&&systemBitrate<1024000)"#) == ["video"])
        #expect(try keeps(#"((type=="video"&&MaxHeight<=2160)||(type=="audio")||(type=="textstream"))"#)
                == ["video", "audio_eng", "textstream_fra"])
        #expect(try keeps(#"(type=="video"&&MaxHeight<=576)||(type=="audio"&&FourCC=="AACL"&&systemBitrate>100000)"#) == ["audio_eng"])
        #expect(try keeps(#"(type!="meta")"#) == ["video", "audio_eng", "textstream_fra"])
    }

    @Test func precedenceAndNegation() throws {
        // && binds tighter than ||: a || (b && c).
        #expect(try keeps(#"type=="textstream"||type=="video"&&systemBitrate>1000000"#) == ["textstream_fra"])
        #expect(try keeps(#"(type=="textstream"||type=="video")&&systemBitrate>1000000"#) == [])
        #expect(try keeps(#"!type=="video""#) == ["audio_eng", "textstream_fra"])
        #expect(try keeps(#"!(type=="video"||type=="audio")"#) == ["textstream_fra"])
        #expect(try keeps(#"!!(type=="audio")"#) == ["audio_eng"])
    }

    @Test func caseRulesAndSpaces() throws {
        #expect(try keeps(#" TYPE == "Audio" "#) == ["audio_eng"])
        #expect(try keeps(#"fourcc=="avc1""#) == ["video"])
        #expect(try keeps(#"systemLanguage=="ENG""#) == ["audio_eng"])
        #expect(try keeps(#"trackName=="Audio_eng""#) == [])   // names match exactly
        #expect(try keeps(#"MaxWidth>=1280 && maxheight==720"#) == ["video"])
    }

    @Test func errorsNamePositions() {
        #expect(error(#"(type=="video""#) == "filter: expected ')' at 15 (end of the expression)")
        #expect(error(#"(type=="video"x"#)?.hasPrefix("filter: expected ')' at 15") == true)
        #expect(error(#"type="video""#)?.hasPrefix("filter: expected a comparison operator (== != < <= > >=) at 5") == true)
        #expect(error(#"type=="video"&"#)?.hasPrefix("filter: expected '&&', '||' or the end at 14") == true)
        #expect(error(#"type<"video""#) == "filter: type is a string, expected '==' or '!=' at 5")
        #expect(error(#"systemBitrate=="x""#) == "filter: systemBitrate is compared with an integer, expected a number at 16")
        #expect(error(#"type==3"#) == "filter: type is compared with a quoted string, expected '\"' at 7")
        #expect(error(#"colour=="red""#)?.hasPrefix("filter: unknown attribute colour at 1") == true)
        #expect(error(#"type=="video"#)?.hasPrefix("filter: expected a closing '\"' at 13") == true)
        #expect(error("")?.hasPrefix("filter: expected an expression at 1") == true)
        #expect(error("systemBitrate<99999999999999999999")?.hasPrefix("filter: number too large at 15") == true)
        #expect(error(String(repeating: "(", count: 40) + "type==\"video\"" + String(repeating: ")", count: 40))?
                    .hasPrefix("filter: nested deeper than 32") == true)
        #expect(error(String(repeating: "!", count: 5000)) != nil)
        for bad in ["()", "&&", "type", "type==", "(type==\"a\"))", "type==\"a\"||", "\u{1}", "type ==\"a\" !"] {
            let e = error(bad)
            #expect(e != nil, "\(bad)")
        }
        let reasons = (try? TrackFilter(parsing: "type=")).map { _ in 0 }
        #expect(reasons == nil)
    }

    @Test func canonicalText() throws {
        let a = try TrackFilter(parsing: #" ( type == "video" ) && systemBitrate<900000 "#)
        let b = try TrackFilter(parsing: #"TYPE=="video"&&SystemBitrate<900000"#)
        #expect(a.description == b.description)
        #expect(a.description == #"type=="video"&&systemBitrate<900000"#)
        for text in [#"a==1"#, #"!(type=="a"||type=="b")&&MaxWidth>3"#, #"type=="a"||(type=="b"||type=="c")"#,
                     #"(type=="a"||type=="b")&&(type=="c"&&!!MaxHeight<3)"#, #"!(!(type=="a"))"#] {
            guard let f = try? TrackFilter(parsing: text) else { continue }
            #expect(try TrackFilter(parsing: f.description) == f, "\(text) → \(f.description)")
        }
        let chain = Array(repeating: #"type=="video""#, count: 60).joined(separator: "&&")
        let long = try TrackFilter(parsing: chain)
        #expect(try TrackFilter(parsing: long.description) == long)
    }

    @Test func selectionFromQuery() throws {
        let q = try QueryOptions(raw: "filter=(type%3D%3D%22audio%22)&max_bitrate=500000&t=4,8&session_id=1")
        let s = try Selection(query: q)
        #expect(s.maxBitrate == 500_000)
        #expect(s.subclip == Subclip(begin: 4_000_000_000, end: 8_000_000_000))
        let same = try Selection(query: QueryOptions(raw: "vbegin=4&vend=8.0&filter=type%3D%3D%22audio%22&max_bitrate=500000"))
        #expect(s.key == same.key)
        #expect(try Selection(query: QueryOptions(raw: "session_id=1&vbegin=0")).key == "")
        #expect(throws: PlayerURLError.self) { try Selection(query: QueryOptions(raw: "max_bitrate=-1")) }
        #expect(throws: PlayerURLError.self) { try Selection(query: QueryOptions(raw: "max_bitrate=abc")) }
        #expect(throws: PlayerURLError.self) { try Selection(query: QueryOptions(raw: "filter=type%3D")) }
    }
}

@Suite struct SubclipTests {
    func clip(_ query: String) throws -> Subclip? { try Subclip(query: QueryOptions(raw: query)) }
    let s: Int64 = 1_000_000_000

    @Test func forms() throws {
        #expect(try clip("vbegin=60&vend=90") == Subclip(begin: 60 * s, end: 90 * s))
        #expect(try clip("vbegin=00:01:00&vend=00:01:30.5") == Subclip(begin: 60 * s, end: 90 * s + s / 2))
        #expect(try clip("vbegin=1:30") == Subclip(begin: 90 * s, end: nil))
        #expect(try clip("vend=0.1") == Subclip(begin: nil, end: 100_000_000))
        #expect(try clip("t=60,90") == Subclip(begin: 60 * s, end: 90 * s))
        #expect(try clip("t=npt:00:01:00,00:01:30") == Subclip(begin: 60 * s, end: 90 * s))
        #expect(try clip("t=npt:60,90") == Subclip(begin: 60 * s, end: 90 * s))
        #expect(try clip("t=,90") == Subclip(begin: nil, end: 90 * s))
        #expect(try clip("t=60") == Subclip(begin: 60 * s, end: nil))
        #expect(try clip("t=60-90") == Subclip(begin: 60 * s, end: 90 * s))
        #expect(try clip("t=12.000000001-13") == Subclip(begin: 12 * s + 1, end: 13 * s))
        #expect(try clip("t=0,10") == Subclip(begin: nil, end: 10 * s))
        #expect(try clip("session_id=3") == nil)
        #expect(try clip("t=0")?.isWholePresentation == true)
    }

    @Test func refusals() {
        for q in ["vbegin=90&vend=60", "vbegin=60&vend=60", "t=90,60", "vbegin=abc", "vbegin=-5", "vbegin=1e3",
                  "vbegin=1.", "vbegin=.5.5", "vbegin=00:61:00", "vbegin=1:2:3:4", "vbegin=1:5", "t=clock:2019",
                  "t=smpte:00:00:01", "t=", "t=,", "t=npt:", "vbegin=1.0000000001", "vbegin=1000000001",
                  "vbegin=99999999999999999999999", "vbegin=999999999999:00:00", "t=1&vbegin=2", "vbegin="] {
            #expect(throws: PlayerURLError.self, "\(q)") { try clip(q) }
        }
        #expect((try? clip("vbegin=1000000000")) != nil)
    }

    @Test func statusIs400() {
        do { _ = try clip("vbegin=x"); Issue.record("accepted") } catch { #expect((error as? PlayerURLError)?.httpStatus == 400) }
    }
}
