import Testing
@testable import DASH
@testable import MediaModel
import PlayerURL

@Suite struct MPDWriterTests {
    /// Byte offset of the first occurrence of `needle` (no Foundation in the tests either).
    func offset(of needle: String, in text: String) -> Int? {
        let h = Array(text.utf8), n = Array(needle.utf8)
        guard n.count <= h.count else { return nil }
        return (0...(h.count - n.count)).first { h[$0..<$0 + n.count].elementsEqual(n) }
    }

    func mpd(_ addressing: MPDWriter.Addressing, seconds: Int = 10) throws -> String {
        var (video, audio) = syntheticTracks(seconds: seconds, gop: 50)
        video.codec = .avc(AVCConfiguration(profile: 0x64, compatibility: 0, level: 0x1F, nalLengthSize: 4, sps: [], pps: []))
        audio.codec = .aac(AACConfiguration(objectType: 2, samplingFrequencyIndex: 3, sampleRate: 48000, channelConfiguration: 2, specificConfig: [0x11, 0x90]))
        let p = Presentation(tracks: [
            PresentationTrack(track: audio, name: "audio_eng", bitrate: 64000, language: "eng"),
            PresentationTrack(track: video, name: "video", bitrate: 800000, language: "und"),
        ])
        let s = try #require(Segmentation.make(tracks: p.tracks.map(\.track), minimumLength: nil))
        let w = MPDWriter(presentation: p, segmentation: s, urls: ChildURL(base: "movie", query: "a=1&b=2"), addressing: addressing)
        return String(decoding: w.mpd(), as: UTF8.self)
    }

    @Test func staticTimelineWithTimeAddressing() throws {
        let text = try mpd(.time)
        #expect(text.contains("type=\"static\""))
        // Video: 5 GOPs of 2 s at 12800 Hz in one run. Its B-frames put fragment media time 1024
        // units (two frames) ahead of presentation time; presentationTimeOffset takes them back.
        #expect(text.contains("<S t=\"1024\" d=\"25600\" r=\"4\"/>"))
        #expect(text.contains("presentationTimeOffset=\"1024\""))
        // Audio has no composition offsets: media time is presentation time.
        #expect(text.contains("<S t=\"0\" d=\"96256\""))
        #expect(text.contains("media=\"movie-$RepresentationID$-$Time$.dash?a=1&amp;b=2\""))
        #expect(text.contains("initialization=\"movie-$RepresentationID$.dash?a=1&amp;b=2\""))
        // Video comes first even though audio is first in the presentation.
        let videoAt = try #require(offset(of: "contentType=\"video\"", in: text))
        let audioAt = try #require(offset(of: "contentType=\"audio\"", in: text))
        #expect(videoAt < audioAt)
        #expect(text.contains("lang=\"en\""))
        #expect(text.contains("codecs=\"avc1.64001F\""))
        #expect(text.contains("<AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"2\"/>"))
    }

    @Test func durationCoversTheLongestTimeline() throws {
        // Audio has 469 frames of 1024 at 48 kHz = 10.005333 s, longer than the 10 s of video.
        let text = try mpd(.time)
        #expect(text.contains("mediaPresentationDuration=\"PT10.006S\""))
        // The longest audio segment has 94 frames: 96256 / 48000 = 2.005333 s.
        #expect(text.contains("maxSegmentDuration=\"PT2.006S\""))
    }

    @Test func numberAddressing() throws {
        let text = try mpd(.number)
        #expect(text.contains("media=\"movie-$RepresentationID$-n$Number$.dash?a=1&amp;b=2\""))
        #expect(text.contains("startNumber=\"1\""))
    }

    @Test func isoDurations() {
        #expect(isoDuration(0, 1) == "PT0S")
        #expect(isoDuration(3_723_500, 1000) == "PT1H2M3.5S")
        #expect(isoDuration(1001, 30000) == "PT0.034S")
    }
}
