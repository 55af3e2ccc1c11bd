"""Track selection with `filter=` and `max_bitrate=` on a live Apache: the HLS master playlist, the
MPD and the Smooth manifest list exactly the selected tracks, filtered-out tracks 404, a malformed
filter is a 400 with one error-log line naming the position, and session_id stays on child URLs."""

from __future__ import annotations

import re
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

import clients
import playlists as pl

pytestmark = pytest.mark.servers("apache", "nginx")

ALL = {("video", 300000), ("video", 600000), ("video", 1200000), ("audio_eng", 128000), ("audio_fra", 96000)}

CASES = {
    '(type=="audio")||(type=="video"&&systemBitrate<1000000)':
        ALL - {("video", 1200000)},
    '(type=="video"&&MaxHeight<=360)||(type=="audio"&&systemLanguage=="fra")':
        {("video", 300000), ("video", 600000), ("audio_fra", 96000)},
    'type!="audio"||FourCC=="AACL"&&systemBitrate>100000':
        ALL - {("audio_fra", 96000)},
    '!(trackName=="audio_eng")':
        ALL - {("audio_eng", 128000)},
}


def q(expression: str) -> str:
    return "filter=" + urllib.parse.quote(expression, safe="")


def tokens_in(text: str) -> set[tuple[str, int]]:
    return {(n, int(b)) for n, b in re.findall(r"(video|audio_eng|audio_fra)=(\d+)", text)}


def hls_tracks(server, query: str) -> set[tuple[str, int]]:
    master, children = pl.master_children(server.url("abr.ism/.m3u8?" + query))
    found: set[tuple[str, int]] = set()
    for child in children:
        found |= tokens_in(child.split("?")[0].rsplit("/", 1)[1])
    return found


def dash_tracks(server, query: str) -> set[tuple[str, int]]:
    _, reps = pl.dash(server.url("abr.ism/.mpd?" + query))
    return {(r.id.split("=")[0], int(r.id.split("=")[1])) for r in reps}


def smooth_tracks(server, query: str) -> set[tuple[str, int]]:
    r = clients.get(server.url("abr.ism/Manifest?" + query))
    assert r.status == 200
    root = ET.fromstring(r.body)
    return {(s.get("Name"), int(ql.get("Bitrate"))) for s in root.findall("StreamIndex") for ql in s.findall("QualityLevel")}


def hds_tracks(server, query: str) -> set[tuple[str, int]]:
    r = clients.get(server.url("abr.ism/.f4m?" + query))
    assert r.status == 200
    root = ET.fromstring(r.body)
    return tokens_in(" ".join(m.get("url") for m in root.findall("{http://ns.adobe.com/f4m/1.0}media")))


@pytest.mark.parametrize("expression", CASES.keys())
def test_filter_selects_exactly(server, expression):
    query = q(expression) + "&session_id=4157"
    expected = CASES[expression]
    assert hls_tracks(server, query) == expected
    assert dash_tracks(server, query) == expected
    assert smooth_tracks(server, query) == expected
    # F4M 1.0 muxes every video with the first audio track left (eng before fra).
    audio = sorted((t for t in expected if t[0].startswith("audio")), key=lambda t: t[0] != "audio_eng")[:1]
    assert hds_tracks(server, query) == {t for t in expected if t[0] == "video"} | set(audio)


def test_unfiltered_lists_everything(server):
    assert hls_tracks(server, "") == ALL
    assert dash_tracks(server, "") == ALL
    assert smooth_tracks(server, "") == ALL


def test_max_bitrate(server):
    audio = {("audio_eng", 128000), ("audio_fra", 96000)}
    assert dash_tracks(server, "max_bitrate=700000") == audio | {("video", 300000), ("video", 600000)}
    assert hls_tracks(server, "max_bitrate=700000") == audio | {("video", 300000), ("video", 600000)}
    # Nothing fits: the lowest video stays.
    assert smooth_tracks(server, "max_bitrate=1000") == audio | {("video", 300000)}


def test_filtered_out_tracks_404(server):
    query = q('systemBitrate<1000000')
    assert clients.get(server.url("abr.ism/video=1200000-1.m4s?" + query)).status == 404
    assert clients.get(server.url("abr.ism/video=1200000.m4s?" + query)).status == 404
    assert clients.get(server.url("abr.ism/video=1200000-audio_eng=128000-1.ts?" + query)).status == 404
    assert clients.get(server.url("abr.ism/QualityLevels(1200000)/Fragments(video=0)?" + query)).status == 404
    assert clients.get(server.url("abr.ism/video=600000-1.m4s?" + query)).status == 200
    assert clients.get(server.url("abr.ism/.mpd?" + q('type=="meta"'))).status == 404


def test_child_urls_keep_filter_and_session(server):
    query = q('type=="video"||systemLanguage=="eng"') + "&session_id=4157"
    master, children = pl.master_children(server.url("abr.ism/.m3u8?" + query))
    for child in children:
        assert child.endswith("?" + query), child
        mp = pl.media_playlist(child)
        for url in mp.segment_urls[:1]:
            assert url.endswith("?" + query)
            assert clients.get(url).status == 200, url


@pytest.mark.parametrize("expression,message", [
    ('(type=="video"', "filter: expected ')' at 15"),
    ('type="video"', "filter: expected a comparison operator (== != < <= > >=) at 5"),
    ('type<"video"', "filter: type is a string, expected '==' or '!=' at 5"),
    ('colour=="red"', "filter: unknown attribute colour at 1"),
])
def test_malformed_filter_is_a_400_naming_the_position(server, expression, message):
    off = server.log_size()
    r = clients.get(server.url("abr.ism/.m3u8?" + q(expression)))
    assert r.status == 400
    lines = [line for line in server.log_since(off).splitlines() if "filter:" in line]
    assert len(lines) == 1, lines
    assert message in lines[0], lines[0]
