"""Smooth Streaming on both servers (Apache, nginx): the client manifest's structure, every fragment served with
PIFF timing that agrees with the manifest, GStreamer playbin3 (mssdemux) and VLC playing it to the
end, and yt-dlp (when installed) downloading every quality level with the source's frame count."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest

import clients

pytestmark = pytest.mark.servers("apache", "nginx")

MANIFEST = "abr.ism/Manifest"
TFXD = bytes.fromhex("6D1D9B0542D544E680E2141DAFF757B2")


def manifest(server, query: str = "") -> ET.Element:
    r = clients.get(server.url(MANIFEST + query))
    assert r.status == 200, r.body[:500]
    assert r.header("content-type").startswith("text/xml")
    return ET.fromstring(r.body)


def chunks(stream: ET.Element) -> list[tuple[int, int]]:
    """(t, d) of every `<c>`, implicit times filled in."""
    out, nxt = [], 0
    for c in stream.findall("c"):
        t = int(c.get("t", nxt))
        d = int(c.get("d"))
        out.append((t, d))
        nxt = t + d
    return out


def fragment_urls(stream: ET.Element, quality: ET.Element) -> list[tuple[str, int, int]]:
    template = stream.get("Url").replace("{bitrate}", quality.get("Bitrate"))
    return [(template.replace("{start time}", str(t)), t, d) for t, d in chunks(stream)]


def boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, payload start, payload end) of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[start + 8:start + 16])[0]
            header = 16
        assert size >= header and start + size <= end, f"bad box {kind} at {start}"
        yield kind.decode("latin-1"), start + header, start + size
        start += size


def piff_times(data: bytes) -> tuple[int, int, int]:
    """tfdt, tfxd time and tfxd duration of one fragment."""
    tfdt = tfxd = None
    for kind, s, e in boxes(data):
        if kind != "moof":
            continue
        for k2, s2, e2 in boxes(data, s, e):
            if k2 != "traf":
                continue
            for k3, s3, e3 in boxes(data, s2, e2):
                if k3 == "tfdt":
                    version = data[s3]
                    tfdt = struct.unpack(">Q" if version else ">I", data[s3 + 4:s3 + (12 if version else 8)])[0]
                elif k3 == "uuid" and data[s3:s3 + 16] == TFXD:
                    version = data[s3 + 16]
                    body = data[s3 + 20:e3]
                    tfxd = struct.unpack(">QQ" if version else ">II", body[:16 if version else 8])
    assert tfdt is not None and tfxd is not None, "fragment without tfdt or tfxd"
    return tfdt, tfxd[0], tfxd[1]


def test_manifest_structure(server, media):
    root = manifest(server)
    assert root.tag == "SmoothStreamingMedia"
    assert (root.get("MajorVersion"), root.get("MinorVersion"), root.get("TimeScale")) == ("2", "0", "10000000")
    assert abs(int(root.get("Duration")) / 1e7 - media.clip_seconds) < 0.2
    streams = root.findall("StreamIndex")
    assert [(s.get("Type"), s.get("Name"), s.get("Language")) for s in streams] == [
        ("video", "video", None), ("audio", "audio_eng", "eng"), ("audio", "audio_fra", "fra")]
    video = streams[0]
    levels = video.findall("QualityLevel")
    assert [q.get("Bitrate") for q in levels] == ["300000", "600000", "1200000"]
    assert [(q.get("MaxWidth"), q.get("MaxHeight")) for q in levels] == [("416", "234"), ("640", "360"), ("960", "540")]
    assert all(q.get("FourCC") == "H264" and q.get("CodecPrivateData", "").startswith("00000001") for q in levels)
    for audio, rate in zip(streams[1:], ("48000", "44100")):
        q = audio.find("QualityLevel")
        assert (q.get("FourCC"), q.get("AudioTag"), q.get("SamplingRate"), q.get("Channels")) == ("AACL", "255", rate, "2")
    for s in streams:
        c = chunks(s)
        assert int(s.get("Chunks")) == len(c)
        assert int(s.get("QualityLevels")) == len(s.findall("QualityLevel"))
        assert s.find("c").get("t") is not None
        assert all(a[0] + a[1] == b[0] for a, b in zip(c, c[1:])), "chunks not contiguous"
        assert abs((c[-1][0] + c[-1][1] - c[0][0]) / 1e7 - media.clip_seconds) < 0.1
    # The default cut is one fragment per GOP (2 s) for video.
    assert len(chunks(video)) == round(media.clip_seconds / 2)


def test_every_fragment_agrees_with_the_manifest(server):
    root = manifest(server)
    for stream in root.findall("StreamIndex"):
        kind = stream.get("Type")
        for quality in stream.findall("QualityLevel"):
            for url, t, d in fragment_urls(stream, quality):
                r = clients.get(server.url("abr.ism/" + url))
                assert r.status == 200, f"{url}: {r.status}"
                assert r.header("content-type") == f"{kind}/mp4", url
                assert r.body[4:8] == b"moof", f"{url}: does not start with moof"
                assert piff_times(r.body) == (t, t, d), url


def test_query_reaches_the_fragment_template(server):
    root = manifest(server, "?session_id=4157")
    for stream in root.findall("StreamIndex"):
        assert stream.get("Url").endswith("?session_id=4157")
        url, _, _ = fragment_urls(stream, stream.find("QualityLevel"))[0]
        assert clients.get(server.url("abr.ism/" + url)).status == 200


def test_http_errors(server):
    assert clients.get(server.url("abr.ism/manifest")).status == 200
    assert clients.get(server.url("abr.ism/QualityLevels(600000)/Fragments(video=1)")).status == 404
    assert clients.get(server.url("abr.ism/QualityLevels(600001)/Fragments(video=0)")).status == 404
    assert clients.get(server.url("abr.ism/QualityLevels(600000)/Fragments(nothing=0)")).status == 404
    assert clients.get(server.url("abr.ism/QualityLevels(abc)/Fragments(video=0)")).status == 400
    head = clients.request("HEAD", server.url(MANIFEST))
    assert head.status == 200 and head.body == b""


# basesink logs every buffer synchronously; fakesink `last-message` notifications printed by
# gst-launch -v can be coalesced, which loses buffers when counting frames.
_SINK_PTS = re.compile(r"chain_unlocked:<(v|a)> got times start: (\d+):(\d+):([\d.]+)")


def test_gstreamer_playbin3(server, media):
    url = server.url(MANIFEST)
    env = dict(os.environ, GST_DEBUG="basesink:5", GST_DEBUG_NO_COLOR="1")
    proc = subprocess.run(["timeout", "-k", "5", "120", "gst-launch-1.0", "playbin3", f"uri={url}",
                           "video-sink=fakesink name=v sync=false", "audio-sink=fakesink name=a sync=false"],
                          capture_output=True, text=True, errors="replace", env=env, timeout=150)
    out = proc.stdout + proc.stderr
    tail = "\n".join(line for line in out.splitlines()[-30:])
    assert "Got EOS" in out, tail
    errors = [line for line in out.splitlines() if line.startswith("ERROR") or " ERROR " in line]
    assert not errors, errors[:5]
    times: dict[str, list[float]] = {"v": [], "a": []}
    for kind, h, m, s in _SINK_PTS.findall(out):
        times[kind].append(int(h) * 3600 + int(m) * 60 + float(s))
    for kind, ts in times.items():
        assert ts, f"no {kind} buffers\n{tail}"
        ts.sort()
        assert ts[-1] - ts[0] >= media.clip_seconds - 1, f"{kind} spans {ts[0]:.2f}..{ts[-1]:.2f}"
        assert max(b - a for a, b in zip(ts, ts[1:])) <= 1.0, f"{kind}: gap over 1 s"
    # Audio and video start together (the sources do): the timeline offset moves both alike.
    assert abs(times["v"][0] - times["a"][0]) < 0.05, (times["v"][0], times["a"][0])
    # Every frame exactly once, whichever quality levels mssdemux switched between.
    expected = media.frames("abr-640x360.mp4")
    assert len(times["v"]) == expected and len(set(times["v"])) == expected, (len(times["v"]), expected)


def test_vlc_remux(server, media):
    url = server.url(MANIFEST)
    with tempfile.TemporaryDirectory(prefix="origo-vlc-", dir="/tmp") as work:
        r = clients.vlc_remux(url, work, "out.ts")
        expected = media.frames("abr-640x360.mp4")
        assert r.video_frames, f"{url}: VLC wrote no video\n{r.summary()}"
        assert r.video_frames[0] > 0.9 * expected, f"{url}: {r.video_frames} of {expected} frames\n{r.summary()}"


def test_ytdlp_downloads_every_quality_level(server, media):
    """A second opinion on the fragments: yt-dlp's ISM downloader (from requirements.txt)."""
    with tempfile.TemporaryDirectory(prefix="origo-ytdlp-", dir="/tmp") as work:
        files = clients.ytdlp_download(server.url(MANIFEST), work)
        assert len(files) == 5, files          # three video and two audio quality levels
        expected = media.frames("abr-640x360.mp4")
        for name in files:
            if name.endswith(".ismv"):
                assert clients.ffprobe_video_frames(os.path.join(work, name)) == [expected], name
