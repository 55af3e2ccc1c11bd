"""Structure of generated playlists and MPDs (parsed with the `m3u8` and `mpegdash` packages)."""

from __future__ import annotations

import math
import re

import pytest

import playlists as pl

pytestmark = pytest.mark.servers("apache", "nginx")

ABR_SIZES = {(416, 234), (640, 360), (960, 540)}
SINGLE_FILES = ["hevc.mp4", "cmaf.mp4", "moov-at-end.mp4", "faststart.mp4", "ntsc.mp4"]
# Sum of a playlist's segment durations vs the clip's length (audio priming and frame rounding).
DURATION_TOLERANCE = 0.25


def check_media_playlist(mp: pl.MediaPlaylist, duration: float, fmp4: bool) -> None:
    p = mp.playlist
    assert p.is_endlist, f"{mp.url}: no #EXT-X-ENDLIST"
    assert p.segments, f"{mp.url}: no segments"
    total = sum(mp.durations)
    assert abs(total - duration) <= DURATION_TOLERANCE, f"{mp.url}: EXTINF sum {total:.3f} vs duration {duration:.3f}"
    assert p.target_duration is not None, f"{mp.url}: no #EXT-X-TARGETDURATION"
    for d in mp.durations:
        assert d > 0, f"{mp.url}: EXTINF {d}"
        assert round(d) <= p.target_duration, f"{mp.url}: EXTINF {d} exceeds TARGETDURATION {p.target_duration}"
    ext = ".m4s" if fmp4 else ".ts"
    numbers = []
    for s in p.segments:
        path = s.uri.split("?")[0]
        m = re.search(r"-(\d+)" + re.escape(ext) + r"$", path)
        assert m, f"{mp.url}: segment URI {s.uri!r} is not <base>-<tokens>-<N>{ext}"
        numbers.append(int(m.group(1)))
    assert numbers == list(range(1, len(numbers) + 1)), f"{mp.url}: segment numbers {numbers}"
    if fmp4:
        for s in p.segments:
            assert s.init_section is not None and s.init_section.uri, f"{mp.url}: fMP4 segment without EXT-X-MAP"
            assert s.init_section.uri.split("?")[0].endswith(".m4s"), f"{mp.url}: init {s.init_section.uri}"
    else:
        assert all(s.init_section is None for s in p.segments), f"{mp.url}: EXT-X-MAP in a TS playlist"


def check_abr_master(master_url: str) -> tuple[object, list[str]]:
    master, children = pl.master_children(master_url)
    sizes = set()
    for v in master.playlists:
        info = v.stream_info
        assert info.bandwidth and info.bandwidth > 0, f"variant {v.uri}: no BANDWIDTH"
        assert info.codecs, f"variant {v.uri}: no CODECS"
        assert "avc1." in info.codecs, f"variant {v.uri}: CODECS {info.codecs}"
        assert info.resolution, f"variant {v.uri}: no RESOLUTION"
        sizes.add(tuple(info.resolution))
        if not info.audio:
            # Audio muxed into the variant itself: its codec must be declared too.
            assert "mp4a.40." in info.codecs, f"variant {v.uri} carries audio but CODECS {info.codecs}"
        else:
            assert "mp4a.40." in info.codecs, f"variant {v.uri} refers to audio group {info.audio}, CODECS {info.codecs}"
            groups = {m.group_id for m in master.media if m.type == "AUDIO"}
            assert info.audio in groups, f"variant {v.uri}: AUDIO={info.audio} not among {groups}"
    assert sizes == ABR_SIZES, f"resolutions {sizes}"
    every_uri = " ".join(children)
    for token in ("video=300000", "video=600000", "video=1200000", "audio_eng=128000", "audio_fra=96000"):
        assert token in every_uri, f"no playlist for {token} in the master playlist: {children}"
    for m in master.media:
        if m.type == "AUDIO":
            assert m.language, f"audio rendition {m.uri} without LANGUAGE"
    return master, children


@pytest.mark.parametrize("query,fmp4", [("", False), ("?hls.fmp4=true", True)], ids=["ts", "fmp4"])
def test_hls_abr_master_and_media_playlists(server, media, query, fmp4):
    master, children = check_abr_master(server.url(f"abr.ism/.m3u8{query}"))
    assert children
    for url in children:
        check_media_playlist(pl.media_playlist(url), media.clip_seconds, fmp4)


def test_hls_fmp4_from_server_manifest_option(server, media):
    """`<meta name="hls_fmp4" content="true">` in the .ism selects fMP4 HLS without a query."""
    master, children = check_abr_master(server.url("abr-fmp4.ism/master.m3u8"))
    for url in children:
        check_media_playlist(pl.media_playlist(url), media.clip_seconds, fmp4=True)


def test_hls_master_name_is_free(server):
    a = pl.fetch_text(server.url("abr.ism/.m3u8"), pl.HLS_TYPE)
    b = pl.fetch_text(server.url("abr.ism/anything-else.m3u8"), pl.HLS_TYPE)
    assert a == b


@pytest.mark.parametrize("query", ["", "?hls.fmp4=true"], ids=["ts", "fmp4"])
def test_hls_segment_boundaries_identical_across_renditions(server, query):
    master, _ = pl.master_children(server.url(f"abr.ism/.m3u8{query}"))
    lists = {v.uri: pl.media_playlist(pl.absolute(server.url("abr.ism/.m3u8"), v.uri)).durations
             for v in master.playlists}
    first = next(iter(lists.values()))
    for uri, durations in lists.items():
        assert durations == first, f"EXTINF lists differ: {uri} {durations} vs {first}"


def test_hls_minimum_fragment_length(server, media):
    """Default 4 s segments (2 s GOPs → 4 s each, the last may be shorter); 2 s on request."""
    master, _ = pl.master_children(server.url("abr.ism/.m3u8"))
    video = next(v for v in master.playlists if tuple(v.stream_info.resolution) == (640, 360))
    default = pl.media_playlist(pl.absolute(server.url("abr.ism/.m3u8"), video.uri)).durations
    assert all(d >= 4 - 0.05 for d in default[:-1]), f"default segments {default}"
    assert len(default) == math.ceil(media.clip_seconds / 4), f"default segments {default}"
    master2, _ = pl.master_children(server.url("abr.ism/.m3u8?hls.minimum_fragment_length=2"))
    video2 = next(v for v in master2.playlists if tuple(v.stream_info.resolution) == (640, 360))
    short = pl.media_playlist(pl.absolute(server.url("abr.ism/.m3u8"), video2.uri)).durations
    assert len(short) == round(media.clip_seconds / 2), f"2 s segments {short}"
    assert all(abs(d - 2) < 0.05 for d in short[:-1]), f"2 s segments {short}"


def check_mpd(url: str, duration: float):
    mpd, reps = pl.dash(url)
    assert (mpd.type or "static") == "static", f"{url}: type {mpd.type}"
    total = pl.iso_seconds(mpd.media_presentation_duration)
    assert abs(total - duration) <= DURATION_TOLERANCE, f"{url}: mediaPresentationDuration {total} vs {duration}"
    assert reps, f"{url}: no representations"
    for r in reps:
        assert r.segments, f"{url}: representation {r.id} has no SegmentTimeline entries"
        assert abs(r.total_seconds - total) <= DURATION_TOLERANCE, \
            f"{url}: {r.id} timeline sums to {r.total_seconds:.3f} s, MPD says {total:.3f} s"
        assert r.initialization and r.media, f"{url}: {r.id} template incomplete"
        starts = [t for t, _ in r.segments]
        assert starts == sorted(starts), f"{url}: {r.id} timeline not increasing"
    return mpd, reps


def test_dash_abr_mpd(server, media):
    url = server.url("abr.ism/.mpd")
    mpd, reps = check_mpd(url, media.clip_seconds)
    video = [r for r in reps if r.kind == "video"]
    audio = [r for r in reps if r.kind == "audio"]
    assert {(r.width, r.height) for r in video} == ABR_SIZES
    assert all(r.codecs.startswith("avc1.") for r in video), [r.codecs for r in video]
    assert sorted(r.id for r in video) == sorted(["video=300000", "video=600000", "video=1200000"])
    assert sorted(r.id for r in audio) == sorted(["audio_eng=128000", "audio_fra=96000"])
    assert all(r.codecs.startswith("mp4a.40.") for r in audio), [r.codecs for r in audio]
    assert all(r.lang for r in audio), "audio adaptation sets without @lang"
    # $Time$ addressing is the default.
    assert all("$Time$" in r.media for r in reps), [r.media for r in reps]
    # Video segments are aligned across renditions.
    timelines = {r.id: r.segments for r in video}
    first = next(iter(timelines.values()))
    assert all(t == first for t in timelines.values()), timelines


def test_dash_number_template(server, media):
    mpd, reps = check_mpd(server.url("abr.ism/.mpd?mpd.segment_template=number"), media.clip_seconds)
    for r in reps:
        assert "$Number$" in r.media, r.media
        _, urls = pl.dash_segment_urls(server.url("abr.ism/.mpd"), r)
        assert re.search(r"-n1\.dash(\?|$)", urls[0]), urls[0]


@pytest.mark.parametrize("name", SINGLE_FILES)
def test_media_file_as_presentation_hls(server, media, name):
    """A progressive or fragmented MP4 addressed directly: `x.mp4/.m3u8`."""
    master, children = pl.master_children(server.url(f"{name}/.m3u8"))
    assert len(master.playlists) == 1, [v.uri for v in master.playlists]
    info = master.playlists[0].stream_info
    w, h = (int(x) for x in media.file(name)["size"].split("x"))
    assert tuple(info.resolution) == (w, h)
    want = "hvc1." if name == "hevc.mp4" else "avc1."
    assert info.codecs and want in info.codecs and "mp4a.40." in info.codecs, info.codecs
    for url in children:
        check_media_playlist(pl.media_playlist(url), media.duration(name), fmp4=False)


@pytest.mark.parametrize("name", SINGLE_FILES)
def test_media_file_as_presentation_dash(server, media, name):
    mpd, reps = check_mpd(server.url(f"{name}/.mpd"), media.duration(name))
    kinds = sorted(r.kind for r in reps)
    assert kinds == ["audio", "video"], kinds
