import Testing
@testable import HLS
@testable import MediaModel
import PlayerURL

@Suite struct HLSPlaylistTests {
    func presentation(audioLanguages: [String] = ["eng"]) -> Presentation {
        var (video, audio) = syntheticTracks(seconds: 10, gop: 50)
        video.codec = .avc(AVCConfiguration(profile: 0x64, compatibility: 0, level: 0x1F, nalLengthSize: 4, sps: [], pps: []))
        audio.codec = .aac(AACConfiguration(objectType: 2, samplingFrequencyIndex: 3, sampleRate: 48000, channelConfiguration: 2, specificConfig: [0x11, 0x90]))
        var tracks = [PresentationTrack(track: video, name: "video", bitrate: 800000, language: "und")]
        for lang in audioLanguages {
            var a = audio
            a.language = lang
            tracks.insert(PresentationTrack(track: a, name: "audio_\(lang)", bitrate: 64000, language: lang), at: 0)
        }
        return Presentation(tracks: tracks)
    }

    func writer(_ p: Presentation, _ container: HLSLayout.Container) throws -> HLSPlaylistWriter {
        let s = try #require(Segmentation.make(tracks: p.tracks.map(\.track), minimumLength: .seconds(4)))
        return HLSPlaylistWriter(presentation: p, segmentation: s, container: container,
                                 urls: ChildURL(base: "movie", query: "session_id=7"))
    }

    @Test func tsMasterMuxesTheSingleAudioTrack() throws {
        let master = try writer(presentation(), .transportStream).master()
        // Version 4 by default: the master lists an I-frame playlist (EXT-X-I-FRAMES-ONLY needs 4).
        #expect(master.hasPrefix("#EXTM3U\n#EXT-X-VERSION:4\n"))
        #expect(!master.contains("EXT-X-MEDIA:"))
        #expect(master.contains("CODECS=\"mp4a.40.2,avc1.64001F\",RESOLUTION=320x180,FRAME-RATE=25.000\n"))
        #expect(master.contains("\nmovie-audio_eng=64000-video=800000.m3u8?session_id=7\n"))
        // 1000-byte frames at 25 fps plus 300-byte audio frames: ~200 kbit/s video + ~112 kbit/s audio.
        let bandwidth = try #require(master.split(separator: "BANDWIDTH=").dropFirst().first?.prefix { $0.isNumber })
        #expect((300_000...380_000).contains(Int(bandwidth) ?? 0))
    }

    @Test func fmp4MasterGroupsAudio() throws {
        let master = try writer(presentation(audioLanguages: ["eng", "fra"]), .fragmentedMP4).master()
        // EXT-X-MAP needs 6 (RFC 8216 §7), nothing in these playlists needs 7.
        #expect(master.contains("#EXT-X-VERSION:6"))
        #expect(master.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio-aacl\",LANGUAGE=\"fr\",NAME=\"French\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"movie-audio_fra=64000.m3u8?session_id=7\""))
        #expect(master.contains("LANGUAGE=\"en\",NAME=\"English\",DEFAULT=NO"))
        #expect(master.contains("AUDIO=\"audio-aacl\"\nmovie-video=800000.m3u8?session_id=7\n"))
    }

    @Test func mediaPlaylistListsEverySegment() throws {
        let w = try writer(presentation(), .transportStream)
        let p = w.presentation
        let media = w.media(tracks: [p.tracks[0], p.tracks[1]])
        #expect(media.contains("#EXT-X-TARGETDURATION:4\n"))
        #expect(media.contains("#EXTINF:4.000,\nmovie-audio_eng=64000-video=800000-1.ts?session_id=7\n"))
        #expect(media.contains("#EXTINF:2.000,\nmovie-audio_eng=64000-video=800000-3.ts?session_id=7\n#EXT-X-ENDLIST\n"))
        let fmp4 = try writer(presentation(), .fragmentedMP4).media(tracks: [p.tracks[1]])
        #expect(fmp4.contains("#EXT-X-MAP:URI=\"movie-video=800000.m4s?session_id=7\"\n"))
        #expect(fmp4.contains("movie-video=800000-2.m4s?session_id=7\n"))
    }
}
