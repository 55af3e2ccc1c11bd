import ByteIO
@testable import Engine
import ISOBMFF
import MediaModel
import Storage
@testable import Subtitles
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Subtitle readers (WebVTT, SRT, TTML, hostile input), cues as `wvtt` samples, WebVTT and TTML
/// writers, and sidecar subtitles through the engine.
@Suite struct SubtitlesTests {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    // MARK: Readers

    @Test func webVTTWithBOMCRLFIdentifiersSettingsAndNotes() throws {
        let text = "\u{FEFF}WEBVTT - a title\r\nKind: captions\r\n\r\nNOTE a comment\r\n-->\r\n\r\nSTYLE\r\n::cue { color: red }\r\n\r\n"
            + "first\r\n00:00:01.000 --> 00:00:02.500 line:90%  align:start\r\nHello\r\nworld\r\n\r\n"
            + "01:02:03.004 --> 01:02:04.000\rcarriage return only\r\r"
            + "bad timing --> 00:00:05.000\nskipped\n\n"
            + "00:10.5 --> 00:11.000\nshort form\n"
        let cues = try WebVTTReader.parse(Self.bytes(text))
        #expect(cues.count == 3)
        #expect(cues[0] == Cue(start: 1000, end: 2500, text: "Hello\nworld", settings: "line:90% align:start", identifier: "first"))
        #expect(cues[1].start == 3_723_004 && cues[1].end == 3_724_000 && cues[1].text == "carriage return only")
        #expect(cues[2].start == 10_500 && cues[2].end == 11_000)
    }

    @Test func webVTTWithoutSignatureIsRefused() {
        #expect(throws: SubtitleError.self) { try WebVTTReader.parse(Self.bytes("00:00:01.000 --> 00:00:02.000\nx\n")) }
        #expect(throws: SubtitleError.self) { try WebVTTReader.parse(Self.bytes("WEBVTTX\n")) }
        #expect(throws: SubtitleError.self) { try WebVTTReader.parse([]) }
    }

    @Test func limitsAreEnforced() {
        let many = "WEBVTT\n\n" + String(repeating: "00:00:01.000 --> 00:00:02.000\nx\n\n", count: 20)
        let limits = SubtitleLimits(maxBytes: 1 << 20, maxCues: 10, maxCueBytes: 4)
        #expect(throws: SubtitleError.self) { try WebVTTReader.parse(Self.bytes(many), limits: limits) }
        #expect(throws: SubtitleError.self) {
            try WebVTTReader.parse(Self.bytes(many), limits: SubtitleLimits(maxBytes: 16, maxCues: 10, maxCueBytes: 4))
        }
        // Long payloads are cut at a character boundary.
        let long = try? WebVTTReader.parse(Self.bytes("WEBVTT\n\n00:01.000 --> 00:02.000\néééé\n"), limits: limits)
        #expect(long?.first?.text == "éé")
    }

    @Test func srtWithTagsAndMissingCounters() throws {
        let text = "\u{FEFF}1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Bonjour</i> & <font color=\"red\">toi</font>\r\n{\\an8}en haut\r\n\r\n"
            + "00:00:03,000 --> 00:00:04,000 X1:10 X2:20\r\nno counter\r\n\r\n2\r\nnot a timing\r\nskipped\r\n"
        let cues = try SRTReader.parse(Self.bytes(text))
        #expect(cues.count == 2)
        #expect(cues[0] == Cue(start: 1000, end: 2500, text: "<i>Bonjour</i> &amp; toi\nen haut"))
        #expect(cues[1].start == 3000 && cues[1].text == "no counter")
    }

    @Test func ttmlTimesNestingAndMixedContent() throws {
        let text = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- a comment -->
            <tt xmlns="http://www.w3.org/ns/ttml" xmlns:ttp="http://www.w3.org/ns/ttml#parameter" ttp:tickRate="10000000" ttp:frameRate="25">
              <body><div begin="10s">
                <p begin="00:00:01.500" end="00:00:03">Line one<br/>line   <span tts:color="red">two</span> &amp; more</p>
                <p begin="40000000t" dur="500ms"><![CDATA[a < b]]></p>
                <p begin="00:00:05:12" end="6s">frames</p>
                <p begin="1s">no end: skipped</p>
              </div></body>
            </tt>
            """
        let cues = try TTMLReader.parse(Self.bytes(text))
        #expect(cues.count == 3)
        #expect(cues[0] == Cue(start: 11_500, end: 13_000, text: "Line one\nline two &amp; more"))
        #expect(cues[1] == Cue(start: 14_000, end: 14_500, text: "a &lt; b"))
        #expect(cues[2].start == 15_480 && cues[2].end == 16_000)
        #expect(throws: SubtitleError.self) { try TTMLReader.parse(Self.bytes("<html><p begin=\"1s\" end=\"2s\">x</p></html>")) }
        #expect(throws: SubtitleError.self) { try TTMLReader.parse(Self.bytes("<tt><p begin=\"1x\" end=\"2s\">x</p></tt>")) }
        #expect(throws: SubtitleError.self) { try TTMLReader.parse(Self.bytes("<tt><body></p></tt>")) }
    }

    /// The parts of XML the TTML reader leans on, read by the shared parser as by the scanner it
    /// replaced: prefixed names, a DOCTYPE with an internal subset, comments and instructions
    /// inside a paragraph, CDATA, references, nested times and a `<p>` inside a `<p>`.
    @Test func ttmlThroughTheSharedXMLParser() throws {
        let text = """
            \u{FEFF}<?xml version="1.0"?>
            <!DOCTYPE tt:tt [ <!ENTITY nbsp "&#160;"> <!-- ]> --> ]>
            <tt:tt xmlns:tt="http://www.w3.org/ns/ttml"><tt:body begin="1s"><tt:div>
              <tt:p begin="1s" end="2s">a<!-- <br/> --><?pi <br/>?>b<tt:br/>&#x41;&#66;&apos;&quot;<![CDATA[&amp; <br/>]]></tt:p>
              <p begin="3s" end="4s">outer <p begin="10s" end="20s">inner</p><span begin="1s"><br/>deep</span></p>
              <p begin="5s" end="6s"><!-- only a comment --></p>
            </tt:div></tt:body></tt:tt>
            """
        let cues = try TTMLReader.parse(Self.bytes(text))
        #expect(cues == [Cue(start: 2000, end: 3000, text: "ab\nAB'\"&amp;amp; &lt;br/&gt;"),
                         Cue(start: 4000, end: 5000, text: "outer inner\ndeep")])
        // Times inside a paragraph are still checked.
        #expect(throws: SubtitleError(.malformed, "bad TTML time 1x")) {
            try TTMLReader.parse(Self.bytes("<tt><p begin=\"1s\" end=\"2s\">a<span begin=\"1x\">b</span></p></tt>"))
        }
        #expect(throws: SubtitleError(.malformed, "TTML root element is not <tt>")) {
            try TTMLReader.parse(Self.bytes("<tt:html xmlns:tt=\"x\"><p begin=\"1s\" end=\"2s\">x</p></tt:html>"))
        }
    }

    /// Line ends follow XML: CR LF and a lone CR are one `\n` (the scanner kept a raw CR LF in the
    /// payload and took a lone CR for a space), so each is a line break like LF. Whitespace in an
    /// attribute value is a space, so a time written over two lines is read (the scanner refused it).
    @Test func ttmlLineEndsAndAttributeWhitespace() throws {
        let expected = [Cue(start: 1000, end: 2000, text: "a\nb")]
        #expect(try TTMLReader.parse(Self.bytes("<tt><p begin=\"1s\" end=\"2s\">a\nb</p></tt>")) == expected)
        #expect(try TTMLReader.parse(Self.bytes("<tt><p begin=\"1s\" end=\"2s\">a\r\nb</p></tt>")) == expected)
        #expect(try TTMLReader.parse(Self.bytes("<tt><p begin=\"1s\" end=\"2s\">a\rb</p></tt>")) == expected)
        #expect(try TTMLReader.parse(Self.bytes("<tt><p begin=\"\r\n 1s\" end=\"\t2s\n\">a<br/>b</p></tt>")) == expected)
    }

    /// A TTML document must be well-formed XML in UTF-8. The scanner the reader used before took
    /// each of these (keeping `&nbsp;` or a bare `&` as text, `&#0;` as U+0000, skipping `<!x>`,
    /// matching end tags by local name, stopping at the end of an unclosed document, ignoring
    /// what is around the root...); they are now malformed, with a one-line reason.
    @Test(arguments: ["a &nbsp; b", "a & b", "&#X41;", "&#0;", "a\u{1}b", "a<!x>b"])
    func ttmlParagraphsThatAreNotXML(_ paragraph: String) throws {
        let doc = "<tt><body><p begin=\"1s\" end=\"2s\">" + paragraph + "</p></body></tt>"
        let error = try #require(Self.ttmlFailure(Self.bytes(doc)), "accepted: \(doc.debugDescription)")
        #expect(error.code == .malformed && error.reason.hasPrefix("TTML: malformed XML at line 1, column "))
        #expect(!error.reason.contains("\n"))
    }

    @Test(arguments: [
        "<tt><p begin=\"1s\" end=\"2s\">a</p>", "<tt><p begin=\"1s\" end=\"2s\">a</p></tt><tt/>",
        "x<tt><p begin=\"1s\" end=\"2s\">a</p></tt>", "<tt><tt:p begin=\"1s\" end=\"2s\">a</p></tt>",
        "<tt><p begin=\"1s\"end=\"2s\">a</p></tt>", "<tt><p begin=\"1s\" end=\"2s\" begin=\"3s\">a</p></tt>",
        "<tt><p begin=\"1s\" end=\"2s\" x=\"<\">a</p></tt>",
        // Refused before too, with other reasons.
        "", "<!-- no root -->", "<tt><p begin=\"1s\" end=\"2s\"><span>a</p></p></tt>",
    ])
    func ttmlDocumentsThatAreNotXML(_ doc: String) throws {
        let error = try #require(Self.ttmlFailure(Self.bytes(doc)), "accepted: \(doc.debugDescription)")
        #expect(error.code == .malformed && error.reason.hasPrefix("TTML: malformed XML"))
    }

    /// The scanner read invalid UTF-8 as U+FFFD.
    @Test func ttmlInvalidUTF8IsMalformed() throws {
        let doc = Self.bytes("<tt><p begin=\"1s\" end=\"2s\">") + [0xE9] + Self.bytes("</p></tt>")
        #expect(Self.ttmlFailure(doc)?.code == .malformed)
        // The same byte in a document that says it is Latin-1 (as DFXP from older tools does).
        let latin1 = Self.bytes("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><tt><p begin=\"1s\" end=\"2s\">caf")
            + [0xE9] + Self.bytes("</p></tt>")
        #expect(try TTMLReader.parse(latin1).map(\.text) == ["café"])
    }

    /// The reader's bounds: bytes and cues from `SubtitleLimits` (too large), nesting 64 deep and
    /// 128 attributes (malformed), a million elements (too large).
    @Test func ttmlLimits() throws {
        let cue = "<p begin=\"1s\" end=\"2s\">x</p>"
        let three = Self.bytes("<tt>" + String(repeating: cue, count: 3) + "</tt>")
        #expect(Self.ttmlFailure(three, limits: SubtitleLimits(maxBytes: three.count - 1))?.code == .tooLarge)
        #expect(Self.ttmlFailure(three, limits: SubtitleLimits(maxCues: 2))?.code == .tooLarge)
        #expect(try TTMLReader.parse(three, limits: SubtitleLimits(maxCues: 3)).count == 3)

        func nested(_ depth: Int, inner: String = "") -> [UInt8] {
            let divs = depth - 1
            return Self.bytes("<tt>" + String(repeating: "<div>", count: divs) + inner + String(repeating: "</div>", count: divs) + "</tt>")
        }
        #expect(Self.ttmlFailure(nested(64)) == nil)
        #expect(Self.ttmlFailure(nested(65))?.code == .malformed)
        // An empty element counts as a level too (the scanner let `<br/>` be the 65th).
        #expect(Self.ttmlFailure(nested(64, inner: "<br/>"))?.code == .malformed)

        func root(attributes: Int) -> [UInt8] {
            Self.bytes("<tt" + (0..<attributes).map { " a\($0)=\"x\"" }.joined() + "/>")
        }
        #expect(Self.ttmlFailure(root(attributes: 128)) == nil)
        #expect(Self.ttmlFailure(root(attributes: 129))?.code == .malformed)

        let elements = Self.bytes("<tt>" + String(repeating: "<b/>", count: 1_000_000) + "</tt>")
        #expect(Self.ttmlFailure(elements)?.code == .tooLarge)
    }

    static func ttmlFailure(_ bytes: [UInt8], limits: SubtitleLimits = .default) -> SubtitleError? {
        do {
            _ = try TTMLReader.parse(bytes, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func hostileInputNeverTraps() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        let seeds = [
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000 align:start\n<b>x</b>\n\n",
            "1\n00:00:01,000 --> 00:00:02,000\nx\n\n",
            "<tt><body><div><p begin=\"1s\" end=\"2s\">a<br/>b</p></div></body></tt>",
        ]
        for seed in seeds {
            let base = Self.bytes(seed)
            for _ in 0..<400 {
                var b = base
                for _ in 0..<Int(next() % 6) {
                    let i = Int(next()) % b.count
                    switch next() % 3 {
                    case 0: b[i] = next()
                    case 1: b.remove(at: i)
                    default: b.insert(next(), at: i)
                    }
                }
                for format in SidecarFormat.allCases { _ = try? format.parse(b) }
                _ = try? WebVTTTrack.cues(in: b, start: 0, duration: 1)
            }
        }
        // Deep nesting and absurd times.
        _ = try? TTMLReader.parse(Self.bytes("<tt>" + String(repeating: "<div>", count: 10_000)))
        _ = try? TTMLReader.parse(Self.bytes("<tt><p begin=\"99999999999999999999h\" end=\"1e308s\">x</p></tt>"))
        _ = try? WebVTTReader.parse(Self.bytes("WEBVTT\n\n999999999:00:00.000 --> 9999999999999999999:00:00.000\nx\n"))
        #expect(Timestamp.parse("99999999999999999999:00.000") == nil)
    }

    @Test func sidecarFormatByExtension() {
        #expect(SidecarFormat(path: "/a/b.VTT") == .webVTT)
        #expect(SidecarFormat(path: "http://h/x.srt?sig=1") == .srt)
        #expect(SidecarFormat(path: "x.dfxp") == .ttml)
        #expect(SidecarFormat(path: "x.ismt") == nil)
        #expect(SidecarFormat(path: "dir.vtt/x") == nil)
    }

    // MARK: wvtt samples

    @Test func cuesBecomeNonOverlappingWVTTSamples() throws {
        let cues = [Cue(start: 500, end: 2000, text: "a", identifier: "id"),
                    Cue(start: 1500, end: 3000, text: "b", settings: "align:start")]
        // Timescale 90 kHz, splits at 1 s and 4 s, track end 5 s.
        let track = try CueTrack.track(.webVTT, cues: cues, trackID: 1, language: "eng", timescale: 90_000,
                                       end: 450_000, splits: [90_000, 360_000], name: "t")
        let table = track.samples
        let times = Array(table.decodeTimes)
        #expect(times == [0, 45_000, 90_000, 135_000, 180_000, 270_000, 360_000])
        #expect(Array(table.durations).reduce(0) { $0 + Int64($1) } == 450_000)
        #expect(track.sampleEntryType == "wvtt" && track.sampleEntry == WebVTTTrack.sampleEntry())
        // Sample 0 is empty (vtte), sample 3 holds both cues.
        #expect(Array(track.inlineSample(0) ?? []) == [0, 0, 0, 8, 0x76, 0x74, 0x74, 0x65])
        #expect(try WebVTTTrack.cues(in: Array(track.inlineSample(3) ?? []), start: 0, duration: 1).map(\.text) == ["a", "b"])
        // Read back, the pieces join into the original cues.
        let back = try TextSamples.cues(of: track) { Array(track.inlineSample($0) ?? []) }
        #expect(back == cues)
    }

    @Test func cuesAreClippedToTheTrackEnd() throws {
        let table = try CueTrack.track(.webVTT, cues: [Cue(start: 0, end: 10_000, text: "x"), Cue(start: 20_000, end: 21_000, text: "y")],
                                       trackID: 1, language: "eng", timescale: 1000, end: 5000, splits: [], name: "t").samples
        #expect(table.count == 1 && table.durations[0] == 5000)
    }

    // MARK: Writers

    @Test func webVTTSegmentRepeatsCuesSpanningItsBoundaries() {
        let cues = [Cue(start: 500, end: 2000, text: "a", identifier: "one"),
                    Cue(start: 3000, end: 5250, text: "b\n\nc", settings: "line:90%"),
                    Cue(start: 9000, end: 9800, text: "z")]
        let first = WebVTTWriter.segment(cues: cues, start: 0, end: 4000, mpegts: 900_000)
        #expect(first == "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n\n"
            + "one\n00:00:00.500 --> 00:00:02.000\na\n\n00:00:03.000 --> 00:00:05.250 line:90%\nb\nc\n\n")
        let second = WebVTTWriter.segment(cues: cues, start: 4000, end: 8000, mpegts: 0)
        #expect(second.contains("00:00:03.000 --> 00:00:05.250") && !second.contains("00:00:09.000"))
        #expect(WebVTTWriter.segment(cues: cues, start: 6000, end: 8000, mpegts: 0)
            == "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n")
    }

    @Test func ttmlDocumentFromWebVTTPayload() {
        let doc = String(decoding: TTMLWriter.document(cues: [Cue(start: 1000, end: 2000, text: "<i>a</i> &amp; b\nc")],
                                                      language: "en", offset: 40), as: UTF8.self)
        #expect(doc.contains("<p begin=\"00:00:01.040\" end=\"00:00:02.040\">a &amp; b<br/>c</p>"))
        #expect((try? TTMLReader.parse(Array(doc.utf8))) == [Cue(start: 1040, end: 2040, text: "a &amp; b\nc")])
    }

    /// References in a WebVTT payload are resolved by the XML module: what is not a reference
    /// to an XML character stays as written (the scanner's decoder turned `&#1;` into U+0001,
    /// which no XML document may hold).
    @Test func ttmlPlainLinesResolveReferences() {
        #expect(TTMLWriter.plainLines("<b>a</b> &lt;&amp;&gt; &#x41;\n&nbsp; &#1; & b")
            == ["a <&> A", "&nbsp; &#1; & b"])
        let doc = TTMLWriter.document(cues: [Cue(start: 0, end: 1000, text: "&#1; &nbsp;")], language: "en")
        #expect(String(decoding: doc, as: UTF8.self).contains(">&amp;#1; &amp;nbsp;</p>"))
        #expect((try? TTMLReader.parse(doc)) == [Cue(start: 0, end: 1000, text: "&amp;#1; &amp;nbsp;")])
    }

    // MARK: Through the engine

    static func temporaryDirectory() -> String {
        var template = Array("/tmp/origo-subs-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress, let made = mkdtemp(base) else { return "/tmp" }
            return String(cString: made)
        }
    }

    static func write(_ path: String, _ text: String) {
        guard let f = fopen(path, "w") else { return }
        _ = text.withCString { fputs($0, f) }
        fclose(f)
    }

    @Test func sidecarSubtitlesInEveryFormat() throws {
        let dir = Self.temporaryDirectory()
        Self.write(dir + "/eng.vtt", "WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nHello\n")
        Self.write(dir + "/x.ism", """
            <smil xmlns="http://www.w3.org/2001/SMIL20/Language"><body><switch>
            <video src="\(Fixtures.path("progressive.mp4"))"/>
            <textstream src="eng.vtt" systemBitrate="1000" systemLanguage="eng"/>
            </switch></body></smil>
            """)
        let engine = Engine()
        func get(_ path: String) -> (EngineResponse, String) {
            let r = engine.handle(EngineRequest(method: "GET", manifestPath: dir + "/x.ism", virtualPath: path, query: nil))
            var out: [UInt8] = []
            for piece in r.body { if case .bytes(let b) = piece { out += b } }
            return (r, String(decoding: out, as: UTF8.self))
        }
        let (master, masterText) = get(".m3u8")
        #expect(master.status == 200)
        #expect(masterText.contains("#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"textstream\",LANGUAGE=\"en\",NAME=\"English\""))
        #expect(masterText.contains("URI=\"x-textstream_eng=1000.m3u8\""))
        #expect(masterText.contains("SUBTITLES=\"textstream\""))
        let (_, playlist) = get("x-textstream_eng=1000.m3u8")
        #expect(playlist.contains("x-textstream_eng=1000-1.webvtt"))
        let (segment, vtt) = get("x-textstream_eng=1000-1.webvtt")
        #expect(segment.status == 200 && segment.contentType == "text/vtt")
        #expect(vtt.hasPrefix("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n"))
        #expect(vtt.contains("00:00:00.500 --> 00:00:01.500\nHello\n"))
        let (_, mpd) = get(".mpd")
        #expect(mpd.contains("contentType=\"text\"") && mpd.contains("codecs=\"wvtt\""))
        let (initSegment, _) = get("x-textstream_eng=1000.dash")
        #expect(initSegment.status == 200)
        let (_, smooth) = get("Manifest")
        #expect(smooth.contains("Type=\"text\"") && smooth.contains("FourCC=\"TTML\""))
        #expect(get("x-textstream_eng=1000-99.webvtt").0.status == 404)
        #expect(get("x-video=1-1.webvtt").0.status == 404)
    }

    @Test func remoteSidecarIsReadThroughTheUpstreamAndRevalidated() throws {
        let u = FakeUpstream()
        let base = "http://storage/v/"
        u.objects[base + "movie.mp4"] = try Fixtures.bytes("progressive.mp4")
        u.objects[base + "en.vtt"] = Self.bytes("WEBVTT\n\n00:00:00.500 --> 00:00:01.000\nOne\n")
        u.objects[base + "x.ism"] = Self.bytes("""
            <smil><body><switch><video src="movie.mp4"/>
            <textstream src="en.vtt" systemBitrate="1000" systemLanguage="eng"/></switch></body></smil>
            """)
        let clock = ClockBox()
        let loader = PresentationLoader(indexCacheBytes: 1 << 26, presentationCacheBytes: 1 << 26, remoteTTL: 60,
                                        now: { clock.value })
        func texts() throws -> [String] {
            let loaded = try loader.load(manifestPath: base + "x.ism", upstream: u, maxIndexBytes: 0)
            guard let t = loaded.presentation.track(token: "textstream_eng=1000")?.track else { return [] }
            #expect(loaded.sources.contains { $0.path == base + "en.vtt" })
            return try TextSamples.cues(of: t) { Array(t.inlineSample($0) ?? []) }.map(\.text)
        }
        #expect(try texts() == ["One"])
        u.objects[base + "en.vtt"] = Self.bytes("WEBVTT\n\n00:00:00.500 --> 00:00:01.000\nTwo\n")
        #expect(try texts() == ["One"])       // within the TTL
        clock.value = 61
        #expect(try texts() == ["Two"])       // revalidated: the changed file is read again
        u.objects[base + "en.vtt"] = Self.bytes("not WebVTT")
        clock.value = 200
        #expect(throws: SubtitleError.self) { try texts() }
    }

    @Test func fragmentedWVTTInputIsReadLikeASidecar() throws {
        // A CMAF text file (`.cmft`) written by our own fragment writer from a sidecar's track.
        let cues = [Cue(start: 500, end: 1500, text: "Hello", identifier: "a"),
                    Cue(start: 1200, end: 2600, text: "<i>World</i>", settings: "align:start")]
        let track = try CueTrack.track(.webVTT, cues: cues, trackID: 3, language: "fra", timescale: 1000, end: 3000,
                                       splits: [1000, 2000], name: "t")
        var file = FragmentWriter.initSegment(for: track)
        for (k, range) in [0..<2, 2..<4, 4..<track.samples.count].enumerated() {
            for piece in try FragmentWriter.mediaSegment(track: track, samples: range, sequenceNumber: UInt32(k + 1)) {
                if case .bytes(let b) = piece { file += b }
            }
        }
        let dir = Self.temporaryDirectory()
        let f = fopen(dir + "/subs.cmft", "w")
        _ = file.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        let index = try MP4Reader.read(LocalFileReader(path: dir + "/subs.cmft"), locator: dir + "/subs.cmft")
        let text = try #require(index.tracks.first)
        #expect(text.kind == .text && text.sampleEntryType == "wvtt" && text.language == "fra")
        let reader = try LocalFileReader(path: dir + "/subs.cmft")
        let back = try TextSamples.cues(of: text) { i in
            try reader.read(at: text.samples.offsets[i], count: Int(text.samples.sizes[i]))
        }
        #expect(back == cues)
        // And through the engine, as a `<textstream>` of a presentation.
        Self.write(dir + "/x.ism", """
            <smil><body><switch><video src="\(Fixtures.path("progressive.mp4"))"/>
            <textstream src="subs.cmft" systemBitrate="1000"/></switch></body></smil>
            """)
        let r = Engine().handle(EngineRequest(method: "GET", manifestPath: dir + "/x.ism",
                                              virtualPath: "x-textstream_fra=1000-1.webvtt", query: nil))
        var body: [UInt8] = []
        for piece in r.body { if case .bytes(let b) = piece { body += b } }
        #expect(r.status == 200)
        #expect(String(decoding: body, as: UTF8.self).contains("a\n00:00:00.500 --> 00:00:01.500\nHello\n"))
    }
}
