"""Malformed media through both real servers (Apache, nginx): every broken variant that mp4mutate.py makes is asked
for a master playlist, a media playlist, a TS segment, an MPD, a DASH init and a DASH media segment.

Each answer must be an error status (4xx/5xx) with exactly one clear line in the error log, or a
200 whose content is usable (playlists parse, segments decode with ffmpeg without an error line).
After every failing request a good request must still be answered, and no child may crash (the
conftest's crash scan runs after each test)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

import clients
import mp4mutate

pytestmark = pytest.mark.servers("apache", "nginx")

VARIANTS = mp4mutate.variant_sources()
SOURCES = {"progressive": "moov-at-end.mp4", "faststart": "faststart.mp4", "fragmented": "cmaf.mp4"}
GOOD = "faststart.mp4/.m3u8"

# Variants whose damage no reader can see from the index: the bytes exist and lie where the
# index says, they are just not the media (or not the media the index claims). The origin may
# serve them; only the status, the log and the server's survival are checked.
# - flip-*: random bytes of moov/moof changed (may hit sample sizes, codec configuration, ...).
# - stss-out-of-range: the first sync-sample entry points past the track, so the index says the
#   first frame is not a key frame. Real files may start that way (open GOPs, cut files), so the
#   origin serves the track as indexed and the first GOP does not decode.
UNDETECTABLE = {name for name in VARIANTS if "flip" in name} | {"stss-out-of-range"}


@pytest.fixture(scope="module")
def malformed(media) -> str:
    """Writes every variant into <media root>/malformed once for this module."""
    outdir = os.path.join(media.root, "malformed")
    mp4mutate.write_variants(*(os.path.join(media.root, SOURCES[k]) for k in ("progressive", "faststart", "fragmented")),
                             outdir)
    return "malformed"


@pytest.fixture(scope="module")
def templates(server) -> dict[str, dict[str, str]]:
    """Per source kind, the virtual paths the good source answers (used when a broken variant's
    own playlists fail, so that its segments are still asked for)."""
    out = {}
    for kind, source in SOURCES.items():
        base = source[: -len(".mp4")]
        master = m3u8.loads(clients.get(server.url(f"{source}/.m3u8")).body.decode())
        media_name = master.playlists[0].uri
        media = m3u8.loads(clients.get(server.url(f"{source}/{media_name}")).body.decode())
        mpd = MPEGDASHParser.parse(clients.get(server.url(f"{source}/.mpd")).body.decode())
        aset = mpd.periods[0].adaptation_sets[0]
        rep = aset.representations[0]
        template = (rep.segment_templates or aset.segment_templates)[0]
        first_time = template.segment_timelines[0].Ss[0].t or 0
        out[kind] = {
            "media": media_name.removeprefix(base),
            "ts": media.segments[0].uri.removeprefix(base),
            "dash_init": template.initialization.replace("$RepresentationID$", rep.id).removeprefix(base),
            "dash_media": template.media.replace("$RepresentationID$", rep.id)
            .replace("$Time$", str(first_time)).removeprefix(base),
        }
    return out


def decode_errors(data: bytes, suffix: str) -> str:
    """ffmpeg's error lines for a segment (empty when it decodes cleanly)."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", f.name, "-f", "null", "-"],
                              capture_output=True, text=True, errors="replace", timeout=60)
    return proc.stderr.strip() or ("" if proc.returncode == 0 else f"ffmpeg exit {proc.returncode}")


class Exchange:
    """Requests against one variant, remembering which failed (for the error-log check)."""

    def __init__(self, server, name: str):
        self.server = server
        self.name = name
        self.base = f"malformed/{name}.mp4"
        self.failed: list[str] = []
        self.problems: list[str] = []

    def get(self, virtual: str) -> clients.Response | None:
        path = f"/{self.base}/{virtual}"
        try:
            resp = clients.get(self.server.url(path), timeout=20)
        except Exception as e:  # a hang or a dropped connection is exactly what this suite hunts
            self.problems.append(f"GET {path}: {type(e).__name__}: {e}")
            return None
        if resp.status >= 400:
            if resp.status > 599:
                self.problems.append(f"GET {path}: status {resp.status}")
            self.failed.append(path)
            good = clients.get(self.server.url(GOOD), timeout=20)
            if good.status != 200:
                self.problems.append(f"good request after GET {path} -> {good.status}")
            return None
        if resp.status != 200:
            self.problems.append(f"GET {path}: unexpected status {resp.status}")
            return None
        return resp


def child(uri: str, base: str) -> str:
    """A child URI from a playlist, relative to the variant's directory."""
    return uri.split("/")[-1] if "/" in uri else uri


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_malformed_media(server, malformed, templates, name):
    ex = Exchange(server, name)
    stem = name
    tmpl = {k: stem + v for k, v in templates[VARIANTS[name]].items()}
    check_content = name not in UNDETECTABLE
    start = server.log_size()

    # HLS: master -> first media playlist -> first TS segment.
    media_name, ts_name = tmpl["media"], tmpl["ts"]
    if (resp := ex.get(".m3u8")) is not None:
        master = m3u8.loads(resp.body.decode("utf-8", "replace"))
        if check_content:
            assert master.is_variant and master.playlists, f"{name}: master playlist without variants"
        if master.playlists:
            media_name = child(master.playlists[0].uri, stem)
    if (resp := ex.get(media_name)) is not None:
        media = m3u8.loads(resp.body.decode("utf-8", "replace"))
        if check_content:
            assert media.segments, f"{name}: media playlist {media_name} without segments"
        if media.segments:
            ts_name = child(media.segments[0].uri, stem)
    if (resp := ex.get(ts_name)) is not None and check_content:
        assert not (err := decode_errors(resp.body, ".ts")), f"{name}: {ts_name} served but does not decode:\n{err}"

    # DASH: MPD -> first representation's init and first media segment.
    init_name, seg_name = tmpl["dash_init"], tmpl["dash_media"]
    if (resp := ex.get(".mpd")) is not None:
        mpd = MPEGDASHParser.parse(resp.body.decode("utf-8", "replace"))
        aset = mpd.periods[0].adaptation_sets[0]
        rep = aset.representations[0]
        template = (rep.segment_templates or aset.segment_templates)[0]
        first = template.segment_timelines[0].Ss[0].t or 0
        init_name = template.initialization.replace("$RepresentationID$", rep.id)
        seg_name = template.media.replace("$RepresentationID$", rep.id).replace("$Time$", str(first))
    init = ex.get(init_name)
    seg = ex.get(seg_name)
    if init is not None and seg is not None and check_content:
        assert not (err := decode_errors(init.body + seg.body, ".mp4")), \
            f"{name}: {seg_name} served but does not decode:\n{err}"

    assert not ex.problems, f"{name} ({mp4mutate_description(name)}):\n" + "\n".join(ex.problems)

    # One clear line per failing request: "<status> for <uri>: <reason>".
    lines = server.log_since(start, settle=0.05).splitlines()
    for path in ex.failed:
        pattern = re.compile(re.escape(path) + r"(?![\w.=-])")
        mine = [line for line in lines if pattern.search(line)]
        assert len(mine) == 1, f"{name}: GET {path}: expected one error-log line, got {len(mine)}:\n" + "\n".join(mine)
        assert re.search(r"\d{3} for \S+: \S", mine[0]) and len(mine[0]) < 1000, f"{name}: unclear log line: {mine[0]}"


def mp4mutate_description(name: str) -> str:
    for table in (mp4mutate.progressive_mutations, mp4mutate.faststart_mutations, mp4mutate.fragmented_mutations):
        if name in (t := table()):
            return t[name][0]
    return "?"
