"""Decoding every rendition with ffmpeg (`-map 0`): every video stream must decode exactly the
source's frame count, and ffmpeg's stderr must show no HTTP, demuxing or decoding error."""

from __future__ import annotations

import pytest

import clients

pytestmark = pytest.mark.servers("apache", "nginx")

ABR_RENDITIONS = ["abr-416x234.mp4", "abr-640x360.mp4", "abr-960x540.mp4"]
SINGLE_FILES = ["hevc.mp4", "cmaf.mp4", "moov-at-end.mp4", "faststart.mp4", "ntsc.mp4"]

FORMATS = {
    "hls-ts": ".m3u8",
    "hls-fmp4": ".m3u8?hls.fmp4=true",
    "dash-time": ".mpd",
    "dash-number": ".mpd?mpd.segment_template=number",
}


def expected_audio_frames(media, sources: list[str]) -> int:
    """Fewest AAC frames (1024 samples) any audio stream of the presentation should decode."""
    rates = [r for s in sources for r in media.file(s)["audio_sample_rates"]]
    return int(0.95 * media.clip_seconds * min(rates) / 1024) if rates else 0


def check_decode(url: str, expected_frames: int, renditions: int, min_audio_frames: int) -> None:
    if ".mpd" in url and renditions > 1:
        # ffmpeg 5.1's DASH demuxer stops every stream as soon as the first one reaches its end, so
        # with several video representations ending on the same timestamp one of them loses its last
        # frame in a `-map 0` run (each decodes completely on its own). Decode them one at a time.
        for i in range(renditions):
            result = clients.ffmpeg_decode(url, map_spec=f"0:v:{i}")
            assert result.errors == [], f"{url} video {i}: ffmpeg reported errors\n{result.summary()}"
            assert result.video_frames == [expected_frames], \
                f"{url} video {i}: should decode {expected_frames} frames\n{result.summary()}"
        result = clients.ffmpeg_decode(url, map_spec="0:a")
        assert result.errors == [], f"{url} audio: ffmpeg reported errors\n{result.summary()}"
        assert result.audio_frames and all(n >= min_audio_frames for n in result.audio_frames), \
            f"{url}: audio streams decoded fewer than {min_audio_frames} frames\n{result.summary()}"
        return
    result = clients.ffmpeg_decode(url)
    assert result.errors == [], f"{url}: ffmpeg reported errors\n{result.summary()}"
    assert len(result.video_frames) >= renditions, f"{url}: {renditions} video renditions expected\n{result.summary()}"
    assert all(n == expected_frames for n in result.video_frames), \
        f"{url}: every video stream should decode {expected_frames} frames\n{result.summary()}"
    assert result.audio_frames, f"{url}: no audio stream decoded\n{result.summary()}"
    assert all(n >= min_audio_frames for n in result.audio_frames), \
        f"{url}: audio streams decoded fewer than {min_audio_frames} frames\n{result.summary()}"


@pytest.mark.parametrize("fmt", FORMATS.keys())
def test_decode_abr(server, media, fmt):
    frames = {media.frames(r) for r in ABR_RENDITIONS}
    assert len(frames) == 1
    check_decode(server.url("abr.ism/" + FORMATS[fmt]), frames.pop(), len(ABR_RENDITIONS),
                 expected_audio_frames(media, ["audio-eng.mp4", "audio-fra.mp4"]))


def test_decode_abr_fmp4_from_manifest_option(server, media):
    check_decode(server.url("abr-fmp4.ism/.m3u8"), media.frames("abr-640x360.mp4"), len(ABR_RENDITIONS),
                 expected_audio_frames(media, ["audio-eng.mp4", "audio-fra.mp4"]))


@pytest.mark.parametrize("fmt", ["hls-ts", "hls-fmp4", "dash-time"])
@pytest.mark.parametrize("name", SINGLE_FILES)
def test_decode_media_file(server, media, name, fmt):
    check_decode(server.url(f"{name}/{FORMATS[fmt]}"), media.frames(name), 1, expected_audio_frames(media, [name]))


def test_decode_short_segments(server, media):
    """2-second HLS segments (one GOP each) still decode every frame."""
    check_decode(server.url("abr.ism/.m3u8?hls.minimum_fragment_length=2"), media.frames("abr-640x360.mp4"),
                 len(ABR_RENDITIONS), expected_audio_frames(media, ["audio-eng.mp4", "audio-fra.mp4"]))


@pytest.mark.parametrize("fmt", ["hls-ts", "hls-fmp4", "dash-time"])
@pytest.mark.parametrize("name", ["ac3.mp4", "eac3.mp4"])
def test_decode_dolby_audio(server, media, name, fmt):
    """AC-3 and E-AC-3 (1536 samples per frame) muxed into TS and carried in fMP4."""
    check_decode(server.url(f"{name}/{FORMATS[fmt]}"), media.frames(name), 1,
                 int(0.95 * media.clip_seconds * 48000 / 1536))
