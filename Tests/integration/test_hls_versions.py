"""HLS client manifest versions (`hls.client_manifest_version`), audio-only variants
(`hls.no_audio_only`) and I-frame playlists under `keyframes/`, on the ABR presentation."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import clients
import playlists as pl
from test_decode import ABR_RENDITIONS, check_decode, expected_audio_frames

pytestmark = pytest.mark.servers("apache", "nginx")

# client_manifest_version -> (query, master EXT-X-VERSION, media EXT-X-VERSION, I-frame EXT-X-VERSION or None)
VERSIONS = {
    1: ("hls.client_manifest_version=1", 1, 1, None),
    3: ("hls.client_manifest_version=3", 3, 3, None),
    4: ("hls.client_manifest_version=4", 4, 3, 4),
    5: ("hls.client_manifest_version=5", 4, 3, 4),
    7: ("hls.client_manifest_version=7&hls.fmp4=true", 6, 6, 5),
}
AUDIO_TOKENS = ["audio_eng=128000", "audio_fra=96000"]
VIDEO_TOKENS = {"abr-416x234.mp4": "video=300000", "abr-640x360.mp4": "video=600000", "abr-960x540.mp4": "video=1200000"}
_VERSION = re.compile(r"^#EXT-X-VERSION:(\d+)$", re.M)


def declared_version(url: str) -> int:
    text = pl.fetch_text(url, pl.HLS_TYPE)
    found = _VERSION.findall(text)
    assert len(found) == 1, f"{url}: {len(found)} EXT-X-VERSION tags"
    return int(found[0])


def master_url(server, version: int, extra: str = "") -> str:
    return server.url("abr.ism/.m3u8?" + VERSIONS[version][0] + extra)


def is_audio_only(variant) -> bool:
    return variant.stream_info.resolution is None and "avc1" not in (variant.stream_info.codecs or "")


@pytest.mark.parametrize("version", VERSIONS.keys())
def test_playlists_parse_with_the_right_version(server, media, version):
    _, want_master, want_media, want_iframe = VERSIONS[version]
    url = master_url(server, version)
    master, children = pl.master_children(url)
    assert declared_version(url) == want_master
    iframe_urls = {pl.absolute(url, p.uri) for p in master.iframe_playlists}
    if want_iframe is None:
        assert not iframe_urls, f"version {version} lists I-frame playlists"
        assert not master.media, f"version {version} uses EXT-X-MEDIA"
        # Muxed variants carry the first (default) audio track.
        videos = [v for v in master.playlists if not is_audio_only(v)]
        assert all(AUDIO_TOKENS[0] in v.uri for v in videos), [v.uri for v in videos]
    else:
        assert len(iframe_urls) == len(ABR_RENDITIONS)
        langs = sorted(m.language for m in master.media if m.type == "AUDIO")
        assert langs == ["en", "fr"], langs
        assert [m.default for m in master.media] == ["YES", "NO"]
        assert all(m.channels for m in master.media)
    for child in children:
        mp = pl.media_playlist(child)
        expected = want_iframe if child in iframe_urls else want_media
        assert declared_version(child) == expected, child
        assert mp.playlist.is_endlist and mp.playlist.segments, child
        assert abs(sum(mp.durations) - media.clip_seconds) <= 0.25, f"{child}: {mp.durations}"
        text = pl.fetch_text(child, pl.HLS_TYPE)
        assert "#EXT-X-INDEPENDENT-SEGMENTS" in text, child
        if want_media == 1:
            assert all(re.fullmatch(r"#EXTINF:\d+,", l) for l in text.splitlines() if l.startswith("#EXTINF")), child
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in pl.fetch_text(url, pl.HLS_TYPE)


@pytest.mark.parametrize("version", VERSIONS.keys())
def test_every_rendition_decodes(server, media, version):
    """Every variant, audio rendition, and (with no_audio_only=false) audio-only variant."""
    check_decode(master_url(server, version, "&hls.no_audio_only=false"), media.frames("abr-640x360.mp4"),
                 len(ABR_RENDITIONS), expected_audio_frames(media, ["audio-eng.mp4", "audio-fra.mp4"]))


@pytest.mark.parametrize("version", VERSIONS.keys())
def test_audio_only_variants_and_no_audio_only(server, version):
    # Off by default (VLC 3.0 plays an audio-only variant for part of the time when offered).
    assert not [v for v in pl.hls(master_url(server, version)).playlists if is_audio_only(v)]
    master = pl.hls(master_url(server, version, "&hls.no_audio_only=false"))
    audio_only = [v.uri.split("?")[0] for v in master.playlists if is_audio_only(v)]
    assert audio_only == [f"abr-{t}.m3u8" for t in AUDIO_TOKENS], audio_only
    # After the video variants.
    kinds = [is_audio_only(v) for v in master.playlists]
    assert kinds == sorted(kinds), kinds
    for v in master.playlists:
        if is_audio_only(v):
            assert v.stream_info.codecs.startswith("mp4a.40."), v.stream_info.codecs
    without = pl.hls(master_url(server, version, "&hls.no_audio_only=true"))
    assert not [v for v in without.playlists if is_audio_only(v)]
    assert len(without.playlists) == len(master.playlists) - len(AUDIO_TOKENS)


def test_bad_client_manifest_version(server):
    for bad in ["2", "6", "8", "x", ""]:
        r = clients.get(server.url(f"abr.ism/.m3u8?hls.client_manifest_version={bad}"))
        assert r.status == 400, f"client_manifest_version={bad!r}: {r.status}"


def source_key_frames(path: str) -> list[float]:
    """Presentation times of the key frames of a source MP4's video track (ffprobe packets)."""
    proc = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                           "packet=pts_time,flags", "-of", "json", path],
                          capture_output=True, text=True, timeout=120)
    packets = json.loads(proc.stdout or "{}").get("packets", [])
    return sorted(float(p["pts_time"]) for p in packets if "K" in p.get("flags", ""))


def decoded_frames(url: str) -> list[dict]:
    proc = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                           "frame=pict_type,pts_time,key_frame", "-of", "json", url],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{url}: ffprobe failed\n{proc.stderr[-2000:]}"
    return json.loads(proc.stdout or "{}").get("frames", [])


@pytest.mark.parametrize("version", [4, 7], ids=["ts", "fmp4"])
@pytest.mark.parametrize("source", ABR_RENDITIONS)
def test_iframe_playlist_decodes_every_key_frame(server, media, version, source):
    url = master_url(server, version)
    master = pl.hls(url)
    token = VIDEO_TOKENS[source]
    entry = next(p for p in master.iframe_playlists if token in p.uri)
    assert entry.uri.startswith(f"keyframes/abr-{token}.m3u8"), entry.uri
    info = entry.iframe_stream_info
    assert info.bandwidth and info.bandwidth > 0 and info.codecs.startswith("avc1.") and info.resolution
    iframe_url = pl.absolute(url, entry.uri)
    playlist = pl.media_playlist(iframe_url)
    assert playlist.playlist.is_i_frames_only
    keys = source_key_frames(f"{media.root}/{source}")
    assert len(keys) >= 2, keys
    # One segment per key frame, EXTINF = distance to the next one, summing to the clip.
    assert len(playlist.durations) == len(keys), (playlist.durations, keys)
    gaps = [b - a for a, b in zip(keys, keys[1:])]
    for d, g in zip(playlist.durations, gaps):
        assert abs(d - g) <= 0.0015, (playlist.durations, gaps)
    assert abs(sum(playlist.durations) - (media.duration(source) - keys[0])) <= 0.0015
    # Every segment answers with the segment content type.
    for seg in playlist.segment_urls[:2]:
        r = clients.get(seg)
        assert r.status == 200, f"{seg}: {r.status}"
        ctype = r.header("content-type")
        assert ctype == ("video/mp4" if version == 7 else "video/MP2T"), f"{seg}: {ctype}"
    # ffmpeg decodes exactly the key frames, all intra, at the source's times.
    frames = decoded_frames(iframe_url)
    assert len(frames) == len(keys), f"{len(frames)} frames decoded, {len(keys)} key frames"
    assert all(f.get("pict_type") == "I" for f in frames), [f.get("pict_type") for f in frames]
    times = [float(f["pts_time"]) for f in frames]
    shift = times[0] - keys[0]
    for t, k in zip(times, keys):
        assert abs((t - shift) - k) <= 0.0015, (times, keys)
    # The same key frames as the normal playlist's (the TS timeline is shifted the same way).
    normal = [f for f in decoded_frames(pl.absolute(url, master.playlists[0].uri)) if f.get("key_frame") == 1]
    assert [round(float(f["pts_time"]), 3) for f in normal] == [round(t, 3) for t in times]


def test_iframe_urls_errors(server):
    base = "abr.ism/keyframes/abr-video=600000"
    assert clients.get(server.url(base + "-0.ts")).status == 400
    assert clients.get(server.url(base + "-999.ts")).status == 404
    assert clients.get(server.url(base + "-1.m4s")).status == 200
    assert clients.get(server.url(base + ".m4s")).status == 200
    assert clients.get(server.url("abr.ism/keyframes/abr-audio_eng=128000.m3u8")).status == 404
    assert clients.get(server.url("abr.ism/keyframes/abr-video=1.m3u8")).status == 404


@pytest.mark.parametrize("version", [4, 7], ids=["ts", "fmp4"])
def test_gstreamer_plays_master_with_iframe_playlists(server, media, version):
    url = master_url(server, version)
    assert pl.hls(url).iframe_playlists
    r = clients.gst_play(url)
    assert r.got_eos, f"{url}: no EOS\n{r.summary()}"
    assert not r.errors, f"{url}: GStreamer errors\n{r.summary()}"
    assert r.span >= media.clip_seconds - 1, f"{url}: video spans {r.span:.2f} s\n{r.summary()}"
    assert r.largest_gap <= 0.1, f"{url}: gap of {r.largest_gap:.2f} s in video timestamps\n{r.summary()}"


def test_iframe_ts_segments_concatenate_without_continuity_errors(server):
    """Each I-frame TS segment starts with a PAT and holds one key frame; concatenated in playlist
    order their continuity counters run on (ffmpeg -v debug reports every jump)."""
    import tempfile
    url = master_url(server, 4)
    master = pl.hls(url)
    for entry in master.iframe_playlists:
        mp = pl.media_playlist(pl.absolute(url, entry.uri))
        data = b""
        for seg in mp.segment_urls:
            body = clients.get(seg).body
            assert body and len(body) % 188 == 0 and body[0] == 0x47, seg
            assert ((body[1] & 0x1F) << 8) | body[2] == 0, f"{seg}: does not start with the PAT"
            data += body
        with tempfile.NamedTemporaryFile(suffix=".ts") as f:
            f.write(data)
            f.flush()
            proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "debug", "-nostats",
                                   "-i", f.name, "-map", "0", "-f", "null", "-"],
                                  capture_output=True, text=True, errors="replace", timeout=120)
        cc = [line for line in proc.stderr.splitlines() if "Continuity check failed" in line]
        assert not cc, f"{entry.uri}: {cc[:5]}"
        decoded = re.findall(r"Input stream #0:0 \(video\): .*?(\d+) frames decoded", proc.stderr)
        assert decoded == [str(len(mp.segment_urls))], decoded
