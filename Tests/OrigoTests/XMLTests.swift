import Testing
@testable import XML

private func parse(_ s: String, limits: XMLLimits = .default) throws(XMLError) -> XMLElement {
    try XMLParser.parse(Array(s.utf8), limits: limits)
}

/// The error a document produces, or nil when it parses.
private func failure(_ s: String, limits: XMLLimits = .default) -> XMLError? {
    failure(Array(s.utf8), limits: limits)
}

private func failure(_ bytes: [UInt8], limits: XMLLimits = .default) -> XMLError? {
    do { _ = try XMLParser.parse(bytes, limits: limits); return nil } catch { return error }
}

/// An element's `content` as strings: text runs as they are, child elements as `<name>`.
private func pieces(_ element: XMLElement) -> [String] {
    element.content.map { piece in
        switch piece {
        case .text(let run): String(run)
        case .element(let child): "<\(child.name)>"
        }
    }
}

@Suite struct XMLParserTests {
    @Test func documentsInOtherEncodingsAreReadAsTheirDeclarationSays() throws {
        let text = "<r a=\"Été\">naïve – “quoted” €</r>"
        // UTF-16 with either byte order mark.
        var le: [UInt8] = [0xFF, 0xFE], be: [UInt8] = [0xFE, 0xFF]
        for unit in ("<?xml version=\"1.0\" encoding=\"UTF-16\"?>" + text).utf16 {
            le += [UInt8(unit & 0xFF), UInt8(unit >> 8)]
            be += [UInt8(unit >> 8), UInt8(unit & 0xFF)]
        }
        for bytes in [le, be] {
            let root = try XMLParser.parse(bytes)
            #expect(root.attribute("a") == "Été" && root.text == "naïve – “quoted” €")
        }
        // Latin-1 and windows-1252, as declared.
        let latin1 = Array("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r a=\"".utf8) + [0xC9, 0x74, 0xE9]
            + Array("\">na".utf8) + [0xEF] + Array("ve</r>".utf8)
        let root = try XMLParser.parse(latin1)
        #expect(root.attribute("a") == "Été" && root.text == "naïve")
        let cp1252 = Array("<?xml version='1.0' encoding='windows-1252' ?><r>".utf8) + [0x93, 0x80, 0x94, 0x96]
            + Array("</r>".utf8)
        #expect(try XMLParser.parse(cp1252).text == "“€”–")
        // UTF-8 declared or not: read as it is; anything else is refused, never guessed.
        #expect(try XMLParser.parse(Array("<?xml version=\"1.0\" encoding=\"utf-8\"?><r>é</r>".utf8)).text == "é")
        #expect(throws: XMLError.self) { try XMLParser.parse(Array("<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><r/>".utf8)) }
        #expect(throws: XMLError.self) { try XMLParser.parse([0xFF, 0xFE, 0x3C]) }          // odd length
        #expect(throws: XMLError.self) { try XMLParser.parse([0xFF, 0xFE, 0x00, 0xD8, 0x3C, 0x00]) }  // lone surrogate
        #expect(throws: XMLError.self) { try XMLParser.parse(Array("<r>".utf8) + [0xE9] + Array("</r>".utf8)) }
    }

    @Test func elementsAttributesAndText() throws {
        let root = try parse("""
            <?xml version="1.0" encoding="utf-8"?>
            <!-- a comment -->
            <smil xmlns="http://www.w3.org/2001/SMIL20/Language" xml:lang='en'>
              <head><meta name="a" content="1"/></head>
              <body>
                <switch>
                  <video src="v.mp4" systemBitrate="400000"/>
                  <audio src="a.mp4"><param name="trackID" value="2"/></audio>
                </switch>
              </body>
              <title>  Hello   </title>
            </smil>
            """)
        #expect(root.name == "smil")
        #expect(root.attribute("xmlns") == "http://www.w3.org/2001/SMIL20/Language")
        #expect(root.attribute("xml:lang") == "en")
        #expect(root.attribute(localName: "lang") == "en")
        #expect(root.children.map(\.name) == ["head", "body", "title"])
        let tracks = try #require(root.firstChild(named: "body")?.firstChild(named: "switch")).children
        #expect(tracks.map(\.name) == ["video", "audio"])
        #expect(tracks.first?.attributes.map(\.0) == ["src", "systemBitrate"])
        #expect(tracks.last?.firstChild(named: "param")?.attribute("value") == "2")
        #expect(root.firstChild(named: "title")?.text == "  Hello   ")
        #expect(root.firstChild(named: "title")?.trimmedText == "Hello")
        #expect(root.children(named: "head").count == 1)
        #expect(root.attribute("missing") == nil)
    }

    @Test func prefixedNamesMatchByLocalName() throws {
        let root = try parse(#"<s:smil xmlns:s="urn:x"><s:body/><body/><other:body/></s:smil>"#)
        #expect(root.name == "s:smil")
        #expect(root.localName == "smil")
        #expect(root.hasLocalName("smil"))
        #expect(root.children(localName: "body").count == 3)
        #expect(root.firstChild(named: "body")?.name == "body")
        #expect(root.firstChild(localName: "body")?.name == "s:body")
    }

    @Test func entitiesAndCharacterReferences() throws {
        let root = try parse(#"<a v="&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#x1F600;">x &amp; y &#169;</a>"#)
        #expect(root.attribute("v") == "<>&'\"AB😀")
        #expect(root.text == "x & y ©")
    }

    @Test func cdataCommentsAndProcessingInstructions() throws {
        let root = try parse("<a>one<!-- <b> --><![CDATA[<two> & ]]><?pi stuff?>three</a>")
        #expect(root.text == "one<two> & three")
        #expect(root.children.isEmpty)
    }

    @Test func lineEndsAndAttributeWhitespace() throws {
        let root = try parse("<a v=\"x\ty\r\nz\">1\r\n2\r3</a>")
        #expect(root.attribute("v") == "x y z")
        #expect(root.text == "1\n2\n3")
    }

    @Test func byteOrderMarkAndDoctypeAreSkipped() throws {
        let doc = [0xEF, 0xBB, 0xBF] + Array("""
            <?xml version="1.0"?>
            <!DOCTYPE smil [
              <!ENTITY lol "lol">
              <!-- ] > -->
              <!ATTLIST smil a CDATA "x>y">
            ]>
            <smil/>
            """.utf8)
        let root = try XMLParser.parse(doc)
        #expect(root.name == "smil")
    }

    @Test func declaredEntitiesAreNeverExpanded() {
        let laughs = """
            <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
            <lolz>&lol2;</lolz>
            """
        let error = failure(laughs)
        #expect(error?.reason == "undefined entity &lol2;")
        #expect(error?.line == 2)
        #expect(error?.httpStatus == 400)
    }

    @Test func utf8NamesAndText() throws {
        let root = try parse("<título atributo=\"ñ\">日本語</título>")
        #expect(root.name == "título")
        #expect(root.attribute("atributo") == "ñ")
        #expect(root.text == "日本語")
    }

    @Test func malformedDocumentsReportPosition() throws {
        let e = try #require(failure("<a>\n  <b></c>\n</a>"))
        #expect(e.line == 2)
        #expect(e.column == 6)
        #expect(e.reason.contains("</c>"))
        #expect(e.logReason.hasPrefix("malformed XML at line 2, column 6"))
    }

    @Test(arguments: [
        "", "   ", "text", "<", "<a", "<a>", "<a></a", "<a><b></a>", "<a></b>", "<a/><b/>", "<a/>x",
        "<a b></a>", "<a b=c></a>", "<a b=\"c></a>", "<a b=\"1\"b2=\"2\"/>", "<a b=\"1\" b=\"2\"/>",
        "<a b=\"<\"/>", "<a>&</a>", "<a>&;</a>", "<a>&foo;</a>", "<a>&amp</a>", "<a>&#;</a>", "<a>&#x;</a>",
        "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&#xFFFE;</a>", "<a>&#x110000;</a>",
        "<a>&#99999999999999999999999;</a>", "<a>&#12a;</a>", "<a><!-- x</a>", "<a><![CDATA[x</a>",
        "<a><?pi</a>", "<!DOCTYPE a [ <a/>", "<a><!DOCTYPE b></a>", "<!DOCTYPE a><!DOCTYPE a><a/>",
        "<a>\u{1}</a>", "<a b=\"\u{0}\"/>", "<1a/>", "< a/>", "<a/ >", "</a>", "<a></ a>", "<a><!ELEMENT x></a>",
    ])
    func malformed(_ doc: String) {
        #expect(failure(doc) != nil, "accepted: \(doc.debugDescription)")
    }

    @Test func invalidUTF8IsRejected() {
        #expect(failure([0x3C, 0x61, 0x3E, 0xFF, 0xFE, 0x3C, 0x2F, 0x61, 0x3E]) != nil)
        #expect(failure(Array("<a b=\"".utf8) + [0xC3] + Array("\"/>".utf8)) != nil)
        #expect(failure([0x3C, 0xC3, 0x28, 0x2F, 0x3E]) != nil)
    }

    @Test func deepNestingStopsAtTheLimit() {
        let deep = String(repeating: "<a>", count: 100_000) + String(repeating: "</a>", count: 100_000)
        #expect(failure(deep)?.reason == "elements nested deeper than 64")
        let ok = String(repeating: "<a>", count: 64) + String(repeating: "</a>", count: 64)
        #expect(failure(ok) == nil)
        let tooDeep = String(repeating: "<a>", count: 64) + "<b/>" + String(repeating: "</a>", count: 64)
        #expect(failure(tooDeep) != nil)
        #expect(failure(String(repeating: "<a>", count: 10_000)) != nil)
    }

    @Test func attributeAndElementCountsAreBounded() {
        let many = "<a " + (0..<10_000).map { "a\($0)=\"x\"" }.joined(separator: " ") + "/>"
        #expect(failure(many)?.reason == "more than 128 attributes in <a>")
        let allowed = "<a " + (0..<128).map { "a\($0)=\"x\"" }.joined(separator: " ") + "/>"
        #expect(failure(allowed) == nil)
        let duplicateLate = "<a " + (0..<20).map { "a\($0)=\"x\"" }.joined(separator: " ") + " a3=\"y\"/>"
        #expect(failure(duplicateLate)?.reason == "duplicate attribute a3 in <a>")
        let wide = "<a>" + String(repeating: "<b/>", count: 200) + "</a>"
        #expect(failure(wide, limits: XMLLimits(maxElements: 100))?.reason == "more than 100 elements")
        #expect(failure(wide) == nil)
    }

    @Test func limitErrorsSayWhichLimit() throws {
        #expect(failure(String(repeating: "<a>", count: 65))?.exceeded == .depth)
        let attributes = (0..<129).map { "a\($0)=\"x\"" }.joined(separator: " ")
        #expect(failure("<a " + attributes + "/>")?.exceeded == .attributesPerElement)
        #expect(failure("<a><b/><b/></a>", limits: XMLLimits(maxElements: 2))?.exceeded == .elements)
        #expect(try #require(failure("<a>")).exceeded == nil)
        #expect(try #require(failure("<a>&nbsp;</a>")).exceeded == nil)
    }

    /// An entity name goes into the message only when it is a name, so no line break or control
    /// byte of the input reaches a log line.
    @Test func undefinedEntityMessages() {
        #expect(failure("<a>&nbsp;</a>")?.reason == "undefined entity &nbsp;")
        #expect(failure("<a>&a\nb;</a>")?.reason == "malformed entity reference")
        #expect(failure("<a>&;</a>")?.reason == "malformed entity reference")
        #expect(failure("<a v=\"&1x;\"/>")?.reason == "malformed entity reference")
    }

    /// References in escaped text outside a document: the parser's own expansion, and what it
    /// would refuse kept as written.
    @Test func resolvingReferencesKeepsWhatIsNotAReference() {
        #expect(XMLParser.resolvingReferences(in: "a &amp; b &lt;i&gt; &#x41;&#66;&apos;&quot;") == "a & b <i> AB'\"")
        #expect(XMLParser.resolvingReferences(in: "&nbsp; & &&amp; &#0; &#X41; &#xD800; &amp")
            == "&nbsp; & && &#0; &#X41; &#xD800; &amp")
        #expect(XMLParser.resolvingReferences(in: "plain ü") == "plain ü")
    }

    @Test func truncatedPrefixesNeverTrap() {
        let doc = Array("""
            <?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "v">]><x a="1&amp;2" b='&#x41;'>t<![CDATA[c]]><!--c--><y/><?p?></x>
            """.utf8)
        for n in 0..<doc.count {
            #expect(failure(Array(doc[..<n])) != nil, "prefix \(n) accepted")
        }
        #expect(failure(doc) == nil)
    }
}

/// Mixed content: where each child sits in its parent's text, read back in order through `content`.
@Suite struct XMLMixedContentTests {
    @Test func textAndElementsInDocumentOrder() throws {
        let p = try parse(#"<p>Line one<br/>line <span a="1">two</span> &amp; more</p>"#)
        #expect(pieces(p) == ["Line one", "<br>", "line ", "<span>", " & more"])
        #expect(p.children.map(\.offsetInParentText) == [8, 13])
        #expect(pieces(try #require(p.firstChild(named: "span"))) == ["two"])
        // `children` and `text` keep their meaning.
        #expect(p.children.map(\.name) == ["br", "span"])
        #expect(p.text == "Line oneline  & more")
    }

    @Test func referencesCDATACommentsAndInstructionsBetweenElements() throws {
        let a = try parse("<a>x&lt;<b/>&#x41;<![CDATA[<c>]]><!-- z --><?pi?>y<c/><d/>&#233;</a>")
        #expect(pieces(a) == ["x<", "<b>", "A<c>y", "<c>", "<d>", "é"])
        #expect(a.text == "x<A<c>yé")
    }

    @Test func elementOnlyTextOnlyAndEmpty() throws {
        #expect(pieces(try parse("<a><b/><c></c></a>")) == ["<b>", "<c>"])
        #expect(pieces(try parse("<a>t</a>")) == ["t"])
        #expect(pieces(try parse("<a/>")).isEmpty)
        #expect(pieces(try parse("<a></a>")).isEmpty)
    }

    @Test func offsetsCountFromTheirOwnParent() throws {
        let a = try parse("<a>1<b>2<c/>3</b>4</a>")
        #expect(pieces(a) == ["1", "<b>", "4"])
        #expect(pieces(try #require(a.firstChild(named: "b"))) == ["2", "<c>", "3"])
    }

    /// Offsets are UTF-8 bytes of the normalized text: line ends are one `\n` each.
    @Test func multibyteTextAndLineEnds() throws {
        let a = try parse("<a>é\r\n<b/>ü\r<c/>\u{1F600}</a>")
        #expect(pieces(a) == ["é\n", "<b>", "ü\n", "<c>", "\u{1F600}"])
        #expect(a.children.map(\.offsetInParentText) == [3, 6])
    }

    @Test func orderIsPartOfEquality() throws {
        #expect(try parse("<a>x<b/></a>") != parse("<a><b/>x</a>"))
        #expect(try parse("<a>x<b/></a>") == parse("<a>x<!-- c --><b/></a>"))
    }

    /// Comments, instructions and references add no runs: the pieces stay at most two per child
    /// plus one, and mixed content stores one offset per element, nothing per run.
    @Test func runsAreBoundedByTheChildren() throws {
        #expect(pieces(try parse("<a>" + String(repeating: "x<!---->&amp;<?p?>", count: 10_000) + "</a>")).count == 1)
        let wide = try parse("<a>" + String(repeating: "t<b/>", count: 1000) + "t</a>")
        #expect(wide.content.count == 2001)
    }

    /// Offsets edited by hand (out of range, out of order, inside a character) never trap.
    @Test func offsetsOutOfRangeAreClamped() {
        let a = XMLElement(name: "a", children: [XMLElement(name: "b", offsetInParentText: 99),
                                                 XMLElement(name: "c", offsetInParentText: -5)], text: "xy")
        #expect(pieces(a) == ["xy", "<b>", "<c>"])
        let split = XMLElement(name: "a", children: [XMLElement(name: "b", offsetInParentText: 1)], text: "é")
        #expect(pieces(split).filter { $0 != "<b>" }.joined() == "é")
    }
}

@Suite struct XMLWriterTests {
    @Test func indentationAndEmptyElements() {
        var w = XMLWriter()
        w.declaration()
        w.comment("Created with Origo")
        w.open("MPD", attributes: [("xmlns", "urn:x"), ("type", "static")])
        w.open("Period", attributes: [("id", "1")])
        w.element("BaseURL", text: "dash/")
        w.open("SegmentTimeline", attributes: [])
        w.empty("S", attributes: [("t", "0"), ("d", "2")])
        w.close()
        w.open("Empty")
        w.close()
        let text = String(decoding: w.finish(), as: UTF8.self)
        #expect(text == """
            <?xml version="1.0" encoding="utf-8"?>
            <!--Created with Origo-->
            <MPD xmlns="urn:x" type="static">
              <Period id="1">
                <BaseURL>dash/</BaseURL>
                <SegmentTimeline>
                  <S t="0" d="2"/>
                </SegmentTimeline>
                <Empty/>
              </Period>
            </MPD>

            """)
    }

    @Test func escapingRoundTripsThroughTheParser() throws {
        let nasty = "a&b<c>d\"e'f\tg\nh\ri ü 😀"
        var w = XMLWriter()
        w.open("x", attributes: [("v", nasty)])
        w.text(nasty)
        w.close()
        let root = try XMLParser.parse(w.finish())
        #expect(root.attribute("v") == nasty)
        #expect(root.text == nasty)
    }

    @Test func commentsStayWellFormed() throws {
        var w = XMLWriter()
        w.comment("a--b-")
        w.empty("r")
        let bytes = w.finish()
        #expect(String(decoding: bytes, as: UTF8.self) == "<!--a- -b- -->\n<r/>\n")
        #expect(try XMLParser.parse(bytes).name == "r")
    }

    @Test func closeWithoutOpenIsHarmless() {
        var w = XMLWriter()
        w.close()
        #expect(w.finish().isEmpty)
        var v = XMLWriter()
        v.open("a")
        v.open("b")
        v.text("t")
        #expect(v.depth == 2)
        #expect(String(decoding: v.finish(), as: UTF8.self) == "<a>\n  <b>t</b>\n</a>\n")
    }
}
