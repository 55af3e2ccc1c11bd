"""Live ingest into a private Apache (issue #17, docs/LIVE.md): ffmpeg pushes a real-time test
channel (H.264 at two bitrates + AAC) with Smooth Streaming ingest and with CMAF ingest, while
broken POSTs get a 4xx and a log line each and the channel keeps ingesting; the test then reads
what the store holds (fragment counts, durations, no gaps). A kill -9 of the ingesting child
loses at most the fragment in flight; live HLS and DASH play while the channel ingests."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import clients
from conftest import PrivateServer

FIXTURES = Path(__file__).resolve().parents[1] / "OrigoTests" / "Fixtures" / "live"
SECONDS = 12
FPS = 25
GOP = 50           # 2 s fragments
RECORD = struct.Struct("<qQQIIQII")   # FragmentRecord (docs/LIVE.md)

SITE = """
<Directory "@ROOT@/live">
  OrigoLiveIngest on
  LimitRequestBody 0
</Directory>
<Directory "@ROOT@/closed">
  OrigoLiveIngest off
</Directory>
<Directory "@ROOT@/slow">
  OrigoLiveIngest on
  OrigoIngestIdleTimeout 2
</Directory>
LogLevel warn origo:info
"""


@pytest.fixture(scope="module", params=["event", "prefork"])
def site(request):
    """A private Apache per MPM: under prefork an ingest POST holds a whole child."""
    yield from live_site(request.param, ["live", "slow", "closed"])


def live_site(mpm: str, subdirs: list[str]):
    """A private Apache with SITE in a fresh root holding `subdirs` (writable for the children)."""
    root = tempfile.mkdtemp(prefix="origo-live-", dir="/tmp")
    os.chmod(root, 0o755)
    for sub in subdirs:
        os.mkdir(os.path.join(root, sub))
        os.chmod(os.path.join(root, sub), 0o777)   # Apache's children (www-data) write the store
    site = PrivateServer(root, SITE.replace("@ROOT@", root), mpm=mpm)
    site.root = root
    site.mpm = mpm
    yield site
    crashes = site.stop()
    shutil.rmtree(root, ignore_errors=True)
    assert not crashes, "\n".join(crashes[:20])


def push_command(url_for: dict[str, str], cmaf: bool, offset: float = 0, seconds: int = SECONDS) -> list[str]:
    """ffmpeg sending SECONDS of a real-time test channel: two H.264 bitrates and AAC, its
    timeline starting at `offset` seconds (an encoder that continues after a reconnect)."""
    # -t on the inputs: as an output option it would end only the first of several outputs.
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
           "-t", str(seconds), "-f", "lavfi", "-i", f"testsrc=size=320x180:rate={FPS}",
           "-t", str(seconds), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    video = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", str(GOP), "-keyint_min", str(GOP),
             "-sc_threshold", "0"]
    if not cmaf:
        return cmd + ["-map", "0:v", "-map", "0:v", "-map", "1:a", *video, "-b:v:0", "300k", "-b:v:1", "150k",
                      "-s:v:1", "160x90", "-c:a", "aac", "-b:a", "64k", "-output_ts_offset", str(offset),
                      "-f", "ismv", "-movflags", "isml+frag_keyframe", url_for["smooth"]]
    # DASH-IF ingest interface 1: one POST per track.
    flags = ["-movflags", "cmaf+frag_keyframe+empty_moov+default_base_moof", "-method", "POST"]
    return cmd + ["-map", "0:v", *video, "-b:v", "300k", "-f", "mp4", *flags, url_for["video-300k"],
                  "-map", "0:v", *video, "-b:v", "150k", "-s", "160x90", "-f", "mp4", *flags, url_for["video-150k"],
                  "-map", "1:a", "-c:a", "aac", "-b:a", "64k", "-f", "mp4", *flags, url_for["audio-64k"]]


def records(stream_dir: str, track: int) -> list[tuple]:
    with open(os.path.join(stream_dir, f"{track}.index"), "rb") as f:
        data = f.read()
    return [RECORD.unpack_from(data, i) for i in range(0, len(data) - len(data) % RECORD.size, RECORD.size)]


def check_track(stream_dir: str, track: int, timescale: int, video: bool):
    """Whole fragments, back to back, covering the channel; the media file holds exactly them."""
    recs = records(stream_dir, track)
    assert recs, f"{stream_dir}/{track}: nothing stored"
    for (t0, d0, o0, s0, *_), (t1, _, o1, *_) in zip(recs, recs[1:]):
        assert t1 == t0 + d0, f"track {track}: gap or overlap at {t0}+{d0} -> {t1}"
        assert o1 == o0 + s0
    last = recs[-1]
    assert os.path.getsize(os.path.join(stream_dir, f"{track}.media")) == last[2] + last[3]
    total = (last[0] + last[1] - recs[0][0]) / timescale
    assert abs(total - SECONDS) < 0.1, f"track {track}: {total} s stored"
    if video:
        assert len(recs) == SECONDS * FPS // GOP, f"track {track}: {len(recs)} fragments"
        assert all(r[1] == GOP * timescale // FPS and r[4] == GOP and r[6] & 1 for r in recs)
    return recs


def post(site, path: str, body: bytes, chunk: int = 1000) -> tuple[int, bytes]:
    """A chunked POST as encoders send it."""
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=20)
    try:
        pieces = (body[i:i + chunk] for i in range(0, len(body), chunk))
        conn.request("POST", "/" + path, body=pieces, encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked", "Content-Type": "video/mp4"})
        answer = conn.getresponse()
        return answer.status, answer.read()
    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        # The server may answer and close while we are still sending: read what it said.
        return -1, b""
    finally:
        conn.close()


def garbage_posts(site) -> list[tuple[str, int, str]]:
    """Broken ingest while the channel runs: (what, status, log text) for each."""
    smooth = (FIXTURES / "smooth-ingest.isml").read_bytes()
    first_moof = smooth.index(b"moof") - 4
    results = []
    log = site.log_size()

    def expect(what, path, body, status, reason):
        nonlocal log
        got, _ = post(site, path, body)
        text = site.log_since(log, settle=0.3)
        log = site.log_size()
        results.append((what, got, status, reason, text))

    # Random bytes read as a box header usually declare a huge size (413), else a broken one (400).
    expect("random bytes", "live/channel1.isml/Streams(junk)", os.urandom(20000), (400, 413), "live ingest: ")
    expect("a box smaller than its header", "live/channel1.isml/Streams(junk)", b"\x00\x00\x00\x04moof" + bytes(100),
           400, "live ingest: broken input")
    expect("a 4 GB box", "live/channel1.isml/Streams(junk)", b"\xff\xff\xff\xffmdat" + bytes(100), 413,
           "live ingest: too large")
    expect("a truncated fragment", "live/channel1.isml/Streams(cut)", smooth[:first_moof + 500], 400,
           "the body ended inside a box")
    expect("a fragment of an unannounced track", "live/channel1.isml/Streams(other)",
           smooth[:first_moof] + retrack(smooth[first_moof:], 9), 400, "which the moov did not announce")
    expect("a second encoder with another codec on the running stream", "live/channel1.isml/Streams(channel1)",
           smooth, 409, "changed its codec mid-stream")
    expect("the same fragments again (first time)", "live/channel1.isml/Streams(replay)", smooth, 200, "")
    # A reconnect resending what is stored (or a redundant encoder): skipped, not refused.
    expect("the same fragments again (skipped)", "live/channel1.isml/Streams(replay)", smooth, 200, "")
    first_fragment = smooth[first_moof:smooth.index(b"moof", smooth.index(b"mdat", first_moof)) - 4]
    expect("time going back within one connection", "live/channel1.isml/Streams(back)", smooth + first_fragment, 409,
           "went back in time")
    expect("a stream name that is no name", "live/channel1.isml/Streams(..)", smooth, 400, "bad publishing point path")
    return results


def retrack(fragments: bytes, track: int) -> bytes:
    """The first tfhd's track_ID set to `track`."""
    at = fragments.index(b"tfhd") + 8
    return fragments[:at] + struct.pack(">I", track) + fragments[at + 4:]


def test_smooth_ingest_from_ffmpeg_while_broken_posts_are_refused(site):
    stream_dir = os.path.join(site.root, "live", "channel1.live", "channel1")
    url = site.url("live/channel1.isml/Streams(channel1)")
    encoder = subprocess.Popen(push_command({"smooth": url}, cmaf=False), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        time.sleep(3)
        assert encoder.poll() is None, encoder.stderr.read().decode()
        refused = garbage_posts(site)
        assert encoder.poll() is None, "the broken POSTs took longer than the channel"
        out, err = encoder.communicate(timeout=SECONDS + 30)
    finally:
        if encoder.poll() is None:
            encoder.kill()
            encoder.wait()
    assert encoder.returncode == 0, err.decode()
    for what, got, status, reason, text in refused:
        # A refusal may reach a client that is still sending as a reset: the log line is the proof.
        assert got in (status if isinstance(status, tuple) else (status,)) + (-1,), f"{what}: {got}, expected {status}"
        if reason:
            assert reason in text, f"{what}: no log line with {reason!r} in:\n{text}"
    # The channel: two video tracks of 2 s fragments and the audio, gapless, 12 s each.
    for track, video in [(1, True), (2, True), (3, False)]:
        check_track(stream_dir, track, 10_000_000, video)
    isml = Path(site.root, "live", "channel1.isml").read_text()
    assert re.findall(r'<(video|audio) src="channel1.live/channel1/(\d)" systemBitrate="(\d+)"', isml) == [
        ("video", "1", "300000"), ("video", "2", "150000"), ("audio", "3", "64000")]
    # What the broken POSTs left: no stream for the junk, the replayed stream as it was first sent.
    assert not os.path.exists(os.path.join(site.root, "live", "channel1.live", "junk", "1.index"))
    assert len(records(os.path.join(site.root, "live", "channel1.live", "replay"), 1)) == 4


def test_cmaf_ingest_one_post_per_track(site):
    urls = {name: site.url(f"live/cmaf.isml/Streams({name}.cmf{name[0]})")
            for name in ["video-300k", "video-150k", "audio-64k"]}
    proc = subprocess.run(push_command(urls, cmaf=True), capture_output=True, timeout=SECONDS + 60)
    assert proc.returncode == 0, proc.stderr.decode()
    base = os.path.join(site.root, "live", "cmaf.live")
    check_track(os.path.join(base, "video-300k.cmfv"), 1, 12800, True)
    check_track(os.path.join(base, "video-150k.cmfv"), 1, 12800, True)
    check_track(os.path.join(base, "audio-64k.cmfa"), 1, 48000, False)
    isml = Path(site.root, "live", "cmaf.isml").read_text()
    assert sorted(re.findall(r'src="cmaf.live/([^"]+)"', isml)) == [
        "audio-64k.cmfa/1", "video-150k.cmfv/1", "video-300k.cmfv/1"]


def test_ingest_is_off_unless_enabled(site):
    log = site.log_size()
    status, _ = post(site, "closed/channel.isml/Streams(s)", b"\x00\x00\x00\x08free")
    assert status == 405
    assert "live ingest is not enabled here" in site.log_since(log)
    assert os.listdir(os.path.join(site.root, "closed")) == []


def test_a_stalled_encoder_is_cut_off_and_keeps_what_it_sent(site):
    smooth = (FIXTURES / "smooth-ingest.isml").read_bytes()
    second_moof = smooth.index(b"moof", smooth.index(b"mdat")) - 4   # after the first whole fragment
    log = site.log_size()
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as s:
        s.sendall(b"POST /slow/ch.isml/Streams(s) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        body = smooth[:second_moof + 100]
        s.sendall(b"%x\r\n%s\r\n" % (len(body), body))
        started = time.monotonic()
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        waited = time.monotonic() - started
    assert 1.5 < waited < 8, f"the connection stayed {waited:.1f} s"
    assert "ended without the end of its body" in site.log_since(log, settle=0.5)
    assert len(records(os.path.join(site.root, "slow", "ch.live", "s"), 1)) == 1


def lock_holder(path: str) -> int | None:
    """The pid holding a flock on `path` (from /proc/locks), if any."""
    inode = os.stat(path).st_ino
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            # "1: FLOCK  ADVISORY  WRITE 12345 08:01:123456 0 EOF"
            if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
                return int(fields[4])
    return None


def test_kill_9_of_the_ingesting_child_loses_at_most_the_fragment_in_flight(site):
    """The child writing a stream dies mid-ingest; what it committed stays whole, and the encoder's
    reconnect (continuing the timeline) is accepted after the repair."""
    stream_dir = os.path.join(site.root, "live", "crash.live", "s")
    url = site.url("live/crash.isml/Streams(s)")
    encoder = subprocess.Popen(push_command({"smooth": url}, cmaf=False), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (os.path.exists(os.path.join(stream_dir, "1.index"))
                                                   and os.path.getsize(os.path.join(stream_dir, "1.index")) >= 2 * RECORD.size):
            time.sleep(0.2)
        time.sleep(0.7)   # somewhere inside the next fragment
        pid = lock_holder(os.path.join(stream_dir, "lock"))
        assert pid, "no process holds the stream's lock"
        os.kill(pid, 9)
        encoder.communicate(timeout=30)
    finally:
        if encoder.poll() is None:
            encoder.kill()
            encoder.wait()
    assert encoder.returncode != 0, "the encoder did not notice its connection dying"
    before = {t: records(stream_dir, t) for t in (1, 2, 3)}
    for t, recs in before.items():
        assert len(recs) >= 2, f"track {t}: {len(recs)} fragments before the kill"
        for a, b in zip(recs, recs[1:]):
            assert b[0] == a[0] + a[1] and b[2] == a[2] + a[3]
        # Whole fragments only; bytes of the one in flight may follow them until the next writer cuts them.
        assert os.path.getsize(os.path.join(stream_dir, f"{t}.media")) >= recs[-1][2] + recs[-1][3]
    # The encoder reconnects and continues the timeline (2 s later).
    offset = (before[1][-1][0] + before[1][-1][1]) / 10_000_000 + 2
    proc = subprocess.run(push_command({"smooth": url}, cmaf=False, offset=offset), capture_output=True,
                          timeout=SECONDS + 60)
    assert proc.returncode == 0, proc.stderr.decode()
    for t, recs in before.items():
        after = records(stream_dir, t)
        assert after[:len(recs)] == recs, f"track {t}: fragments stored before the kill changed"
        assert len(after) > len(recs)
        assert after[len(recs)][0] >= recs[-1][0] + recs[-1][1]
        last = after[-1]
        assert os.path.getsize(os.path.join(stream_dir, f"{t}.media")) == last[2] + last[3]


@pytest.mark.parametrize("manifest", [".m3u8", ".mpd"])
def test_live_hls_and_dash_play_while_the_channel_ingests(site, manifest):
    """ffmpeg as a player of live HLS (fMP4, sliding window) and dynamic DASH while ffmpeg pushes the
    channel: every frame once, back to back, in both tracks."""
    name = "played" + manifest.replace(".", "-")
    url = site.url(f"live/{name}.isml/Streams(s)")
    encoder = subprocess.Popen(push_command({"smooth": url}, cmaf=False), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        time.sleep(6)   # two fragments stored
        master = site.url(f"live/{name}.isml/{manifest}")
        player = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", master, "-t", "4",
                                 "-map", "0:v:0", "-map", "0:a:0", "-f", "framemd5", "-"],
                                capture_output=True, timeout=60)
        assert player.returncode == 0, player.stderr.decode()
        frames: dict[str, list[tuple[int, int]]] = {"0": [], "1": []}
        for line in player.stdout.decode().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            stream, dts, pts, duration, *_ = [f.strip() for f in line.split(",")]
            frames[stream].append((int(pts), int(duration)))
        video, audio = frames["0"], frames["1"]
        assert 4 * FPS - 3 <= len(video) <= 4 * FPS + 1, len(video)
        assert 4 * 48000 // 1024 - 4 <= len(audio) <= 4 * 48000 // 1024 + 2, len(audio)
        for track in (video, audio):
            for (p0, d0), (p1, _) in zip(track, track[1:]):
                assert p1 == p0 + d0, f"gap or repeat at {p0}"
        if manifest == ".m3u8":
            answer = clients.get(site.url(f"live/{name}.isml/{name}-video=300000.m3u8"))
            assert answer.status == 200
            playlist = answer.body.decode()
            assert "#EXT-X-MEDIA-SEQUENCE:" in playlist and "#EXT-X-ENDLIST" not in playlist
        else:
            mpd = clients.get(master).body.decode()
            assert 'type="dynamic"' in mpd and 'timeShiftBufferDepth="PT30S"' in mpd
        encoder.communicate(timeout=SECONDS + 30)
    finally:
        if encoder.poll() is None:
            encoder.kill()
            encoder.wait()
    assert encoder.returncode == 0



# Video.js 7.5 (VHS 1.x) never follows a refreshed SegmentTimeline (its media loader compares the
# new MPD with a master the MPD refresh already replaced, so the playlist it plays stays the first
# one): live DASH for it is `$Number$` + `@duration` (mpd.segment_template=number), whose segments
# it derives from the clock. A 6 s window (dvr_window_length) slides twice while it plays.
@pytest.mark.parametrize("manifest,mime", [(".m3u8?dvr_window_length=6", "application/x-mpegURL"),
                                           (".mpd?dvr_window_length=6&mpd.segment_template=number", "application/dash+xml")])
def test_chromium_videojs_plays_the_live_channel(site, manifest, mime):
    """Chromium + Video.js (VHS for HLS and DASH) on the live channel while it ingests: it plays on
    at the live edge, with no player error and no failed request."""
    if site.mpm != "event":
        pytest.skip("one MPM is enough for the browser")
    clients.install_player(site.root)
    name = "browser" + manifest.split("?")[0].replace(".", "-")
    encoder = subprocess.Popen(push_command({"smooth": site.url(f"live/{name}.isml/Streams(s)")}, cmaf=False,
                                            seconds=40), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(8)
        r = clients.browser_play(site.url("player.html"), site.url(f"live/{name}.isml/{manifest}"), mime, timeout=15)
        assert not r.errors, r.summary()
        assert not r.failed_requests, r.summary()
        # 15 s of watching: at least 10 s of frames shown (past the end of the first 6 s window),
        # never stalled for 3 s.
        assert r.frames >= 10 * FPS, f"{site.base}: {r.summary()}"
        assert r.current_time >= 10, r.summary()
    finally:
        encoder.kill()
        encoder.wait()
