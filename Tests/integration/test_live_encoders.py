"""Encoders in real life (issue #17, docs/LIVE.md): an encoder pushing a real-time channel is cut
off by a kill -9 of its child, rides through a graceful restart, and is cut off again by a full
stop/start of the server; each time it reconnects and continues its timeline. Then ffmpeg plays
the whole archive as live HLS: every frame once, in order, with no gap longer than the one
fragment each reconnect lost. With `restart_on_encoder_reconnect` a reconnect starts an HLS
discontinuity and a DASH Period. Two encoders pushing the same stream give one timeline."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import clients
from conftest import LAUNCHER
from test_live_ingest import FPS, GOP, RECORD, live_site, lock_holder, push_command, records

TIMESCALE = 10_000_000          # Smooth ingest
FRAGMENT = GOP * TIMESCALE // FPS


@pytest.fixture(scope="module", params=["event", "prefork"])
def site(request):
    yield from live_site(request.param, ["live"])


def publishing_point(site, name: str, restart: bool) -> str:
    """An .isml written by hand: an hour of DVR window (the whole test is in it)."""
    Path(site.root, "live", f"{name}.isml").write_text(
        '<?xml version="1.0"?>\n<smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head>'
        '<meta name="dvr_window_length" content="3600"/>'
        f'<meta name="restart_on_encoder_reconnect" content="{"true" if restart else "false"}"/>'
        '</head><body><switch/></body></smil>\n')
    os.chmod(os.path.join(site.root, "live", f"{name}.isml"), 0o666)
    return os.path.join(site.root, "live", f"{name}.live", "s")


def video_end(stream_dir: str) -> float:
    recs = records(stream_dir, 1)
    return (recs[-1][0] + recs[-1][1]) / TIMESCALE if recs else 0.0


def wait_for_fragments(stream_dir: str, count: int, timeout: float = 30):
    deadline = time.monotonic() + timeout
    path = os.path.join(stream_dir, "1.index")
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) >= count * RECORD.size:
            return
        time.sleep(0.2)
    pytest.fail(f"{count} fragments not stored within {timeout} s")


class Encoder:
    """ffmpeg pushing `seconds` of the channel from `offset`: a reconnecting encoder continues
    where the store ends plus one fragment (the one in flight when it was cut off)."""

    def __init__(self, url: str, offset: float, seconds: int):
        self.proc = subprocess.Popen(push_command({"smooth": url}, cmaf=False, offset=offset, seconds=seconds),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self, timeout: float = 60) -> int:
        try:
            self.proc.communicate(timeout=timeout)
        finally:
            self.stop()
        return self.proc.returncode

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def push_and_kill_the_child(url: str, stream_dir: str, seconds: int):
    """A push from 0 whose ingesting child gets kill -9 inside its third fragment."""
    encoder = Encoder(url, 0, seconds)
    try:
        wait_for_fragments(stream_dir, 2)
        time.sleep(0.7)   # inside the next fragment
        pid = lock_holder(os.path.join(stream_dir, "lock"))
        assert pid, "no process holds the stream's lock"
        os.kill(pid, signal.SIGKILL)
        assert encoder.wait() != 0, "the encoder did not notice its connection dying"
    finally:
        encoder.stop()


def reconnect_offset(stream_dir: str) -> float:
    return video_end(stream_dir) + GOP / FPS


def check_store(stream_dir: str, reconnects: int):
    """Per track: no overlap, and at most `reconnects` gaps, each shorter than a fragment and a bit."""
    for track in (1, 2, 3):
        recs = records(stream_dir, track)
        gaps = []
        for (t0, d0, o0, s0, *_), (t1, _, o1, *_) in zip(recs, recs[1:]):
            assert t1 >= t0 + d0, f"track {track}: overlap at {t0}+{d0} -> {t1}"
            assert o1 == o0 + s0, f"track {track}: media not back to back"
            if t1 > t0 + d0:
                gaps.append(t1 - (t0 + d0))
        assert len(gaps) <= reconnects, f"track {track}: {len(gaps)} gaps for {reconnects} reconnects"
        assert all(g <= FRAGMENT + TIMESCALE // 10 for g in gaps), f"track {track}: gaps {gaps}"
        assert os.path.getsize(os.path.join(stream_dir, f"{track}.media")) == recs[-1][2] + recs[-1][3]


def play_archive(site, name: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """ffmpeg plays the channel's live HLS from its first segment to its end: (pts, duration) of
    every video and audio frame (in 1/25 s and 1/48000 s)."""
    player = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-live_start_index", "0",
                             "-m3u8_hold_counters", "2", "-i", site.url(f"live/{name}.isml/.m3u8"),
                             "-map", "0:v:0", "-map", "0:a:0", "-f", "framemd5", "-"],
                            capture_output=True, timeout=120)
    assert player.returncode == 0, player.stderr.decode()[-2000:]
    frames: dict[str, list[tuple[int, int]]] = {"0": [], "1": []}
    timebases: dict[str, int] = {}
    for line in player.stdout.decode().splitlines():
        if line.startswith("#tb "):   # "#tb 0: 1/25": the stream's time base
            stream, base = line[4:].split(":")
            timebases[stream.strip()] = int(base.strip().split("/")[1])
        if line.startswith("#") or not line.strip():
            continue
        stream, _dts, pts, duration, *_ = [f.strip() for f in line.split(",")]
        frames[stream].append((int(pts), int(duration)))
    assert timebases.get("0") == FPS and timebases.get("1") == 48_000, timebases
    return frames["0"], frames["1"]


def check_played(frames: list[tuple[int, int]], stored_seconds: float, max_gap: float, timebase: int):
    """Every frame once, in order; gaps no longer than `max_gap` seconds; as much media as stored."""
    assert frames, "nothing played"
    total = sum(d for _, d in frames) / timebase
    assert abs(total - stored_seconds) < 0.2, f"played {total} s of {stored_seconds} s stored"
    for (p0, d0), (p1, _) in zip(frames, frames[1:]):
        assert p1 >= p0 + d0, f"repeat or overlap at {p0}"
        assert p1 - (p0 + d0) <= max_gap * timebase, f"gap of {(p1 - p0 - d0) / timebase} s at {p0}"


def stored_seconds(stream_dir: str, track: int) -> float:
    return sum(r[1] for r in records(stream_dir, track)) / TIMESCALE


def test_reconnects_after_kill_graceful_and_full_restart_continue_the_timeline(site):
    stream_dir = publishing_point(site, "reconnect", restart=False)
    url = site.url("live/reconnect.isml/Streams(s)")
    launcher_args = [str(LAUNCHER), "start", "--root", site.root, "--listen", site.listen,
                     "--include", os.path.join(site.dir, "site.conf"), "--mpm", site.mpm]
    # 1. kill -9 of the child that ingests.
    push_and_kill_the_child(url, stream_dir, 10)
    # 2. A graceful restart while the reconnected encoder pushes: the POST rides through it.
    stored = len(records(stream_dir, 1))
    encoder = Encoder(url, reconnect_offset(stream_dir), 8)
    try:
        wait_for_fragments(stream_dir, stored + 1)
        with open(site.pid_file) as f:
            os.kill(int(f.read().strip()), signal.SIGUSR1)   # apachectl -k graceful
        assert encoder.wait() == 0, encoder.proc.stderr.read().decode() if encoder.proc.stderr else ""
    finally:
        encoder.stop()
    # 3. A full stop/start of the server while the next connection pushes.
    stored = len(records(stream_dir, 1))
    encoder = Encoder(url, reconnect_offset(stream_dir), 10)
    try:
        wait_for_fragments(stream_dir, stored + 1)
        time.sleep(0.7)
        restart = subprocess.run(launcher_args, capture_output=True, text=True, timeout=120)
        assert restart.returncode == 0, restart.stdout + restart.stderr
        assert encoder.wait() != 0, "the encoder did not notice the server stopping"
    finally:
        encoder.stop()
    # 4. The last reconnect, to the restarted server.
    assert Encoder(url, reconnect_offset(stream_dir), 6).wait() == 0
    # Two reconnects that lost a fragment (the graceful restart lost none, but its reconnect
    # offset left one out as well): at most three gaps, each at most one fragment.
    check_store(stream_dir, reconnects=3)
    video, audio = play_archive(site, "reconnect")
    check_played(video, stored_seconds(stream_dir, 1), max_gap=GOP / FPS, timebase=FPS)
    check_played(audio, stored_seconds(stream_dir, 3), max_gap=GOP / FPS + 0.1, timebase=48_000)
    # Continuing the timeline is not a new period.
    playlist = clients.get(site.url("live/reconnect.isml/reconnect-video=300000.m3u8")).body.decode()
    assert "DISCONTINUITY" not in playlist


def test_restart_on_encoder_reconnect_starts_a_discontinuity_and_a_period(site):
    stream_dir = publishing_point(site, "restart", restart=True)
    url = site.url("live/restart.isml/Streams(s)")
    push_and_kill_the_child(url, stream_dir, 8)
    before = len(records(stream_dir, 1))
    assert Encoder(url, reconnect_offset(stream_dir), 6).wait() == 0
    recs = records(stream_dir, 1)
    assert [i for i, r in enumerate(recs) if r[6] & 2] == [before]
    playlist = clients.get(site.url("live/restart.isml/restart-video=300000.m3u8")).body.decode()
    assert playlist.count("#EXT-X-DISCONTINUITY\n") == 1
    segments = [line for line in playlist.splitlines() if line.endswith(".m4s") and not line.startswith("#")]
    assert playlist.split("#EXT-X-DISCONTINUITY\n")[1].split("\n")[2] == segments[before]
    mpd = clients.get(site.url("live/restart.isml/.mpd")).body.decode()
    start = recs[before][0] / TIMESCALE
    assert mpd.count("<Period ") == 2 and f'<Period id="2" start="PT{start:g}S">' in mpd, mpd[:1500]
    # Players go through the discontinuity: every frame once, the gap is the lost fragment.
    video, audio = play_archive(site, "restart")
    check_played(video, stored_seconds(stream_dir, 1), max_gap=GOP / FPS, timebase=FPS)


def test_two_encoders_on_one_stream_give_one_timeline(site):
    """Redundant ingest: two ffmpeg pushes of the same channel (same timestamps) to one stream; the
    first stops halfway and the second carries on, without a gap, a repeat or a new period."""
    stream_dir = publishing_point(site, "redundant", restart=True)
    url = site.url("live/redundant.isml/Streams(s)")
    first = Encoder(url, 0, 10)
    time.sleep(1)
    second = Encoder(url, 0, 10)
    try:
        wait_for_fragments(stream_dir, 2)
        first.stop()
        assert second.wait() == 0, second.proc.stderr.read().decode() if second.proc.stderr else ""
    finally:
        first.stop()
        second.stop()
    for track in (1, 2, 3):
        recs = records(stream_dir, track)
        for (t0, d0, o0, s0, *_), (t1, _, o1, *_) in zip(recs, recs[1:]):
            assert t1 == t0 + d0, f"track {track}: gap or overlap at {t0}+{d0} -> {t1}"
            assert o1 == o0 + s0
        assert not any(r[6] & 2 for r in recs), "the standby encoder taking over started a period"
    assert len(records(stream_dir, 1)) == 10 * FPS // GOP
    video, _ = play_archive(site, "redundant")
    assert len(video) == 10 * FPS
    check_played(video, 10, max_gap=0, timebase=FPS)


def test_catchup_with_vbegin_vend_in_utc_plays_as_vod(site):
    """vbegin (ISO 8601) / vend (epoch seconds) over the archive: an ENDLIST presentation of the
    fragments starting in the range; ffprobe and ffmpeg find exactly their duration and frames."""
    stream_dir = publishing_point(site, "catchup", restart=False)
    assert Encoder(site.url("live/catchup.isml/Streams(s)"), 0, 10).wait() == 0
    first = records(stream_dir, 1)[0]
    zero = first[5] / 1000 - (first[0] + first[1]) / TIMESCALE   # wall time of media time 0, as the MPD's
    begin = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(zero + 4)) + f".{int((zero + 4) % 1 * 1000):03d}Z"
    query = f"vbegin={begin}&vend={zero + 9.5:.3f}"
    expected = [r for r in records(stream_dir, 1) if 4 * TIMESCALE - TIMESCALE // 100 <= r[0] < 9.5 * TIMESCALE]
    seconds = sum(r[1] for r in expected) / TIMESCALE
    assert len(expected) == 3 and seconds == 6
    playlist = clients.get(site.url(f"live/catchup.isml/catchup-video=300000.m3u8?{query}")).body.decode()
    assert "#EXT-X-ENDLIST" in playlist and playlist.count("#EXTINF:2.000,") == 3, playlist
    url = site.url(f"live/catchup.isml/.m3u8?{query}")
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", url],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert abs(float(probe.stdout.strip()) - seconds) < 0.1, probe.stdout
    frames = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", url, "-map", "0:v:0",
                             "-f", "framemd5", "-"], capture_output=True, text=True, timeout=60)
    assert frames.returncode == 0, frames.stderr
    assert len([ln for ln in frames.stdout.splitlines() if ln and not ln.startswith("#")]) == seconds * FPS


def test_archive_rolls_and_purges_while_the_channel_plays(site):
    """archiving with archive_length 4 and archive_segment_length 2: while a channel is pushed, the
    media is kept in one file per fragment and the files older than the archive are deleted; live
    HLS offers only what is kept and ffmpeg plays it."""
    stream_dir = publishing_point(site, "archive", restart=False)
    isml = Path(site.root, "live", "archive.isml")
    isml.write_text(isml.read_text().replace(
        "</head>", '<meta name="archiving" content="true"/><meta name="archive_length" content="4"/>'
                   '<meta name="archive_segment_length" content="2"/></head>'))
    assert Encoder(site.url("live/archive.isml/Streams(s)"), 0, 12).wait() == 0
    recs = records(stream_dir, 1)
    assert len(recs) == 6
    files = sorted(f for f in os.listdir(stream_dir) if f.startswith("1.media"))
    with open(os.path.join(stream_dir, "1.purged"), "rb") as f:
        purged = int.from_bytes(f.read(), "little")
    # Kept: the fragments ending within 4 s of the end (two), in their own files.
    assert purged == 4 and files == ["1.media.4", "1.media.5"], (purged, files)
    playlist = clients.get(site.url("live/archive.isml/archive-video=300000.m3u8")).body.decode()
    assert "#EXT-X-MEDIA-SEQUENCE:5\n" in playlist and playlist.count("#EXTINF") == 2, playlist
    assert clients.get(site.url("live/archive.isml/archive-video=300000-4.m4s")).status == 404
    video, _ = play_archive(site, "archive")
    assert len(video) == 4 * FPS
