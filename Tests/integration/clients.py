"""Runs the real clients (ffmpeg, GStreamer, VLC, Chromium + Video.js) against a URL and reports what
they decoded. Exit codes of these tools lie (ffmpeg exits 0 after decode errors, VLC after failing
to open), so every function here
returns counts and collected error lines for the tests to assert on, never just a return code."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field

# ffmpeg stderr lines that mean a stream was not served or decoded correctly even if it exits 0.
FFMPEG_ERROR_PATTERN = re.compile(
    r"HTTP error|Failed to open|Invalid data found|error while decoding|Server returned"
    r"|Continuity check failed|Packet corrupt|non-existing PPS|decode_slice_header error"
    r"|non monoton|Non-monoton|DTS .* out of order|Queue input is backward in time",
    re.IGNORECASE,
)


# ---------------------------------------------------------------------------------------------- HTTP

@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def request(method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None,
            timeout: float = 30) -> Response:
    """One HTTP/1.1 request, no redirects followed, the body read completely (empty for HEAD)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        target = parts.path + (("?" + parts.query) if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def get(url: str, **kw) -> Response:
    return request("GET", url, **kw)


# -------------------------------------------------------------------------------------------- ffmpeg

@dataclass
class FfmpegResult:
    returncode: int
    video_frames: list[int]   # frames decoded per input video stream, in stream order
    audio_frames: list[int]
    errors: list[str]         # stderr lines matching FFMPEG_ERROR_PATTERN
    stderr: str

    def summary(self) -> str:
        tail = "\n".join(self.stderr.splitlines()[-25:])
        return (f"rc={self.returncode} video={self.video_frames} audio={self.audio_frames} "
                f"errors={self.errors[:10]}\n--- stderr tail ---\n{tail}")


_DECODED = re.compile(r"Input stream #\d+:\d+ \((video|audio|subtitle|data)\): .*?(\d+) frames decoded")


def ffmpeg_decode(url: str, timeout: float = 300, extra_input_args: list[str] | None = None,
                  map_spec: str = "0") -> FfmpegResult:
    """Decodes the streams `map_spec` selects (every stream by default) to null and counts decoded
    frames per stream."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "verbose", "-nostats"]
    cmd += extra_input_args or []
    cmd += ["-i", url, "-map", map_spec, "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
    video, audio = [], []
    for kind, frames in _DECODED.findall(proc.stderr):
        if kind == "video":
            video.append(int(frames))
        elif kind == "audio":
            audio.append(int(frames))
    errors = [line for line in proc.stderr.splitlines() if FFMPEG_ERROR_PATTERN.search(line)]
    return FfmpegResult(proc.returncode, video, audio, errors, proc.stderr)


def ffprobe_video_frames(path_or_url: str, timeout: float = 300) -> list[int]:
    """Exact frame count of every video stream (`ffprobe -count_frames`)."""
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v",
         "-show_entries", "stream=nb_read_frames", "-of", "json", path_or_url],
        capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        return []
    streams = json.loads(proc.stdout or "{}").get("streams", [])
    return [int(s.get("nb_read_frames", 0) or 0) for s in streams]


def ytdlp_download(url: str, work: str, timeout: int = 300) -> list[str]:
    """yt-dlp (from requirements.txt; ORIGO_YTDLP overrides) downloads every format of a Smooth
    `Manifest` or an `.f4m` into `work`, failing on a missing fragment; returns the file names, sorted."""
    ytdlp = os.environ.get("ORIGO_YTDLP") or os.path.join(os.path.dirname(sys.executable), "yt-dlp")
    assert os.access(ytdlp, os.X_OK), f"{ytdlp} missing: pip install -r Tests/integration/requirements.txt"
    proc = subprocess.run(["timeout", str(timeout), ytdlp, "--abort-on-unavailable-fragments", "-f", "all",
                           "-o", "%(format_id)s.%(ext)s", url],
                          cwd=work, capture_output=True, text=True, errors="replace")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sorted(os.listdir(work))


def ffprobe_json(url: str, timeout: float = 120) -> dict:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", url],
        capture_output=True, text=True, timeout=timeout)
    return json.loads(proc.stdout or "{}")


# ---------------------------------------------------------------------------------------- GStreamer

@dataclass
class GstResult:
    returncode: int
    got_eos: bool
    errors: list[str]
    video_pts: list[float]   # seconds, in arrival order

    @property
    def span(self) -> float:
        return (max(self.video_pts) - min(self.video_pts)) if self.video_pts else 0.0

    @property
    def largest_gap(self) -> float:
        pts = sorted(set(self.video_pts))
        return max((b - a for a, b in zip(pts, pts[1:])), default=0.0)

    def summary(self) -> str:
        return (f"rc={self.returncode} eos={self.got_eos} buffers={len(self.video_pts)} span={self.span:.3f} "
                f"gap={self.largest_gap:.3f} errors={self.errors[:5]}")


_GST_PTS = re.compile(r"GstFakeSink:v: last-message = chain .*?pts: (\d+):(\d\d):(\d\d)\.(\d+)")


def gst_play(url: str, timeout: float = 90) -> GstResult:
    """Plays `url` with playbin3 into fake sinks (as fast as possible) and collects video buffer PTS."""
    cmd = ["timeout", "-k", "5", str(int(timeout)), "gst-launch-1.0", "-v", "playbin3", f"uri={url}",
           "video-sink=fakesink name=v silent=false sync=false", "audio-sink=fakesink sync=false"]
    env = dict(os.environ, GST_DEBUG_NO_COLOR="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env, timeout=timeout + 30)
    out = proc.stdout + proc.stderr
    pts = []
    for h, m, s, frac in _GST_PTS.findall(out):
        pts.append(int(h) * 3600 + int(m) * 60 + int(s) + float("0." + frac))
    errors = [line for line in out.splitlines() if line.startswith("ERROR") or "ERROR:" in line]
    return GstResult(proc.returncode, "Got EOS" in out, errors, pts)


# --------------------------------------------------------------------------------------------- VLC

@dataclass
class VlcResult:
    returncode: int
    output: str             # path of the remuxed file
    video_frames: list[int]
    log: str

    def summary(self) -> str:
        tail = "\n".join(self.log.splitlines()[-20:])
        return f"rc={self.returncode} frames={self.video_frames}\n--- vlc log tail ---\n{tail}"


def vlc_remux(url: str, workdir: str, name: str, timeout: float = 120) -> VlcResult:
    """Remuxes `url` to a TS file with cvlc (run as `nobody`: VLC refuses root) and counts its frames."""
    home = tempfile.mkdtemp(prefix="vlc-home-", dir=workdir)
    os.chmod(workdir, 0o777)
    os.chmod(home, 0o777)
    dst = os.path.join(workdir, name)
    cmd = ["cvlc", "-q", "--no-video-title-show", "--sout", f"#std{{access=file,mux=ts,dst={dst}}}", url, "vlc://quit"]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
               "env", f"HOME={home}"] + cmd
    else:
        cmd = ["env", f"HOME={home}"] + cmd
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
        rc, log = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, log = -1, f"timed out after {timeout} s: {e}"
    frames = ffprobe_video_frames(dst) if os.path.exists(dst) else []
    return VlcResult(rc, dst, frames, log)


# ----------------------------------------------------------------------------------------- Chromium

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]


def videojs_dir() -> str:
    """The Video.js 7.5 distribution shipped by the PyPI package js-videojs."""
    import js.videojs  # type: ignore  # noqa: PLC0415  (only needed for the browser tests)
    return os.path.join(os.path.dirname(js.videojs.__file__), "resources")


PLAYER_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Origo test player</title>
<link href="video-js.min.css" rel="stylesheet">
<script src="video.min.js"></script></head>
<body>
<video id="v" class="video-js" muted playsinline width="640" height="360"></video>
<script>
  // The test reads window.result; the page never decides pass/fail itself.
  const params = new URLSearchParams(location.search);
  window.result = {ended: false, errors: [], stalls: 0, frames: 0, currentTime: 0};
  const player = videojs('v', {
    autoplay: true, muted: true, preload: 'auto',
    html5: {hls: {overrideNative: true}, nativeAudioTracks: false, nativeVideoTracks: false}
  });
  player.on('error', () => { const e = player.error(); window.result.errors.push(e ? (e.code + ' ' + e.message) : 'error'); });
  player.on('ended', () => {
    const el = player.tech(true) && player.tech(true).el();
    if (el && el.getVideoPlaybackQuality) window.result.frames = el.getVideoPlaybackQuality().totalVideoFrames;
    window.result.ended = true;
  });
  setInterval(() => {
    const el = player.tech(true) && player.tech(true).el();
    if (el && el.getVideoPlaybackQuality) window.result.frames = el.getVideoPlaybackQuality().totalVideoFrames;
    window.result.currentTime = player.currentTime();
  }, 200);
  player.src({src: params.get('src'), type: params.get('type')});
  player.play().catch(e => window.result.errors.push('play(): ' + e));
</script></body></html>
"""


def install_player(directory: str) -> None:
    """Copies Video.js and the test page into a directory the server under test serves statically."""
    res = videojs_dir()
    for name in ("video.min.js", "video-js.min.css"):
        shutil.copyfile(os.path.join(res, name), os.path.join(directory, name))
        os.chmod(os.path.join(directory, name), 0o644)
    page = os.path.join(directory, "player.html")
    with open(page, "w") as f:
        f.write(PLAYER_HTML)
    os.chmod(page, 0o644)


@dataclass
class BrowserResult:
    ended: bool
    frames: int
    errors: list[str]
    stalled: bool
    current_time: float
    console: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"ended={self.ended} frames={self.frames} t={self.current_time:.2f} stalled={self.stalled} "
                f"errors={self.errors} failed={self.failed_requests[:5]} console={self.console[-5:]}")


def browser_play(page_url: str, src: str, mime: str, timeout: float = 90) -> BrowserResult:
    """Opens the Video.js test page for `src` in headless Chromium and waits for `ended`; a stall of
    `currentTime` for 3 s (or the timeout) ends the run."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    url = f"{page_url}?src={urllib.parse.quote(src, safe='')}&type={urllib.parse.quote(mime, safe='')}"
    console: list[str] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="origo-chromium-") as profile, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                    args=CHROMIUM_ARGS)
        try:
            page = ctx.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
            page.on("requestfailed", lambda r: failed.append(f"failed {r.url}"))
            page.goto(url)
            deadline = time.monotonic() + timeout
            last_time, last_change = -1.0, time.monotonic()
            state = {}
            while time.monotonic() < deadline:
                state = page.evaluate("window.result") or {}
                if state.get("ended") or state.get("errors"):
                    break
                t = float(state.get("currentTime") or 0)
                if t != last_time:
                    last_time, last_change = t, time.monotonic()
                elif time.monotonic() - last_change > 3:
                    break
                time.sleep(0.25)
            stalled = not state.get("ended") and not state.get("errors")
            return BrowserResult(bool(state.get("ended")), int(state.get("frames") or 0),
                                 list(state.get("errors") or []), stalled, float(state.get("currentTime") or 0),
                                 console, failed)
        finally:
            ctx.close()


if __name__ == "__main__":
    # `python clients.py install-player DIR`: the sample server's browser page (scripts/serve-sample.sh).
    if len(sys.argv) != 3 or sys.argv[1] != "install-player":
        sys.exit("usage: clients.py install-player DIR")
    install_player(sys.argv[2])
