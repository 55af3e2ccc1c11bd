"""What is inside the segments: every video segment starts with a key frame, consecutive segments
join without a gap or overlap of more than one frame, segment start times are identical across
renditions, and DASH segments start exactly where the MPD's timeline says (after
presentationTimeOffset). Checked with ffprobe on the bytes the origin served."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile

import pytest

import clients
import playlists as pl

pytestmark = pytest.mark.servers("apache", "nginx")

FRAME = 1 / 25          # the ABR set is 25 fps
TS_OFFSET = 10.0        # TS timestamps start at 10 s (PTS 900000)


def probe_packets(data: bytes, suffix: str) -> list[dict]:
    """Video packets (pts seconds, key flag) of one segment, in decode order."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        proc = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                               "packet=pts_time,duration_time,flags", "-of", "json", f.name],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [p for p in json.loads(proc.stdout).get("packets", []) if p.get("pts_time") not in (None, "N/A")]


def check_segments(name: str, segments: list[list[dict]], offset: float = 0.0) -> list[float]:
    """Key frame first, no gap or overlap between segments; returns each segment's start time."""
    starts = []
    previous_end = None
    for k, packets in enumerate(segments):
        assert packets, f"{name}: segment {k + 1} has no video"
        assert "K" in packets[0]["flags"], f"{name}: segment {k + 1} does not start with a key frame"
        times = [float(p["pts_time"]) - offset for p in packets]
        start = min(times)
        end = max(float(p["pts_time"]) - offset + float(p.get("duration_time") or FRAME) for p in packets)
        if previous_end is not None:
            assert abs(start - previous_end) <= FRAME + 1e-3, \
                f"{name}: segment {k + 1} starts at {start:.4f}, previous ended at {previous_end:.4f}"
        starts.append(round(start, 3))
        previous_end = end
    return starts


def test_hls_ts_segments(server):
    master, children = pl.master_children(server.url("abr.ism/.m3u8"))
    all_starts = {}
    for url in children:
        # I-frame playlists (keyframes/) hold one frame per segment by design: test_hls_versions.
        if "video=" not in url or "/keyframes/" in url:
            continue
        mp = pl.media_playlist(url)
        segments = [probe_packets(clients.get(u).body, ".ts") for u in mp.segment_urls]
        all_starts[url] = check_segments(url, segments, TS_OFFSET)
        # Playlist durations agree with the segments' own times.
        expected = [round(sum(mp.durations[:k]), 3) for k in range(len(mp.durations))]
        assert all(abs(a - b) <= FRAME for a, b in zip(all_starts[url], expected)), (all_starts[url], expected)
    assert len(all_starts) == 3 and len({tuple(s) for s in all_starts.values()}) == 1, all_starts


@pytest.mark.parametrize("template", ["", "?mpd.segment_template=number"])
def test_dash_segments_match_the_timeline(server, template):
    mpd_url = server.url("abr.ism/.mpd" + template)
    _, reps = pl.dash(mpd_url)
    all_starts = {}
    for rep in reps:
        if rep.kind != "video":
            continue
        init_url, media_urls = pl.dash_segment_urls(mpd_url, rep)
        init = clients.get(init_url).body
        segments = [probe_packets(init + clients.get(u).body, ".mp4") for u in media_urls]
        starts = check_segments(rep.id, segments)
        pto = rep.presentation_time_offset
        timeline = [round((t - pto) / rep.timescale, 3) for t, _ in rep.segments]
        assert all(abs(a - b) <= 1e-3 for a, b in zip(starts, timeline)), (rep.id, starts, timeline)
        all_starts[rep.id] = starts
    assert len(all_starts) == 3 and len({tuple(s) for s in all_starts.values()}) == 1, all_starts
