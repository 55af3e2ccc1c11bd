"""Smooth Streaming played by real clients: GStreamer playbin3 (mssdemux) to EOS, VLC remux.

Where the origin comes from:
- ORIGO_BASE_URL=http://host:port/dir set: a running Apache with mod_glue serving the directory
  ORIGO_MEDIA_DIR (the test writes its media and .ism there; both must be set together);
- otherwise the engine renders every Smooth URL in process (the SmoothDump Swift test) into a
  static tree, served by python's http.server (Smooth needs no Range requests).

Run: python3 -m pytest -q Tests/integration/test_smooth.py
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import functools
import http.server
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.request import urlopen

import pytest

ROOT = Path(__file__).resolve().parents[2]
DURATION = 8          # seconds of source media
FPS = 25
GOP = 50              # 2 s GOPs: the Smooth default cuts one fragment per GOP


def need(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def make_media(directory: Path):
    """Two H.264 renditions (with B-frames) and one AAC track, plus an .ism naming them."""
    need("ffmpeg")
    for name, size, rate in (("v1", "320x180", "300k"), ("v2", "480x270", "600k")):
        r = run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FPS}",
                 "-t", str(DURATION), "-c:v", "libx264", "-b:v", rate, "-g", str(GOP),
                 "-keyint_min", str(GOP), "-sc_threshold", "0", "-bf", "2", "-pix_fmt", "yuv420p",
                 str(directory / f"{name}.mp4")])
        assert r.returncode == 0, r.stderr
    r = run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
             "-ac", "2", "-t", str(DURATION), "-c:a", "aac", "-b:a", "96k", str(directory / "a.mp4")])
    assert r.returncode == 0, r.stderr
    (directory / "s.ism").write_text("""<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head/>
  <body>
    <switch>
      <video src="v1.mp4" systemBitrate="300000"/>
      <video src="v2.mp4" systemBitrate="600000"/>
      <audio src="a.mp4" systemBitrate="96000" systemLanguage="eng"/>
    </switch>
  </body>
</smil>
""")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def origin():
    """Yields the URL of `s.ism` (its Manifest is `<url>/Manifest`)."""
    base = os.environ.get("ORIGO_BASE_URL")
    if base:
        media = Path(os.environ["ORIGO_MEDIA_DIR"])
        make_media(media)
        yield base.rstrip("/") + "/s.ism"
        return
    work = Path(tempfile.mkdtemp(prefix="origo-smooth-"))
    make_media(work)
    tree = work / "www" / "s.ism"
    tree.mkdir(parents=True)
    env = dict(os.environ, ORIGO_SMOOTH_DUMP=f"{work / 's.ism'}|{tree}")
    scratch = os.environ.get("ORIGO_SCRATCH", ".build-smooth")
    r = run(["swift", "test", "--scratch-path", scratch, "--filter", "SmoothDump"], cwd=ROOT, env=env)
    assert r.returncode == 0 and (tree / "Manifest").exists(), r.stdout[-3000:] + r.stderr[-3000:]
    handler = functools.partial(QuietHandler, directory=str(work / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/s.ism"
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def chunks(stream):
    out, nxt = [], 0
    for c in stream.findall("c"):
        t = int(c.get("t", nxt))
        d = int(c.get("d"))
        out.append((t, d))
        nxt = t + d
    return out


def test_manifest_structure(origin):
    root = ET.fromstring(urlopen(origin + "/Manifest").read())
    assert root.tag == "SmoothStreamingMedia"
    assert (root.get("MajorVersion"), root.get("MinorVersion"), root.get("TimeScale")) == ("2", "0", "10000000")
    streams = root.findall("StreamIndex")
    assert [s.get("Type") for s in streams] == ["video", "audio"]
    video, audio = streams
    assert [q.get("Bitrate") for q in video.findall("QualityLevel")] == ["300000", "600000"]
    assert {q.get("FourCC") for q in video.findall("QualityLevel")} == {"H264"}
    assert audio.findall("QualityLevel")[0].get("FourCC") == "AACL"
    for s in streams:
        c = chunks(s)
        assert int(s.get("Chunks")) == len(c)
        assert all(a[0] + a[1] == b[0] for a, b in zip(c, c[1:]))
        assert abs((c[-1][0] + c[-1][1] - c[0][0]) / 1e7 - DURATION) < 0.1
    assert len(chunks(video)) == DURATION * FPS // GOP


# basesink logs every buffer synchronously; fakesink's `last-message` notifications can be
# coalesced by gst-launch and lose buffers.
PTS = re.compile(r"chain_unlocked:<(v|a)> got times start: (\d+):(\d+):([\d.]+)")


def test_gstreamer_plays_to_eos(origin):
    need("gst-launch-1.0")
    env = dict(os.environ, GST_DEBUG="basesink:5", GST_DEBUG_NO_COLOR="1")
    r = run(["timeout", "120", "gst-launch-1.0", "playbin3", f"uri={origin}/Manifest",
             "video-sink=fakesink name=v sync=false", "audio-sink=fakesink name=a sync=false"], env=env)
    out = r.stdout + r.stderr
    assert "Got EOS" in out, out[-3000:]
    assert not re.search(r"^ERROR|\sERROR\s", out, re.M), out[-3000:]
    times = {"v": [], "a": []}
    for kind, h, m, s in PTS.findall(out):
        times[kind].append(int(h) * 3600 + int(m) * 60 + float(s))
    for kind, ts in times.items():
        assert ts, f"no {kind} buffers"
        ts.sort()
        assert ts[-1] - ts[0] >= DURATION - 1, f"{kind} span {ts[0]}..{ts[-1]}"
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        assert max(gaps) < 1, f"{kind} gap {max(gaps)}"
    # Every frame decoded once, whichever quality levels mssdemux switched between.
    assert len(times["v"]) == DURATION * FPS
    assert len(set(times["v"])) == DURATION * FPS


def test_vlc_remuxes(origin):
    need("cvlc")
    need("ffprobe")
    # VLC refuses to run as root and then runs as nobody: its directory must be reachable by it.
    tmp_path = Path(tempfile.mkdtemp(prefix="origo-vlc-"))
    os.chmod(tmp_path, 0o777)
    out = tmp_path / "out.ts"
    cmd = ["cvlc", "-q", "--no-video-title-show", f"--sout=#std{{access=file,mux=ts,dst={out}}}",
           f"{origin}/Manifest", "vlc://quit"]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", f"HOME={tmp_path}"] + cmd
    r = run(["timeout", "120"] + cmd)
    assert out.exists() and out.stat().st_size > 0, r.stderr[-3000:]
    probe = run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                 "stream=codec_type,nb_read_frames", "-of", "csv=p=0", str(out)])
    frames = {}
    for line in probe.stdout.split():
        kind, _, n = line.partition(",")
        if n.strip().isdigit():
            frames[kind] = int(n)
    assert frames.get("video", 0) >= DURATION * FPS * 0.95, probe.stdout + r.stderr[-2000:]
    assert frames.get("audio", 0) > 0, probe.stdout
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_ytdlp_downloads_every_quality_level(origin):
    """A second opinion: yt-dlp's ISM downloader fetches every fragment of every quality level."""
    ytdlp = os.environ.get("ORIGO_YTDLP") or shutil.which("yt-dlp")
    if not ytdlp:
        pytest.skip("yt-dlp not installed (pip install yt-dlp; ORIGO_YTDLP=path)")
    need("ffprobe")
    work = Path(tempfile.mkdtemp(prefix="origo-ytdlp-"))
    try:
        r = run(["timeout", "300", ytdlp, "--abort-on-unavailable-fragments", "-f", "all",
                 "-o", "%(format_id)s.%(ext)s", f"{origin}/Manifest"], cwd=work)
        assert r.returncode == 0, r.stderr[-3000:]
        files = sorted(p.name for p in work.iterdir())
        assert len(files) == 3, files
        for name in files:
            probe = run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                         "stream=codec_type,nb_read_frames", "-of", "csv=p=0", str(work / name)])
            kind, _, n = probe.stdout.strip().partition(",")
            if kind == "video":
                assert int(n) == DURATION * FPS, (name, probe.stdout)
            else:
                assert abs(int(n) - DURATION * 48000 / 1024) <= 2, (name, probe.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
