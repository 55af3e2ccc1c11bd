"""Format options set in the server manifest: `<head>` metas (`hls_client_manifest_version`) and
`<paramGroup id="hls">` entries are honoured by every format, and the query string wins over them.
The documented table is README "Options"."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

import pytest

import clients
import hds_fetch
import playlists

pytestmark = pytest.mark.servers("apache", "nginx")

SOURCES = """    <switch>
      <video src="abr-416x234.mp4" systemBitrate="300000" />
      <video src="abr-640x360.mp4" systemBitrate="600000" />
      <audio src="audio-eng.mp4" systemBitrate="128000" systemLanguage="eng" />
    </switch>"""

OPTIONS = {  # group, name, value: HLS version 1 with audio-only variants and 6 s segments, DASH
             # $Number$ with 4 s segments, Smooth and HDS 4 s fragments.
    ("hls", "client_manifest_version", "1"), ("hls", "no_audio_only", "false"),
    ("hls", "minimum_fragment_length", "6"), ("mpd", "segment_template", "number"),
    ("mpd", "minimum_fragment_length", "4"), ("iss", "minimum_fragment_length", "4"),
    ("hds", "minimum_fragment_length", "4"),
}


def _write(root: str, name: str, head: str) -> str:
    with open(os.path.join(root, name), "w") as f:
        f.write(f"""<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
{head}
  </head>
  <body>
{SOURCES}
  </body>
</smil>
""")
    return name


@pytest.fixture(scope="module", params=["meta", "paramGroup"])
def ism(request, media) -> str:
    if request.param == "meta":
        head = "\n".join(f'    <meta name="{g}_{n}" content="{v}" />' for g, n, v in sorted(OPTIONS))
    else:
        groups = sorted({g for g, _, _ in OPTIONS})
        head = "\n".join(f'    <paramGroup id="{g}">\n'
                         + "\n".join(f'      <meta name="{n}" content="{v}" />' for gg, n, v in sorted(OPTIONS) if gg == g)
                         + "\n    </paramGroup>" for g in groups)
    return _write(media.root, f"options-{request.param}.ism", head)


def test_hls_options_from_the_server_manifest(server, ism):
    master = clients.get(server.url(f"{ism}/.m3u8")).body.decode()
    assert "#EXT-X-VERSION:1\n" in master
    assert "#EXT-X-MEDIA" not in master and "I-FRAME" not in master
    variants = re.findall(r'#EXT-X-STREAM-INF:[^\n]*CODECS="([^"]+)"', master)
    assert sum(1 for c in variants if "avc1" not in c) == 1, variants      # one audio-only variant
    media = playlists.media_playlist(server.url(f"{ism}/" + [l for l in master.splitlines() if l and not l.startswith("#")][0]))
    durations = media.durations
    assert all(float(d).is_integer() for d in durations), durations       # version 1: whole seconds
    assert all(d >= 6 for d in durations[:-1]), durations


def test_query_overrides_the_server_manifest(server, ism):
    master = clients.get(server.url(f"{ism}/.m3u8?hls.client_manifest_version=4&hls.no_audio_only=true")).body.decode()
    assert "#EXT-X-VERSION:4\n" in master and "#EXT-X-I-FRAME-STREAM-INF" in master
    assert all("avc1" in c for c in re.findall(r'#EXT-X-STREAM-INF:[^\n]*CODECS="([^"]+)"', master))
    _, reps = playlists.dash(server.url(f"{ism}/.mpd?mpd.segment_template=time"))
    assert all("$Time$" in r.media for r in reps)


def test_dash_options_from_the_server_manifest(server, ism):
    _, reps = playlists.dash(server.url(f"{ism}/.mpd"))
    video = [r for r in reps if r.kind == "video"]
    assert video and all("$Number$" in r.media for r in reps)
    for r in video:
        assert all(d >= 4 * r.timescale for _, d in r.segments[:-1]), r.segments


def test_smooth_options_from_the_server_manifest(server, ism):
    doc = ET.fromstring(clients.get(server.url(f"{ism}/Manifest")).body)
    video = next(s for s in doc.iter("StreamIndex") if s.get("Type") == "video")
    chunks = [int(c.get("d")) for c in video.iter("c")]
    assert len(chunks) >= 2 and all(d >= 40_000_000 for d in chunks[:-1]), chunks


def test_hds_options_from_the_server_manifest(server, ism):
    presentation = hds_fetch.load(server.url(f"{ism}/.f4m"))
    durations = [d for _, _, _, d in presentation.bootstrap.fragments()]
    assert len(durations) >= 2 and all(d >= 4000 for d in durations[:-1]), durations


def test_bad_option_in_the_server_manifest_is_reported(server, media):
    name = _write(media.root, "options-bad.ism", '    <meta name="hls_client_manifest_version" content="2" />')
    offset = server.log_size()
    r = clients.get(server.url(f"{name}/.m3u8"))
    assert r.status == 400
    assert "client_manifest_version" in server.log_since(offset)
