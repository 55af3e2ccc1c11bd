import Testing
import XML
@testable import ServerManifest

private func parse(_ s: String) throws(ServerManifestError) -> ServerManifest {
    try ServerManifest.parse(Array(s.utf8))
}

private func failure(_ s: String) -> ServerManifestError? {
    do { _ = try parse(s); return nil } catch { return error }
}

@Suite struct ServerManifestTests {
    /// The USP 1.4.57 example from the reference notes (§2.1), completed with a video entry.
    static let uspExample = """
        <?xml version="1.0" encoding="utf-8"?>
        <!--Created with Unified Streaming Platform(version=1.4.57)-->
        <smil xmlns="http://www.w3.org/2001/SMIL20/Language">
          <head>
            <meta name="clientManifestRelativePath" content="10004284.ismc" />
            <meta name="creator" content="Unified Streaming Platform (USP)" />
            <meta name="lookahead_fragments" content="2" />
            <meta name="dvr_window_length" content="30" />
            <meta name="archive_segment_length" content="0" />
            <meta name="archiving" content="false" />
            <meta name="iss_minimum_fragment_length" content="0" />
            <meta name="hls_minimum_fragment_length" content="0" />
            <meta name="hds_minimum_fragment_length" content="0" />
            <meta name="mpd_minimum_fragment_length" content="0" />
          </head>
          <body>
            <switch>
              <audio src="10004284-hls64k.mp4" systemBitrate="16021">
                <param name="trackID" value="2" valueType="data" />
                <param name="trackName" value="audio" valueType="data" />
                <param name="TimeScale" value="24000" valueType="data" />
                <param name="SamplingRate" value="24000" valueType="data" />
              </audio>
              <video src="10004284-hls400k.mp4" systemBitrate="400000" systemLanguage="eng">
                <param name="trackID" value="1" valueType="data" />
                <param name="MaxWidth" value="640" valueType="data" />
              </video>
            </switch>
          </body>
        </smil>
        """

    @Test func readsTheReferenceExample() throws {
        let m = try parse(Self.uspExample)
        #expect(m.meta.count == 10)
        #expect(m.meta.first == ManifestMeta(name: "clientManifestRelativePath", content: "10004284.ismc"))
        #expect(m.options["hls_minimum_fragment_length"] == "0")
        #expect(m.options["dvr_window_length"] == "30")
        #expect(m.tracks.count == 2)
        let audio = try #require(m.tracks.first)
        #expect(audio.kind == .audio)
        #expect(audio.src == "10004284-hls64k.mp4")
        #expect(audio.systemBitrate == 16021)
        #expect(audio.systemLanguage == nil)
        #expect(audio.trackID == 2)
        #expect(audio.trackName == "audio")
        #expect(audio.params["SamplingRate"] == "24000")
        let video = try #require(m.tracks.last)
        #expect(video.kind == .video)
        #expect(video.trackID == 1)
        #expect(video.trackName == nil)
        #expect(video.systemLanguage == "eng")
    }

    @Test func paramGroupsFlattenIntoOptions() throws {
        let m = try parse("""
            <smil xmlns="http://www.w3.org/2001/SMIL20/Language">
              <head>
                <meta name="hls_playout" content="sample_aes" />
                <paramGroup id="hls">
                  <meta name="key" content=":8275ED0F" />
                  <meta name="minimum_fragment_length" content="48/25" />
                </paramGroup>
                <paramGroup id="widevine"><param name="key" value="KID:CEK" valuetype="data"/></paramGroup>
              </head>
              <body><switch><video src="v.mp4" systemBitrate="1"/></switch></body>
            </smil>
            """)
        #expect(m.paramGroups.map(\.id) == ["hls", "widevine"])
        #expect(m.options == [
            "hls_playout": "sample_aes", "hls.key": ":8275ED0F", "hls.minimum_fragment_length": "48/25",
            "widevine.key": "KID:CEK",
        ])
    }

    @Test func namespacesAndLayoutsFromTheWild() throws {
        // A CMS's PHP output: empty xmlns, empty head.
        let seed = try parse("""
            <?xml version="1.0" encoding="utf-8"?>
            <smil xmlns="http://www.w3.org/2001/SMIL20/Language">
              <head>
              </head>
              <body>
                <switch>
                  <audio src="http://example.com/a.mp4" systemBitrate="1"/>
                  <video src="http://example.com/a.mp4" systemBitrate="1"/>
                </switch>
              </body>
            </smil>
            """)
        #expect(seed.tracks.map(\.kind) == [.audio, .video])
        #expect(seed.meta.isEmpty)
        // Tracks straight under <smil>, with an empty default namespace.
        let bare = try parse(#"<smil xmlns=""><audio src="a.mp4" systemBitrate="1"/><video src="a.mp4"/></smil>"#)
        #expect(bare.tracks.map(\.kind) == [.audio, .video])
        #expect(bare.tracks.last?.systemBitrate == nil)
        // Prefixed SMIL elements, textstream, unknown elements ignored.
        let prefixed = try parse("""
            <s:smil xmlns:s="http://www.w3.org/2001/SMIL20/Language"><s:head><s:meta name="a" content="b"/><s:layout/></s:head>
            <s:body><s:switch><s:textstream src="t.ismt" systemLanguage="nld"><s:param name="trackID" value=" 3 "/></s:textstream>
            <s:img src="x.png"/></s:switch></s:body></s:smil>
            """)
        #expect(prefixed.options == ["a": "b"])
        #expect(prefixed.tracks == [ManifestTrack(kind: .textstream, src: "t.ismt", systemLanguage: "nld", params: ["trackID": "3"])])
    }

    @Test func roundTrip() throws {
        var m = ServerManifest()
        m.setOption("creator", "Origo")
        m.setOption("hls.fmp4", "true")
        m.setOption("hls.minimum_fragment_length", "4")
        m.setOption("mpd.minimum_fragment_length", "2")
        m.setOption("hls.fmp4", "false")
        var video = ManifestTrack(kind: .video, src: "movie dir/video & \"more\".mp4", systemBitrate: 1_200_000)
        video.trackID = 1
        video.params["MaxHeight"] = "720"
        var audio = ManifestTrack(kind: .audio, src: "/abs/audio.mp4", systemBitrate: 64000, systemLanguage: "eng")
        audio.trackID = 2
        audio.trackName = "audio_eng"
        let text = ManifestTrack(kind: .textstream, src: "subs<1>.mp4")
        m.tracks = [video, audio, text]
        #expect(m.paramGroups == [ManifestParamGroup(id: "hls", entries: [
            ManifestMeta(name: "fmp4", content: "false"), ManifestMeta(name: "minimum_fragment_length", content: "4"),
        ]), ManifestParamGroup(id: "mpd", entries: [ManifestMeta(name: "minimum_fragment_length", content: "2")])])

        let bytes = m.serialize()
        #expect(try ServerManifest.parse(bytes) == m)
        let written = String(decoding: bytes, as: UTF8.self)
        #expect(written.hasPrefix("""
            <?xml version="1.0" encoding="utf-8"?>
            <!--Created with Origo-->
            <smil xmlns="http://www.w3.org/2001/SMIL20/Language">
              <head>
                <meta name="creator" content="Origo"/>
                <paramGroup id="hls">
                  <meta name="fmp4" content="false"/>
            """))
        #expect(written.contains("""
                  <audio src="/abs/audio.mp4" systemBitrate="64000" systemLanguage="eng">
                    <param name="trackID" value="2" valuetype="data"/>
                    <param name="trackName" value="audio_eng" valuetype="data"/>
                  </audio>
                  <textstream src="subs&lt;1&gt;.mp4"/>
            """))
        // The reference example survives a round trip too.
        let usp = try parse(Self.uspExample)
        #expect(try ServerManifest.parse(usp.serialize()) == usp)
        // And an empty manifest.
        #expect(try ServerManifest.parse(ServerManifest().serialize()) == ServerManifest())
    }

    @Test func trackIDAndTrackNameAccessors() {
        var t = ManifestTrack(kind: .video, src: "v.mp4", params: ["TrackId": "7"])
        #expect(t.trackID == 7)
        t.trackID = 9
        #expect(t.params == ["trackID": "9"])
        t.trackID = nil
        #expect(t.params.isEmpty)
        t.trackName = "video_hd"
        #expect(t.param("TRACKNAME") == "video_hd")
    }

    @Test(arguments: [
        ("", "malformed XML"),
        ("<smil><body>", "malformed XML"),
        ("<mpd/>", "root element is <mpd>, not <smil>"),
        ("<smil><body><switch><video systemBitrate=\"1\"/></switch></body></smil>", "<video> without src"),
        ("<smil><body><switch><video src=\"  \"/></switch></body></smil>", "<video> without src"),
        ("<smil><body><video src=\"v\" systemBitrate=\"fast\"/></body></smil>", "systemBitrate \"fast\" of v is not a bitrate"),
        ("<smil><body><video src=\"v\" systemBitrate=\"-5\"/></body></smil>", "is not a bitrate"),
        ("<smil><body><video src=\"v\" systemBitrate=\"99999999999999999999999\"/></body></smil>", "is not a bitrate"),
        ("<smil><body><video src=\"v\"><param name=\"trackID\" value=\"4294967296\"/></video></body></smil>", "trackID"),
        ("<smil><body><video src=\"v\"><param name=\"trackID\" value=\"-1\"/></video></body></smil>", "trackID"),
        ("<smil><body><video src=\"v\"><param value=\"1\"/></video></body></smil>", "<param> without name"),
        ("<smil><head><meta content=\"1\"/></head></smil>", "<meta> without name"),
        ("<smil><head><paramGroup><meta name=\"a\" content=\"1\"/></paramGroup></head></smil>", "<paramGroup> without id"),
        ("<smil><body><seq><video src=\"v\"/></seq></body></smil>", "<seq> (a remix playlist) is not supported"),
        ("<smil><body><video src=\"&xxe;\"/></body></smil>", "undefined entity"),
    ])
    func badManifests(_ input: (String, String)) throws {
        let error = try #require(failure(input.0))
        #expect(error.httpStatus == 500)
        #expect(error.logReason.hasPrefix("bad server manifest: "))
        #expect(error.logReason.contains(input.1), "\(error.logReason)")
    }

    @Test func hostileInputsAreErrorsNotTraps() {
        let deep = "<smil><body>" + String(repeating: "<switch>", count: 5000) + "<video src=\"v\"/>"
            + String(repeating: "</switch>", count: 5000) + "</body></smil>"
        #expect(failure(deep)?.logReason.contains("nested deeper") == true)
        let attributes = "<smil><body><video src=\"v\" " + (0..<5000).map { "x\($0)=\"1\"" }.joined(separator: " ")
            + "/></body></smil>"
        #expect(failure(attributes)?.logReason.contains("attributes") == true)
        let tracks = "<smil><body><switch>" + String(repeating: "<video src=\"v\"/>", count: 200_000) + "</switch></body></smil>"
        #expect(failure(tracks)?.logReason.contains("elements") == true)
        #expect(failure("<smil><body><switch><video src=\"v\">") != nil)
        let bytes = Array(Self.uspExample.utf8)
        for n in stride(from: 0, to: bytes.count, by: 7) {
            #expect((try? ServerManifest.parse(Array(bytes[..<n]))) == nil)
        }
    }
}
