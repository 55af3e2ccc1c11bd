"""Fetching and reading HLS playlists and DASH MPDs for structural assertions."""

from __future__ import annotations

import re
from dataclasses import dataclass

import m3u8
from mpegdash.parser import MPEGDASHParser

import clients

HLS_TYPE = "application/vnd.apple.mpegurl"
DASH_TYPE = "application/dash+xml"


def fetch_text(url: str, expected_type: str) -> str:
    resp = clients.get(url)
    assert resp.status == 200, f"GET {url} -> {resp.status}"
    ctype = (resp.header("content-type") or "").split(";")[0].strip().lower()
    assert ctype == expected_type.lower(), f"GET {url}: Content-Type {ctype!r}, expected {expected_type!r}"
    return resp.body.decode("utf-8")


def hls(url: str) -> m3u8.M3U8:
    """A playlist parsed by the `m3u8` package, with URIs resolvable against `url`."""
    text = fetch_text(url, HLS_TYPE)
    assert text.startswith("#EXTM3U"), f"{url} does not start with #EXTM3U"
    base = url.split("?")[0].rsplit("/", 1)[0] + "/"
    return m3u8.loads(text, uri=base)


def absolute(playlist_url: str, uri: str) -> str:
    """Resolves a URI relative to the playlist that named it (query strings included)."""
    if re.match(r"^[a-z]+://", uri):
        return uri
    return playlist_url.split("?")[0].rsplit("/", 1)[0] + "/" + uri


@dataclass
class MediaPlaylist:
    url: str
    playlist: m3u8.M3U8

    @property
    def durations(self) -> list[float]:
        return [float(s.duration) for s in self.playlist.segments]

    @property
    def segment_urls(self) -> list[str]:
        return [absolute(self.url, s.uri) for s in self.playlist.segments]


def master_children(master_url: str) -> tuple[m3u8.M3U8, list[str]]:
    """The master playlist and the absolute URLs of every media playlist it names (variants,
    EXT-X-MEDIA renditions with a URI, I-frame playlists), without duplicates, in order."""
    master = hls(master_url)
    assert master.is_variant, f"{master_url} is not a master playlist"
    urls: list[str] = []
    for p in master.playlists:
        urls.append(absolute(master_url, p.uri))
    for m in master.media:
        if m.uri:
            urls.append(absolute(master_url, m.uri))
    for p in master.iframe_playlists:
        urls.append(absolute(master_url, p.uri))
    return master, list(dict.fromkeys(urls))


def media_playlist(url: str) -> MediaPlaylist:
    p = hls(url)
    assert not p.is_variant, f"{url} is a master playlist, expected a media playlist"
    return MediaPlaylist(url, p)


# ------------------------------------------------------------------------------------------------ DASH

_ISO_DURATION = re.compile(r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def iso_seconds(text: str) -> float:
    m = _ISO_DURATION.match(text or "")
    assert m, f"not an ISO 8601 duration: {text!r}"
    d, h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


@dataclass
class DashRepresentation:
    id: str
    kind: str                 # "video", "audio", "text" or ""
    mime_type: str
    codecs: str
    width: int | None
    height: int | None
    lang: str | None
    timescale: int
    media: str
    initialization: str
    start_number: int
    segments: list[tuple[int, int]]   # (start time, duration) in timescale units, expanded
    presentation_time_offset: int = 0

    @property
    def total_seconds(self) -> float:
        return sum(d for _, d in self.segments) / self.timescale


def _expand(timeline) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    t = 0
    for s in (timeline.Ss or []):
        if s.t is not None:
            t = s.t
        repeat = s.r or 0
        assert repeat >= 0, "negative @r (open-ended repeat) in a static MPD"
        for _ in range(repeat + 1):
            out.append((t, s.d))
            t += s.d
    return out


def dash(url: str):
    """Parses an MPD; returns (mpd, representations) with templates resolved per representation."""
    text = fetch_text(url, DASH_TYPE)
    mpd = MPEGDASHParser.parse(text)
    reps: list[DashRepresentation] = []
    for period in mpd.periods or []:
        for aset in period.adaptation_sets or []:
            for rep in aset.representations or []:
                template = (rep.segment_templates or aset.segment_templates or [None])[0]
                assert template is not None, f"representation {rep.id} has no SegmentTemplate"
                timelines = template.segment_timelines or []
                segments = _expand(timelines[0]) if timelines else []
                mime = rep.mime_type or aset.mime_type or ""
                kind = aset.content_type or mime.split("/")[0]
                if mime == "application/mp4" or kind == "application":
                    kind = "text"
                reps.append(DashRepresentation(
                    id=rep.id, kind=kind, mime_type=mime, codecs=rep.codecs or aset.codecs or "",
                    width=rep.width or aset.width, height=rep.height or aset.height,
                    lang=aset.lang,
                    timescale=int(template.timescale or 1), media=template.media or "",
                    initialization=template.initialization or "",
                    start_number=int(template.start_number if template.start_number is not None else 1),
                    segments=segments,
                    presentation_time_offset=int(template.presentation_time_offset or 0)))
    return mpd, reps


def dash_segment_urls(mpd_url: str, rep: DashRepresentation) -> tuple[str, list[str]]:
    """The init URL and media URLs of a representation, from its SegmentTemplate."""
    def fill(template: str, number: int | None = None, time: int | None = None) -> str:
        s = template.replace("$RepresentationID$", rep.id)
        if number is not None:
            s = s.replace("$Number$", str(number))
        if time is not None:
            s = s.replace("$Time$", str(time))
        return absolute(mpd_url, s.replace("$$", "$"))
    media = [fill(rep.media, number=rep.start_number + i, time=t) for i, (t, _) in enumerate(rep.segments)]
    return fill(rep.initialization), media
