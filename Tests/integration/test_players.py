"""Real players: GStreamer playbin3, VLC and Chromium + Video.js play the ABR presentation to the end.
Each asserts on what was decoded (timestamps, frame counts), never on an exit code."""

from __future__ import annotations

import tempfile

import pytest

import clients

pytestmark = pytest.mark.servers("apache", "nginx")

URLS = {
    "hls-ts": "abr.ism/.m3u8",
    "hls-fmp4": "abr.ism/.m3u8?hls.fmp4=true",
    "dash": "abr.ism/.mpd",
}
MIME = {"hls-ts": "application/x-mpegURL", "hls-fmp4": "application/x-mpegURL", "dash": "application/dash+xml"}


@pytest.mark.parametrize("fmt", URLS.keys())
def test_gstreamer_playbin3(server, media, fmt):
    url = server.url(URLS[fmt])
    r = clients.gst_play(url)
    assert r.got_eos, f"{url}: no EOS\n{r.summary()}"
    assert not r.errors, f"{url}: GStreamer errors\n{r.summary()}"
    assert r.span >= media.clip_seconds - 1, f"{url}: video spans {r.span:.2f} s\n{r.summary()}"
    assert r.largest_gap <= 0.1, f"{url}: gap of {r.largest_gap:.2f} s in video timestamps\n{r.summary()}"


@pytest.mark.parametrize("fmt", ["hls-ts", "dash"])
def test_vlc_remux(server, media, fmt):
    url = server.url(URLS[fmt])
    with tempfile.TemporaryDirectory(prefix="origo-vlc-", dir="/tmp") as work:
        r = clients.vlc_remux(url, work, "out.ts")
        expected = media.frames("abr-640x360.mp4")
        assert r.video_frames, f"{url}: VLC wrote no video\n{r.summary()}"
        assert r.video_frames[0] > 0.9 * expected, f"{url}: {r.video_frames} of {expected} frames\n{r.summary()}"


@pytest.mark.parametrize("fmt", URLS.keys())
def test_chromium_videojs(server, media, fmt):
    src = server.url(URLS[fmt])
    r = clients.browser_play(server.url("player.html"), src, MIME[fmt])
    expected = media.frames("abr-640x360.mp4")
    assert not r.errors, f"{src}: player error\n{r.summary()}"
    assert not r.failed_requests, f"{src}: failed requests\n{r.summary()}"
    assert r.ended, f"{src}: never reached 'ended' (stalled={r.stalled})\n{r.summary()}"
    assert r.frames >= 0.9 * expected, f"{src}: {r.frames} of {expected} frames shown\n{r.summary()}"
