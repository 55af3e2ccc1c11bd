"""Virtual subclips (`vbegin`/`vend`, `t=`) on a live Apache: each format's manifest describes the
clip rounded out to whole GOPs, its segments decode with ffmpeg (Smooth: yt-dlp) to exactly the frames
of those GOPs, and the query (subclip plus session_id) stays on every child URL.

The expected frame count comes from the source's key frame times (ffprobe): the clip starts at the
key frame at or before `begin` and ends at the first key frame at or after `end` (or the end)."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest

import clients
import playlists as pl

pytestmark = pytest.mark.servers("apache", "nginx")

SOURCE = "abr-640x360.mp4"
RENDITIONS = 3


@functools.lru_cache(maxsize=None)
def frame_times(path: str) -> tuple[list[float], list[float]]:
    """(presentation time of every video frame, of every key frame), in seconds, sorted."""
    proc = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                           "packet=pts_time,flags", "-of", "json", path], capture_output=True, text=True, timeout=60)
    packets = json.loads(proc.stdout)["packets"]
    frames = sorted(float(p["pts_time"]) for p in packets)
    keys = sorted(float(p["pts_time"]) for p in packets if "K" in p.get("flags", ""))
    return frames, keys


def expected_clip(media, begin: float | None, end: float | None) -> tuple[int, float]:
    """(video frames, seconds) of the GOP-rounded clip."""
    frames, keys = frame_times(os.path.join(media.root, SOURCE))
    first = frames[0]
    start = max([k for k in keys if k <= (begin if begin is not None else first) + 1e-6], default=first)
    later = [k for k in keys if end is not None and k >= end - 1e-6]
    stop = later[0] if later else None
    n = sum(1 for t in frames if t >= start - 1e-6 and (stop is None or t < stop - 1e-6))
    seconds = (stop if stop is not None else media.duration(SOURCE)) - start
    return n, seconds


CLIPS = {
    # query: (begin, end) in seconds
    "vbegin=3&vend=7": (3.0, 7.0),
    "t=4,8": (4.0, 8.0),
    "t=npt:00:00:05.5": (5.5, None),
    "t=,3": (None, 3.0),
    "t=1-5": (1.0, 5.0),
}
FORMATS = {
    "hls-ts": ".m3u8?",
    "hls-fmp4": ".m3u8?hls.fmp4=true&",
    "dash": ".mpd?",
}
SESSION = "session_id=4157"


def test_expected_clips_round_out(media):
    """The test's own arithmetic, on the known 2 s GOPs of the test media (10 s taken as the end)."""
    class M:
        root = media.root
        def duration(self, _): return 10.0
    assert expected_clip(M(), 3.0, 7.0) == (150, 6.0)
    assert expected_clip(M(), 4.0, 8.0) == (100, 4.0)


def check_ffmpeg(url: str, frames: int, renditions: int) -> None:
    if ".mpd" in url:
        # ffmpeg 5.1's DASH demuxer stops all streams when the first ends: one rendition at a time.
        for i in range(renditions):
            r = clients.ffmpeg_decode(url, map_spec=f"0:v:{i}")
            assert r.errors == [] and r.video_frames == [frames], f"{url} video {i}\n{r.summary()}"
        r = clients.ffmpeg_decode(url, map_spec="0:a")
        assert r.errors == [] and r.audio_frames, f"{url} audio\n{r.summary()}"
        return
    r = clients.ffmpeg_decode(url)
    assert r.errors == [], f"{url}\n{r.summary()}"
    assert len(r.video_frames) >= renditions and all(n == frames for n in r.video_frames), f"{url}: {frames} expected\n{r.summary()}"
    assert r.audio_frames, f"{url}: no audio\n{r.summary()}"


@pytest.mark.parametrize("clip", CLIPS.keys())
@pytest.mark.parametrize("fmt", FORMATS.keys())
def test_subclip_decodes_to_whole_gops(server, media, fmt, clip):
    frames, seconds = expected_clip(media, *CLIPS[clip])
    url = server.url("abr.ism/" + FORMATS[fmt] + clip + "&" + SESSION)
    query = url.split("?", 1)[1]
    if fmt == "dash":
        mpd, reps = pl.dash(url)
        assert abs(pl.iso_seconds(mpd.media_presentation_duration) - seconds) < 0.05, mpd.media_presentation_duration
        for rep in reps:
            assert rep.media.endswith("?" + query.replace("$", "$$")), rep.media
            if rep.kind == "video":
                assert abs(rep.total_seconds - seconds) < 0.01, (rep.id, rep.total_seconds, seconds)
                # A rebased timeline: the first segment is presented at 0.
                assert rep.segments[0][0] - rep.presentation_time_offset == 0, rep
    else:
        master, children = pl.master_children(url)
        for child in children:
            assert child.endswith("?" + query), child
            mp = pl.media_playlist(child)
            assert all(u.endswith("?" + query) for u in mp.segment_urls), child
            if "video" in child:
                assert abs(sum(mp.durations) - seconds) < 0.05, (child, mp.durations, seconds)
    check_ffmpeg(url, frames, RENDITIONS)


@pytest.mark.parametrize("clip", ["vbegin=3&vend=7", "t=,3"])
def test_hds_subclip(server, media, clip):
    # HDS clients build fragment URLs from media@url, so the subclip reaches fragments only with
    # clients that carry the manifest's query (yt-dlp does; so does this fetcher). README says so.
    import hds_fetch
    from test_hds import decode_flv
    frames, seconds = expected_clip(media, *CLIPS[clip])
    url = server.url(f"abr.ism/.f4m?{clip}")
    presentation = hds_fetch.load(url)
    assert abs(presentation.duration - seconds) < 0.05, (presentation.duration, seconds)
    assert len(presentation.media) == RENDITIONS
    for m in presentation.media:
        result = decode_flv(hds_fetch.flv_file(m, hds_fetch.fetch(url, presentation, m, query=clip)))
        assert result.errors == [] and result.video_frames == [frames], result.summary()
        assert result.audio_frames, result.summary()


def test_smooth_subclip(server, media):
    frames, seconds = expected_clip(media, 3.0, 7.0)
    query = "vbegin=3&vend=7&" + SESSION
    r = clients.get(server.url("abr.ism/Manifest?" + query))
    assert r.status == 200
    root = ET.fromstring(r.body)
    # Like the whole presentation's, the Duration includes the timeline lift for B-frames (40 ms here)
    # and the audio frame that starts just before the clip's end.
    assert abs(int(root.get("Duration")) / 1e7 - seconds) < 0.1, root.get("Duration")
    for stream in root.findall("StreamIndex"):
        assert stream.get("Url").endswith("?" + query)
        first = stream.find("c")
        assert int(first.get("t")) < 1_000_000, "not rebased"   # video at 0, audio within a frame
        total = sum(int(c.get("d")) for c in stream.findall("c"))
        assert abs(total / 1e7 - seconds) < 0.06, (stream.get("Name"), total)
    with tempfile.TemporaryDirectory(prefix="origo-ytdlp-", dir="/tmp") as work:
        files = clients.ytdlp_download(server.url("abr.ism/Manifest?" + query), work)
        videos = [n for n in files if n.endswith(".ismv")]
        assert len(videos) == RENDITIONS, files
        for name in videos:
            assert clients.ffprobe_video_frames(os.path.join(work, name)) == [frames], name


def test_segments_of_a_subclip_are_its_own(server):
    """Segment 1 of a clip starting at 4 s is not segment 1 of the whole presentation, and the same
    URL with another session id gives the same bytes."""
    whole = clients.get(server.url("abr.ism/video=600000-1.m4s"))
    clip = clients.get(server.url("abr.ism/video=600000-1.m4s?vbegin=4"))
    again = clients.get(server.url("abr.ism/video=600000-1.m4s?vbegin=4&session_id=9"))
    assert whole.status == clip.status == again.status == 200
    assert whole.body != clip.body
    assert clip.body == again.body
    # The clip's fMP4 segment starts at decode time 0 (tfdt), like its manifest says.
    m = re.search(rb"tfdt", clip.body)
    assert m
    version = clip.body[m.end()]
    start = m.end() + 4
    tfdt = int.from_bytes(clip.body[start:start + (8 if version else 4)], "big")
    assert tfdt == 0


def test_subclip_errors(server):
    off = server.log_size()
    assert clients.get(server.url("abr.ism/.m3u8?vbegin=7&vend=3")).status == 400
    assert clients.get(server.url("abr.ism/.mpd?t=abc")).status == 400
    assert clients.get(server.url("abr.ism/.mpd?t=99999999999999999999")).status == 400
    assert clients.get(server.url("abr.ism/Manifest?vbegin=30")).status == 404
    assert clients.get(server.url("abr.ism/.m3u8?vbegin=5&vend=500")).status == 200   # clamped
    log = server.log_since(off)
    assert "subclip: end 3 is not after begin 7" in log, log[-2000:]


@pytest.mark.parametrize("lang", ["eng", "fra", "deu"])
def test_subclip_starting_inside_a_cue_keeps_it(server, media, lang):
    """subs.ism from 4 s: every language has a cue running across 4 s (sidecar WebVTT, sidecar
    SubRip, and the MP4 `stpp` track with one document for the whole file). It is shown from the
    clip's start in DASH (wvtt and TTML segments, on the video's boundaries) and in HLS WebVTT."""
    import test_subtitles as subs
    if not os.path.exists(os.path.join(media.root, "subs.ism")):
        pytest.skip("test media without subs.ism (rerun scripts/make-media.sh)")
    _, keys = frame_times(os.path.join(media.root, SOURCE))
    start = round(max(k for k in keys if k <= 4.0 + 1e-6) * 1000)
    expected = [(max(s - start, 0), e - start, text) for s, e, text in subs.source_cues(media, lang) if e > start + 1]
    assert expected and expected[0][0] == 0, expected   # the point: a cue is running at the clip's start
    query = "?vbegin=4"

    root = subs.mpd(server, query)
    sets = root.findall(".//d:AdaptationSet", subs.NS)
    video = next(a for a in sets if a.get("contentType") == "video")
    text = next(a for a in sets if a.get("contentType") == "text"
                and a.get("lang") == {"eng": "en", "fra": "fr", "deu": "de"}[lang])
    assert [round(t, 3) for t in subs.presentation_times(text.find("d:SegmentTemplate", subs.NS))] == \
        [round(t, 3) for t in subs.presentation_times(video.find("d:SegmentTemplate", subs.NS))]
    pieces = [c for _, _, got in subs.dash_text_segments(server, text, query) for c in got]
    assert subs.close(subs.join(pieces), expected), (subs.join(pieces), expected)

    uri = subs.subtitle_renditions(server, "subs", query)[lang]["URI"]
    assert uri.endswith(query), uri
    got = []
    for segment, _ in subs.playlist_segments(server, "subs", uri):
        got += subs.cues_of(clients.get(server.url(f"subs.ism/{segment}")).body.decode())
    assert subs.close(subs.unique(got), expected), (subs.unique(got), expected)
