"""HDS on both servers (Apache, nginx): the F4M and its bootstrap, every fragment of every rendition fetched by a
small HDS client of our own (hds_fetch.py) and decoded by ffmpeg with the source's frame count,
the bootstrap's fragment times agreeing with the FLV tags inside the fragments, yt-dlp's f4m
downloader as a second client, and inputs FLV cannot carry (HEVC, AC-3) left out without a crash."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

import pytest

import clients
import hds_fetch

pytestmark = pytest.mark.servers("apache", "nginx")

MANIFEST = "abr.ism/.f4m"


def decode_flv(flv: bytes, timeout: float = 300) -> clients.FfmpegResult:
    """`ffmpeg -f flv -i - -map 0 -f null -` over the reassembled FLV, frames counted per stream."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "verbose", "-nostats",
           "-f", "flv", "-i", "-", "-map", "0", "-f", "null", "-"]
    proc = subprocess.run(cmd, input=flv, capture_output=True, timeout=timeout)
    stderr = proc.stderr.decode("utf-8", "replace")
    video, audio = [], []
    for kind, frames in clients._DECODED.findall(stderr):
        (video if kind == "video" else audio if kind == "audio" else []).append(int(frames))
    errors = [line for line in stderr.splitlines() if clients.FFMPEG_ERROR_PATTERN.search(line)]
    return clients.FfmpegResult(proc.returncode, video, audio, errors, stderr)


def test_manifest_structure(server, media):
    r = clients.get(server.url(MANIFEST))
    assert r.status == 200, r.body[:500]
    assert r.header("content-type") == "application/f4m+xml"
    p = hds_fetch.load(server.url(MANIFEST))
    assert p.manifest.findtext(hds_fetch.F4M + "streamType") == "recorded"
    assert abs(p.duration - media.duration("abr-640x360.mp4")) < 0.1
    b = p.bootstrap
    assert b.timescale == 1000 and not b.live
    assert b.segment_runs == [(1, len(b.fragments()))]
    # Three renditions, each muxed with the default (first) audio track, tokens audio then video.
    urls = [m.get("url") for m in p.media]
    assert urls == ["abr-audio_eng=128000-video=300000-", "abr-audio_eng=128000-video=600000-",
                    "abr-audio_eng=128000-video=1200000-"]
    assert [m.get("bitrate") for m in p.media] == ["428", "728", "1328"]
    assert [(m.get("width"), m.get("height")) for m in p.media] == [("416", "234"), ("640", "360"), ("960", "540")]
    for m in p.media:
        assert m.get("bootstrapInfoId") == p.manifest.find(hds_fetch.F4M + "bootstrapInfo").get("id")
        meta = __import__("base64").b64decode(m.find(hds_fetch.F4M + "metadata").text)
        assert meta.startswith(b"\x02\x00\x0aonMetaData\x08") and meta.endswith(b"\x00\x00\x09")
        for name in (b"duration", b"width", b"height", b"videocodecid", b"audiocodecid"):
            assert name in meta


@pytest.mark.parametrize("index", [0, 1, 2])
def test_every_rendition_decodes_with_the_source_frame_count(server, media, index):
    url = server.url(MANIFEST)
    p = hds_fetch.load(url)
    m = p.media[index]
    fragments = hds_fetch.fetch(url, p, m)
    result = decode_flv(hds_fetch.flv_file(m, fragments))
    assert result.video_frames == [media.frames("abr-640x360.mp4")], result.summary()
    assert len(result.audio_frames) == 1 and result.audio_frames[0] > 0.95 * p.duration * 48000 / 1024, result.summary()
    assert not result.errors, result.summary()


def test_bootstrap_and_duration_agree_with_the_tags(server):
    url = server.url(MANIFEST)
    p = hds_fetch.load(url)
    listed = p.bootstrap.fragments()
    assert sum(d for *_, d in listed) == round(p.duration * 1000)
    assert p.bootstrap.current_media_time == listed[-1][2] + listed[-1][3]
    for m in p.media:
        fragments = hds_fetch.fetch(url, p, m)
        last_time = -1
        for f in fragments:
            types = [kind for kind, _, _ in f.boxes]
            assert types == ["afra", "moof", "mdat"], types
            assert f.data[:4] and int.from_bytes(f.data[:4], "big") <= len(f.data)
            tags = f.tags
            assert [t.kind for t in tags[:2]] == [9, 8] and all(t.is_sequence_header for t in tags[:2])
            media_tags = tags[2:]
            video = [t for t in media_tags if t.kind == 9]
            audio = [t for t in media_tags if t.kind == 8]
            assert video and audio and video[0].keyframe
            # Fragment n starts at the presentation time of its first (key) frame and every frame
            # it holds is presented before the next fragment starts.
            assert video[0].presentation_time == f.start, (f.number, video[0].presentation_time, f.start)
            assert all(f.start <= t.presentation_time < f.start + f.duration for t in video), f.number
            # Audio starts with the first frame at or after the key frame's decode time (a B-frame
            # key frame decodes a little before it is presented): within one AAC frame (~21 ms).
            assert 0 <= audio[0].timestamp - video[0].timestamp <= 22 or f.number == 1, (f.number, audio[0].timestamp)
            assert abs(audio[0].timestamp - f.start) <= 200, (f.number, audio[0].timestamp, f.start)
            # Tag timestamps never go back, across fragments too.
            for t in media_tags:
                assert t.timestamp >= last_time, (f.number, t.timestamp, last_time)
                last_time = t.timestamp
            # afra: the key frame tags with their offsets from the start of the fragment.
            afra = hds_fetch.Reader(f.data[f.boxes[0][1]:f.boxes[0][2]])
            afra.u32()
            assert afra.u8() == 0x40 and afra.u32() == 1000
            entries = [(afra.u64(), afra.u64()) for _ in range(afra.u32())]
            assert len(entries) == sum(1 for t in video if t.keyframe)
            for time, offset in entries:
                assert f.data[offset] == 9 and f.data[offset + 11] >> 4 == 1
                assert int.from_bytes(f.data[offset + 4:offset + 7], "big") == time
        # The last fragment ends where the longer track ends (25 fps video; within one 1024-sample
        # AAC frame at 48 kHz, whose edit list may trim the last frame).
        end = max(video[-1].presentation_time + 40, audio[-1].timestamp + 1024 * 1000 / 48000)
        assert abs(fragments[-1].start + fragments[-1].duration - end) <= 22


def test_percent_encoded_tokens_and_http_errors(server):
    base = server.url("abr.ism/abr-audio_eng=128000-video=300000-Seg1-Frag1")
    plain = clients.get(base)
    assert plain.status == 200 and plain.header("content-type") == "video/f4f"
    encoded = clients.get(server.url("abr.ism/abr-audio_eng%3D128000-video%3D300000-Seg1-Frag1"))
    assert encoded.status == 200 and encoded.body == plain.body
    statuses = {
        "abr.ism/abr-audio_eng=128000-video=300000-Seg2-Frag1": 404,       # only segment 1
        "abr.ism/abr-audio_eng=128000-video=300000-Seg1-Frag999": 404,     # past the end
        "abr.ism/abr-audio_eng=128000-video=300000-Seg1-Frag0": 400,
        "abr.ism/abr-audio_eng=128000-video=300000-Seg1-Fragx": 400,
        "abr.ism/abr-audio_eng=128000-video=300000-Seg1-Frag12345678901": 400,
        "abr.ism/abr-video=300000-video=600000-Seg1-Frag1": 404,          # two videos
        "abr.ism/abr-nosuch=1-Seg1-Frag1": 404,
        "abr.ism/abr-Seg1-Frag1": 400,
    }
    for path, status in statuses.items():
        assert clients.get(server.url(path)).status == status, path
    assert clients.request("HEAD", base).status == 200
    # Any manifest name works.
    assert clients.get(server.url("abr.ism/manifest.f4m")).status == 200


def test_ytdlp_downloads_every_rendition(server, media):
    """A second client: yt-dlp's f4m downloader (from requirements.txt) writes FLV files."""
    with tempfile.TemporaryDirectory(prefix="origo-ytdlp-", dir="/tmp") as work:
        files = clients.ytdlp_download(server.url(MANIFEST), work)
        assert len(files) == 3 and all(f.endswith(".flv") for f in files), files
        expected = media.frames("abr-640x360.mp4")
        for name in files:
            path = os.path.join(work, name)
            assert clients.ffprobe_video_frames(path) == [expected], name
            result = clients.ffmpeg_decode(path)
            assert result.video_frames == [expected] and len(result.audio_frames) == 1, result.summary()
            assert not result.errors, result.summary()


@pytest.mark.parametrize("name, expect_video, expect_audio", [
    ("hevc.mp4", False, True),      # HEVC left out: audio only
    ("ac3.mp4", True, False),       # AC-3 left out: video only
    ("audio-eng.mp4", False, True),
    ("ntsc.mp4", True, True),
])
def test_inputs_flv_cannot_fully_carry(server, media, name, expect_video, expect_audio):
    url = server.url(f"{name}/.f4m")
    p = hds_fetch.load(url)
    assert len(p.media) == 1
    m = p.media[0]
    assert (m.get("width") is not None) == expect_video
    result = decode_flv(hds_fetch.flv_file(m, hds_fetch.fetch(url, p, m)))
    assert not result.errors, result.summary()
    if expect_video:
        assert result.video_frames == [media.frames(name)], result.summary()
    else:
        assert result.video_frames == [], result.summary()
    assert (len(result.audio_frames) == 1) == expect_audio, result.summary()


def test_hevc_video_fragment_is_404_not_a_crash(server):
    r = clients.get(server.url("hevc.mp4/.mpd"))
    assert r.status == 200
    video = re.search(rb'id="(video=\d+)"', r.body)
    assert video, r.body[:2000]
    path = f"hevc.mp4/hevc-{video.group(1).decode()}-Seg1-Frag1"
    assert clients.get(server.url(path)).status == 404
