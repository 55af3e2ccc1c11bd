import Testing
@testable import Engine
@testable import HLS
@testable import MediaModel
import PlayerURL

/// `hls.client_manifest_version`, audio-only variants and I-frame playlists.
@Suite struct HLSVersionTests {
    func presentation(audioLanguages: [String] = ["eng", "fra"]) -> Presentation {
        var (video, audio) = syntheticTracks(seconds: 10, gop: 50)
        video.codec = .avc(AVCConfiguration(profile: 0x64, compatibility: 0, level: 0x1F, nalLengthSize: 4, sps: [], pps: []))
        audio.codec = .aac(AACConfiguration(objectType: 2, samplingFrequencyIndex: 3, sampleRate: 48000, channelConfiguration: 2, specificConfig: [0x11, 0x90]))
        var tracks = [PresentationTrack(track: video, name: "video", bitrate: 800000, language: "und")]
        for lang in audioLanguages {
            var a = audio
            a.language = lang
            tracks.append(PresentationTrack(track: a, name: "audio_\(lang)", bitrate: 64000, language: lang))
        }
        return Presentation(tracks: tracks)
    }

    func writer(_ p: Presentation, _ container: HLSLayout.Container, version: Int,
                audioOnly: Bool = true) throws -> HLSPlaylistWriter {
        let s = try #require(Segmentation.make(tracks: p.tracks.map(\.track), minimumLength: .seconds(4)))
        return HLSPlaylistWriter(presentation: p, segmentation: s, container: container,
                                 options: HLSOptions(clientVersion: version, audioOnlyVariants: audioOnly),
                                 urls: ChildURL(base: "movie", query: ""))
    }

    func version(_ playlist: String) -> Int? {
        playlist.split(separator: "\n").first { $0.hasPrefix("#EXT-X-VERSION:") }
            .flatMap { Int($0.dropFirst("#EXT-X-VERSION:".count)) }
    }

    func uris(_ playlist: String) -> [String] {
        playlist.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
    }

    /// Seconds of every `EXTINF` of a playlist.
    func durations(_ playlist: String) -> [Double] {
        playlist.split(separator: "\n").filter { $0.hasPrefix("#EXTINF:") }
            .compactMap { Double($0.dropFirst("#EXTINF:".count).prefix { $0 != "," }) }
    }

    @Test(arguments: [1, 3])
    func versionsBelowFourMuxTheFirstAudioAndHaveNoMediaGroups(_ v: Int) throws {
        let w = try writer(presentation(), .transportStream, version: v)
        let master = w.master()
        #expect(version(master) == v)
        #expect(!master.contains("#EXT-X-MEDIA:"))
        #expect(!master.contains("I-FRAME"))
        #expect(uris(master) == ["movie-audio_eng=64000-video=800000.m3u8",
                                 "movie-audio_eng=64000.m3u8", "movie-audio_fra=64000.m3u8"])
        let media = w.media(tracks: [w.presentation.tracks[1], w.presentation.tracks[0]])
        #expect(version(media) == v)
        #expect(media.contains("#EXT-X-INDEPENDENT-SEGMENTS\n"))
        if v == 1 {
            #expect(media.contains("#EXTINF:4,\nmovie-audio_eng=64000-video=800000-1.ts\n"))
            #expect(media.contains("#EXTINF:2,\n"))
        } else {
            #expect(media.contains("#EXTINF:4.000,\n"))
        }
    }

    @Test(arguments: [4, 5, 7])
    func versionFourAndUpGroupAudioAndListIFramePlaylists(_ v: Int) throws {
        let w = try writer(presentation(), .transportStream, version: v)
        let master = w.master()
        // The highest version it lists: the I-frame playlist's 4 (media playlists need 3).
        #expect(version(master) == 4)
        #expect(master.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio-aacl\",LANGUAGE=\"en\",NAME=\"English\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"movie-audio_eng=64000.m3u8\""))
        #expect(master.contains("LANGUAGE=\"fr\",NAME=\"French\",DEFAULT=NO,AUTOSELECT=YES"))
        #expect(master.contains("#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH="))
        #expect(master.contains(",CODECS=\"avc1.64001F\",RESOLUTION=320x180,URI=\"keyframes/movie-video=800000.m3u8\"\n"))
        // Video variants first, then the audio-only ones.
        #expect(uris(master) == ["movie-video=800000.m3u8", "movie-audio_eng=64000.m3u8", "movie-audio_fra=64000.m3u8"])
        #expect(master.contains("CODECS=\"mp4a.40.2\"\nmovie-audio_fra=64000.m3u8\n"))
        #expect(version(w.media(tracks: [w.presentation.tracks[0]])) == 3)
        let iframes = w.iFrames(track: w.presentation.tracks[0])
        #expect(version(iframes) == 4)
        #expect(iframes.contains("#EXT-X-I-FRAMES-ONLY\n"))
        #expect(!iframes.contains("EXT-X-MAP"))
    }

    @Test func oneAudioTrackStaysMuxedAtVersionFour() throws {
        let w = try writer(presentation(audioLanguages: ["eng"]), .transportStream, version: 4)
        let master = w.master()
        #expect(!master.contains("#EXT-X-MEDIA:"))
        #expect(uris(master) == ["movie-audio_eng=64000-video=800000.m3u8", "movie-audio_eng=64000.m3u8"])
    }

    @Test(arguments: [1, 3, 4, 5, 7])
    func fmp4IsVersionSixWhateverTheSetting(_ v: Int) throws {
        let w = try writer(presentation(), .fragmentedMP4, version: v)
        let master = w.master()
        #expect(version(master) == 6)
        #expect(master.contains("#EXT-X-MEDIA:TYPE=AUDIO"))
        #expect(version(w.media(tracks: [w.presentation.tracks[0]])) == 6)
        let iframes = w.iFrames(track: w.presentation.tracks[0])
        #expect(version(iframes) == 5)
        #expect(iframes.contains("#EXT-X-MAP:URI=\"movie-video=800000.m4s\"\n"))
        #expect(uris(iframes).first == "movie-video=800000-1.m4s")
    }

    @Test func noAudioOnlyDropsTheAudioOnlyVariants() throws {
        for v in [1, 4] {
            let master = try writer(presentation(), .transportStream, version: v, audioOnly: false).master()
            #expect(uris(master).allSatisfy { $0.contains("video=") })
        }
        // Without video the audio tracks are the variants, option or not.
        let audioOnly = try writer(presentation().filtered(.audio), .transportStream, version: 4, audioOnly: false).master()
        #expect(uris(audioOnly) == ["movie-audio_eng=64000.m3u8", "movie-audio_fra=64000.m3u8"])
        #expect(!audioOnly.contains("I-FRAME"))
    }

    @Test func iFramePlaylistListsEveryKeyFrameAndSumsToThePresentation() throws {
        let w = try writer(presentation(), .transportStream, version: 4)
        let video = w.presentation.tracks[0]
        let iframes = w.iFrames(track: video)
        // 10 s at 25 fps with a key frame every 50 frames: 5 key frames, 2 s apart.
        #expect(durations(iframes) == [2, 2, 2, 2, 2])
        #expect(uris(iframes) == (1...5).map { "movie-video=800000-\($0).ts" })
        let media = durations(w.media(tracks: [video]))
        #expect(abs(durations(iframes).reduce(0, +) - media.reduce(0, +)) < 0.001)
        let keyFrames = w.keyFrames(video)
        #expect(keyFrames.samples == [0, 50, 100, 150, 200])
        #expect(keyFrames.sample(number: 0) == nil && keyFrames.sample(number: 6) == nil)
        #expect(keyFrames.sample(number: 5) == 200)
    }

    @Test func irregularKeyFramesGiveExactDistances() throws {
        var table = SampleTable()
        let sync: Set<Int> = [0, 7, 30, 31, 90]
        for i in 0..<100 {
            table.append(decodeTime: Int64(i * 40), duration: 40, compositionOffset: 0, size: 500,
                         offset: UInt64(i * 500), isSync: sync.contains(i))
        }
        let track = Track(trackID: 1, kind: .video, timescale: 1000, language: "und", sampleEntryType: "avc1",
                          sampleEntry: [], codec: .other, width: 64, height: 64, samples: table,
                          presentationOffset: 0, dataSource: "v.mp4")
        let k = KeyFrames(track: track, ranges: [0..<30, 30..<90, 90..<100])
        #expect(k.samples == [0, 7, 30, 31, 90])
        #expect(k.durations == [280, 920, 40, 2360, 400])
        #expect(k.durations.reduce(0, +) == 4000)
    }

    @Test func keyFramePathsParse() throws {
        let names: Set<String> = ["video", "audio_eng"]
        #expect(try VirtualPath.parse("keyframes/movie-video=800000.m3u8", trackNames: names) == .hlsIFramePlaylist(token: "video=800000"))
        #expect(try VirtualPath.parse("keyframes/movie-video=800000-12.ts", trackNames: names) == .hlsIFrameTSSegment(token: "video=800000", number: 12))
        #expect(try VirtualPath.parse("keyframes/movie-video=800000-3.m4s", trackNames: names) == .hlsIFrameFMP4Segment(token: "video=800000", number: 3))
        #expect(try VirtualPath.parse("keyframes/movie-video=800000.m4s", trackNames: names) == .hlsInit(token: "video=800000"))
        func status(_ path: String) -> Int? {
            do { _ = try VirtualPath.parse(path, trackNames: names); return nil } catch { return error.httpStatus }
        }
        #expect(status("keyframes/movie-video=800000-0.ts") == 400)
        #expect(status("keyframes/movie-video=800000-1234567890123456789.ts") == 400)
        #expect(status("keyframes/movie-audio_eng=1-video=800000.m3u8") == 400)
        #expect(status("keyframes/movie-other=1.m3u8") == 404)
        #expect(status("keyframes/movie.m3u8") == 404)
        #expect(status("keyframes/movie-video=800000.mpd") == 404)
        #expect(status("keyframes/keyframes/movie-video=800000.m3u8") == 404)
        #expect(status("keyframes/") == 404)
        #expect(ChildURL(base: "movie", query: "a=1").hlsIFramePlaylist(token: "video=800000")
                == "keyframes/movie-video=800000.m3u8?a=1")
    }

    @Test func clientManifestVersionValues() throws {
        #expect(try PlayoutOptions.clientManifestVersion(nil) == 4)
        for v in [1, 3, 4, 5, 7] { #expect(try PlayoutOptions.clientManifestVersion(String(v)) == v) }
        for bad in ["0", "2", "6", "8", "", "+3", "04", "abc", "999"] {
            #expect(throws: (any Error).self) { try PlayoutOptions.clientManifestVersion(bad) }
        }
    }
}

extension Presentation {
    fileprivate func filtered(_ kind: TrackKind) -> Presentation { Presentation(tracks: tracks(of: kind)) }
}
