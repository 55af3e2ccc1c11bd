"""The module under each of Apache's MPMs: a private Apache per MPM serves the ABR presentation;
ffmpeg decodes HLS and DASH completely and a concurrent burst of segment requests all succeed, with
no child crash in the error log."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

import clients
from conftest import CRASH_PATTERN, LAUNCHER, _find_error_log, _free_port


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
def test_mpm_serves_and_survives(media, mpm):
    port = _free_port()
    listen = f"127.0.0.1:{port}"
    start = subprocess.run([str(LAUNCHER), "start", "--root", media.root, "--listen", listen, "--mpm", mpm],
                           capture_output=True, text=True, timeout=120)
    assert start.returncode == 0, f"origo-httpd start --mpm {mpm} failed:\n{start.stdout}\n{start.stderr}"
    error_log = _find_error_log(start.stdout + "\n" + start.stderr, port)
    base = f"http://{listen}"
    try:
        frames = media.frames("abr-640x360.mp4")
        hls = clients.ffmpeg_decode(f"{base}/abr.ism/.m3u8")
        assert hls.errors == [] and hls.video_frames == [frames] * 3, hls.summary()
        dash = clients.ffmpeg_decode(f"{base}/ntsc.mp4/.mpd")
        assert dash.errors == [] and dash.video_frames == [media.frames("ntsc.mp4")], dash.summary()

        status, body = _get(f"{base}/abr.ism/.m3u8")
        assert status == 200
        variant = next(line for line in body.decode().splitlines() if line and not line.startswith("#"))
        status, body = _get(f"{base}/abr.ism/{variant}")
        assert status == 200
        segments = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
        urls = [f"{base}/abr.ism/{s}" for s in segments] * 10
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(_get, urls))
        assert all(s == 200 and len(b) > 0 for s, b in results), [s for s, _ in results if s != 200][:10]
    finally:
        stop = subprocess.run([str(LAUNCHER), "stop", "--listen", listen], capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr
    with open(error_log, encoding="utf-8", errors="replace") as f:
        crashes = [line for line in f if CRASH_PATTERN.search(line)]
    assert not crashes, f"children crashed under {mpm}:\n" + "".join(crashes[:10])
