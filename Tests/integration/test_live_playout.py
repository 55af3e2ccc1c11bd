"""Live playout control on a real Apache (issue #17, docs/LIVE.md): while ffmpeg pushes a real-time
channel whose 8 s DVR window slides, fragments older than the window, in a gap and in the future
get the statuses of the Fmp4…Fragment… directives (defaults, and overrides in another directory
that shows the same channel); answers carry Last-Modified, Cache-Control and Sunset; the
dvr_window_length and time_shift query overrides narrow and shift what playlists offer, and ffmpeg
plays a time-shifted playlist without a gap."""

from __future__ import annotations

import email.utils
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

import clients
from conftest import PrivateServer
from test_live_ingest import FPS, push_command

WINDOW = 8
ISML = f"""<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
    <meta name="dvr_window_length" content="{WINDOW}"/>
  </head>
  <body><switch></switch></body>
</smil>
"""

SITE = """
<Directory "@ROOT@/live">
  OrigoLiveIngest on
  LimitRequestBody 0
</Directory>
<Directory "@ROOT@/custom">
  Options +FollowSymLinks
  Fmp4HlsFragmentNotFound 410
  Fmp4HlsFragmentNotAvailable 503
  Fmp4MpdFragmentNotFound 404
  Fmp4MpdFragmentMissing 412
  Fmp4MpdFragmentNotAvailable 503
</Directory>
LogLevel warn origo:info
"""


@pytest.fixture(scope="module", params=["event", "prefork"])
def channel(request):
    """A private Apache per MPM with a channel being pushed for up to 120 s into live/ch.isml; custom/ is
    the same folder under other directives. Yields once the window has slid."""
    root = tempfile.mkdtemp(prefix="origo-liveplay-", dir="/tmp")
    os.chmod(root, 0o755)
    live = os.path.join(root, "live")
    os.mkdir(live)
    os.chmod(live, 0o777)   # Apache's children (www-data) write the store
    os.symlink(live, os.path.join(root, "custom"))
    with open(os.path.join(live, "ch.isml"), "w") as f:
        f.write(ISML)
    os.chmod(os.path.join(live, "ch.isml"), 0o666)
    site = PrivateServer(root, SITE.replace("@ROOT@", root), mpm=request.param)
    encoder = subprocess.Popen(push_command({"smooth": site.url("live/ch.isml/Streams(s)")}, cmaf=False, seconds=120),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Until the window has slid past the first fragments (2 s each), at most 30 s.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = clients.get(site.url("live/ch.isml/ch-video=300000.m3u8"))
            if answer.status == 200 and media_sequence(answer.body.decode()) >= 3:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the channel's window never slid")
        site.mpm = request.param
        site.root = root
        yield site
    finally:
        encoder.kill()
        encoder.wait()
        crashes = site.stop()
        shutil.rmtree(root, ignore_errors=True)
        assert not crashes, "\n".join(crashes[:20])


def media_sequence(playlist: str) -> int:
    m = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", playlist)
    return int(m.group(1)) if m else 0


def segments(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def timeline(mpd: str, rep: str) -> list[tuple[int, int]]:
    """(t, d) of every segment of Representation `rep` in a $Time$ MPD."""
    block = mpd.split(f'<Representation id="{rep}"')[1].split("</Representation>")[0]
    out, t = [], 0
    for m in re.finditer(r"<S( t=\"(\d+)\")? d=\"(\d+)\"( r=\"(\d+)\")?/>", block):
        if m.group(2):
            t = int(m.group(2))
        for _ in range(int(m.group(5) or 0) + 1):
            out.append((t, int(m.group(3))))
            t += int(m.group(3))
    return out


def test_hls_statuses_and_headers(channel):
    answer = clients.get(channel.url("live/ch.isml/ch-video=300000.m3u8"))
    assert answer.status == 200
    playlist = answer.body.decode()
    first, names = media_sequence(playlist), segments(playlist)
    assert first >= 3 and len(names) <= WINDOW // 2 + 1, playlist
    assert re.fullmatch(r"public, max-age=1", answer.header("cache-control") or ""), answer.headers
    assert answer.header("last-modified"), answer.headers
    # A segment in the window: long-lived until its Sunset, about the window after it was stored.
    segment = clients.get(channel.url(f"live/ch.isml/{names[-1]}"))
    assert segment.status == 200
    sunset = email.utils.parsedate_to_datetime(segment.header("sunset")).timestamp()
    stored = email.utils.parsedate_to_datetime(segment.header("last-modified")).timestamp()
    assert sunset - stored == WINDOW, segment.headers
    max_age = int(segment.header("cache-control").rsplit("=", 1)[1])
    assert 1 <= max_age <= WINDOW, segment.headers
    # Older than the window, and in the future: the HLS defaults (404, 404), then the overrides.
    for where, gone, future in [("live", 404, 404), ("custom", 410, 503)]:
        old = clients.get(channel.url(f"{where}/ch.isml/ch-video=300000-{first - 1}.m4s"))
        assert old.status == gone, (where, old.status)
        ahead = clients.get(channel.url(f"{where}/ch.isml/ch-video=300000-{first + 40}.m4s"))
        assert ahead.status == future, (where, ahead.status)
        assert ahead.header("cache-control") == "no-cache", ahead.headers
    log = open(channel.error_log, errors="replace").read()
    assert f"live segment {first + 40} is not there yet" in log


def test_dash_statuses(channel):
    answer = clients.get(channel.url("live/ch.isml/.mpd"))
    assert answer.status == 200 and answer.header("cache-control") == "public, max-age=1"
    mpd = answer.body.decode()
    assert f'timeShiftBufferDepth="PT{WINDOW}S"' in mpd
    times = timeline(mpd, "video=300000")
    assert times and times[0][0] > 0, mpd
    (t0, d0), (tn, dn) = times[0], times[-1]
    base = "ch.isml/ch-video=300000"
    assert clients.get(channel.url(f"live/{base}-{t0}.dash")).status == 200
    # Older than the window, inside a fragment (no segment starts there: a gap for the URL), the future.
    for where, codes in [("live", (410, 404, 404)), ("custom", (404, 412, 503))]:
        got = tuple(clients.get(channel.url(f"{where}/{base}-{t}.dash")).status
                    for t in (t0 - d0, t0 + d0 // 2, tn + 20 * dn))
        assert got == codes, (where, got)


def test_window_and_time_shift_overrides(channel):
    url = channel.url("live/ch.isml/ch-video=300000.m3u8")
    whole = clients.get(url).body.decode()
    narrow = clients.get(url + "?dvr_window_length=2").body.decode()
    assert len(segments(narrow)) == 1 and segments(narrow)[-1] == segments(whole)[-1], narrow
    # Capped by the publishing point's window.
    assert len(segments(clients.get(url + "?dvr_window_length=600").body.decode())) <= WINDOW // 2 + 1
    shifted = clients.get(url + "?time_shift=4").body.decode()
    last = int(segments(whole)[-1].rsplit("-", 1)[1].split(".")[0])
    shifted_last = int(segments(shifted)[-1].rsplit("-", 1)[1].split(".")[0])
    assert last - 3 <= shifted_last <= last - 2, (whole, shifted)
    # The master hands the override on; the MPD says the narrower window.
    master = clients.get(channel.url("live/ch.isml/.m3u8?time_shift=4")).body.decode()
    assert "ch-video=300000.m3u8?time_shift=4" in master
    mpd = clients.get(channel.url("live/ch.isml/.mpd?dvr_window_length=4")).body.decode()
    assert 'timeShiftBufferDepth="PT4S"' in mpd and len(timeline(mpd, "video=300000")) <= 3
    assert clients.get(url + "?time_shift=soon").status == 400
    # filter= and max_bitrate= as in VOD, on manifests.
    low = clients.get(channel.url("live/ch.isml/.m3u8?max_bitrate=200000")).body.decode()
    assert "ch-video=150000.m3u8" in low and "ch-video=300000.m3u8" not in low, low
    audio_only = clients.get(channel.url('live/ch.isml/.mpd?filter=(type%3D%3D%22audio%22)')).body.decode()
    assert "audio=64000" in audio_only and "video=" not in audio_only


@pytest.mark.parametrize("manifest,seconds", [(".m3u8", 12), (".m3u8?time_shift=2", 12), (".mpd", 12),
                                              (".mpd?mpd.segment_template=number", 4)])
def test_ffmpeg_plays_across_window_slides(channel, manifest, seconds):
    """ffmpeg on live HLS (also 2 s behind the live point), DASH with a timeline and DASH with
    $Number$ from the clock: for 12 s the 8 s window slides under it, and every video frame and
    audio frame comes once, back to back. (ffmpeg 5.1 on the $Number$ MPD for 12 s did not end
    within 90 s: only 4 s are asked of it, docs/LIVE.md.)"""
    if channel.mpm != "event" and manifest != ".m3u8":
        pytest.skip("HLS is enough under prefork")
    # -frames and -shortest, not -t: output time counts from 0, and this stream starts later.
    player = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error",
                             "-i", channel.url(f"live/ch.isml/{manifest}"), "-map", "0:v:0", "-map", "0:a:0",
                             "-frames:v", str(seconds * FPS), "-shortest", "-f", "framemd5", "-"],
                            capture_output=True, timeout=90)
    assert player.returncode == 0, player.stderr.decode()
    frames: dict[str, list[tuple[int, int]]] = {"0": [], "1": []}
    for line in player.stdout.decode().splitlines():
        if line.strip() and not line.startswith("#"):
            stream, _, pts, duration, *_ = [f.strip() for f in line.split(",")]
            frames[stream].append((int(pts), int(duration)))
    video, audio = frames["0"], frames["1"]
    assert len(video) == seconds * FPS, len(video)
    assert len(audio) >= (seconds - 1) * 48000 // 1024, len(audio)
    for track in (video, audio):
        for (p0, d0), (p1, _) in zip(track, track[1:]):
            assert p1 == p0 + d0, f"gap or repeat at {p0}"


def test_nginx_sends_the_same_headers_and_statuses(channel):
    """nginx serving the store Apache writes: the engine's headers on answers and refusals alike,
    and its fmp4_*_fragment_* statuses."""
    if channel.mpm != "event":
        pytest.skip("one MPM is enough")
    server = PrivateServer(channel.root, f'location /live/ {{ alias "{channel.root}/live/"; usp_handle_ism; }}\n'
                           f'location /custom/ {{ alias "{channel.root}/live/"; usp_handle_ism; '
                           'fmp4_hls_fragment_not_found 410; fmp4_hls_fragment_not_available 503; }\n', kind="nginx")
    try:
        playlist = clients.get(server.url("live/ch.isml/ch-video=300000.m3u8"))
        assert playlist.status == 200 and playlist.header("cache-control") == "public, max-age=1"
        names = segments(playlist.body.decode())
        segment = clients.get(server.url(f"live/ch.isml/{names[-1]}"))
        assert segment.status == 200 and segment.header("sunset"), segment.headers
        assert segment.header("cache-control").startswith("public, max-age="), segment.headers
        ahead = clients.get(server.url(f"live/ch.isml/ch-video=300000-{media_sequence(playlist.body.decode()) + 40}.m4s"))
        assert ahead.status == 404 and ahead.header("cache-control") == "no-cache", ahead.headers
        # The nginx twins of the Fmp4…Fragment… directives.
        first = media_sequence(playlist.body.decode())
        assert clients.get(server.url(f"custom/ch.isml/ch-video=300000-{first + 40}.m4s")).status == 503
        assert clients.get(server.url(f"custom/ch.isml/ch-video=300000-{first - 1}.m4s")).status == 410
        assert clients.get(server.url(f"live/ch.isml/ch-video=300000-{first - 1}.m4s")).status == 404
    finally:
        crashes = server.stop()
        assert not crashes, "\n".join(crashes[:20])


# GStreamer 1.22's dashdemux2 and mssdemux2 on these live streams: playbin3 stays in buffering
# (6 % after 10 s for DASH, 0 % for Smooth, 7-8 buffers out) while hlsdemux2 plays the same
# channel; not understood yet (docs/LIVE.md).
GST_LIVE_STALLS = pytest.mark.xfail(strict=False, reason="playbin3 stays buffering on live DASH/Smooth (docs/LIVE.md)")


@pytest.mark.parametrize("manifest", [".m3u8", pytest.param(".mpd", marks=GST_LIVE_STALLS),
                                      pytest.param("Manifest", marks=GST_LIVE_STALLS)])
def test_gstreamer_follows_the_sliding_window(channel, manifest):
    """GStreamer's playbin3 (hlsdemux2, dashdemux2, mssdemux) on HLS, DASH and Smooth live: over
    14 s it plays on past the 8 s window it started with, every frame once (40 ms apart)."""
    if channel.mpm != "event" and manifest != ".m3u8":
        pytest.skip("HLS is enough under prefork")
    r = clients.gst_play(channel.url(f"live/ch.isml/{manifest}"), timeout=14)
    assert not r.errors, r.summary()
    assert r.span >= WINDOW + 4, r.summary()
    pts = sorted(r.video_pts)
    assert len(set(pts)) == len(pts), f"repeated frames: {r.summary()}"
    assert r.largest_gap < 0.05, r.summary()


def test_vlc_follows_live_smooth(channel):
    """VLC 3 on the live Smooth manifest for 20 s (killed then: a live stream does not end): it
    remuxes what the window offered and what arrived since, every video frame once, 40 ms apart."""
    if channel.mpm != "event":
        pytest.skip("one MPM is enough")
    work = tempfile.mkdtemp(prefix="origo-vlc-", dir="/tmp")
    try:
        r = clients.vlc_remux(channel.url("live/ch.isml/Manifest"), work, "smooth.ts", timeout=20)
        assert os.path.exists(r.output), r.summary()
        probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts",
                                "-of", "csv=p=0", r.output], capture_output=True, text=True, timeout=60)
        pts = sorted({int(m) for m in re.findall(r"^(\d+)", probe.stdout, re.MULTILINE)})
        # More than the window (8 s) offered at the start: it followed what arrived while it played.
        assert len(pts) >= 12 * FPS, (len(pts), r.summary())
        steps = {b - a for a, b in zip(pts, pts[1:])}
        assert steps == {90000 // FPS}, f"gaps or repeats: {sorted(steps)[:10]}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
