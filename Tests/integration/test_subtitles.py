"""Subtitles on both servers (subs.ism from make-media.sh: video + audio + a sidecar WebVTT (eng),
a sidecar SubRip (fra) and TTML muxed in an MP4 (`stpp`, deu)): the HLS SUBTITLES group, WebVTT
renditions read back with ffmpeg (TS and fMP4 HLS) with the source's cue times and texts, the
X-TIMESTAMP-MAP against the PTS of the TS segments, DASH text segments parsed back sample by
sample, and the Smooth manifest with text streams still playing audio and video in GStreamer."""

from __future__ import annotations

import html
import os
import re
import struct
import subprocess
import xml.etree.ElementTree as ET

import pytest

import clients

pytestmark = pytest.mark.servers("apache", "nginx")

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
LANGS = ("eng", "fra", "deu")


@pytest.fixture(autouse=True)
def _needs_subtitle_media(media):
    if not os.path.exists(os.path.join(media.root, "subs.ism")):
        pytest.skip("test media without subs.ism (rerun scripts/make-media.sh)")


# ------------------------------------------------------------------------------------------ helpers

def ms(stamp: str) -> int:
    """Milliseconds of a WebVTT/SRT timestamp (`[hh:]mm:ss.ttt`, `,` accepted)."""
    parts = stamp.replace(",", ".").split(":")
    seconds = float(parts[-1])
    minutes = int(parts[-2])
    hours = int(parts[-3]) if len(parts) == 3 else 0
    return round(((hours * 60 + minutes) * 60 + seconds) * 1000)


def plain(text: str) -> str:
    """Cue text without markup, references resolved, lines stripped."""
    return "\n".join(html.unescape(re.sub(r"<[^>]*>", "", line)).strip() for line in text.strip().splitlines())


TIMING = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)")


def cues_of(text: str) -> list[tuple[int, int, str]]:
    """(start, end, plain text) of every cue of a WebVTT or SRT document (headers and notes skipped)."""
    out = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")):
        lines = block.strip("\n").split("\n")
        for i, line in enumerate(lines[:2]):
            m = TIMING.match(line)
            if m:
                out.append((ms(m.group(1)), ms(m.group(2)), plain("\n".join(lines[i + 1:]))))
                break
    return out


def unique(cues):
    """Cues repeated in neighbouring segments counted once, in time order."""
    return sorted(set(cues))


def source_cues(media, lang: str) -> list[tuple[int, int, str]]:
    name = {"eng": "subs-eng.vtt", "fra": "subs-fra.srt", "deu": "subs-fra.srt"}[lang]
    with open(os.path.join(media.root, name), encoding="utf-8-sig") as f:
        return cues_of(f.read())


def lines(url: str) -> list[str]:
    r = clients.get(url)
    assert r.status == 200, f"{url}: {r.status}"
    return r.body.decode().splitlines()


def master(server, ism: str, query: str = "") -> list[str]:
    return lines(server.url(f"{ism}.ism/.m3u8{query}"))


def attributes(line: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1])}


def subtitle_renditions(server, ism: str, query: str = "") -> dict[str, dict[str, str]]:
    out = {}
    for line in master(server, ism, query):
        if line.startswith("#EXT-X-MEDIA:") and "TYPE=SUBTITLES" in line:
            a = attributes(line)
            out[a["URI"].split("textstream_")[1].split("=")[0]] = a
    return out


def playlist_segments(server, ism: str, uri: str) -> list[tuple[str, float]]:
    body = lines(server.url(f"{ism}.ism/{uri}"))
    out, duration = [], None
    for line in body:
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            out.append((line, duration))
    assert body[-1] == "#EXT-X-ENDLIST"
    return out


def boxes(data: bytes, start: int = 0, end: int | None = None):
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        assert size >= 8 and start + size <= end, f"bad box {kind} at {start}"
        yield kind.decode("latin-1"), start + 8, start + size
        start += size


def child(data: bytes, path: list[str], start: int = 0, end: int | None = None):
    for kind, s, e in boxes(data, start, end):
        if kind == path[0]:
            return (s, e) if len(path) == 1 else child(data, path[1:], s, e)
    return None


# -------------------------------------------------------------------------------------------- HLS

@pytest.mark.parametrize("ism", ["subs", "subs-fmp4"])
def test_master_has_a_subtitles_group(server, ism):
    body = master(server, ism)
    renditions = subtitle_renditions(server, ism)
    assert sorted(renditions) == sorted(LANGS), body
    for lang, a in renditions.items():
        assert a["GROUP-ID"] == "textstream" and a["AUTOSELECT"] == "YES" and a["DEFAULT"] in ("YES", "NO")
        assert a["LANGUAGE"] == {"eng": "en", "fra": "fr", "deu": "de"}[lang] and a["NAME"]
        assert a["URI"] == f"{ism}-textstream_{lang}=1000.m3u8"
    variants = [line for line in body if line.startswith("#EXT-X-STREAM-INF:")]
    assert variants and all('SUBTITLES="textstream"' in v for v in variants), variants


@pytest.mark.parametrize("ism", ["subs", "subs-fmp4"])
@pytest.mark.parametrize("lang", LANGS)
def test_webvtt_rendition_has_the_source_cues(server, media, ism, lang):
    uri = subtitle_renditions(server, ism)[lang]["URI"]
    # ffmpeg 5.1's HLS demuxer skips SUBTITLES renditions of a master ("Can't support the
    # subtitle"), so it reads the rendition's own playlist; `.webvtt` is not an extension its
    # webvtt demuxer declares, hence -extension_picky 0.
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "warning", "-extension_picky", "0",
                           "-i", server.url(f"{ism}.ism/{uri}"), "-map", "0:s:0", "-c:s", "webvtt", "-f", "webvtt", "-"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not clients.FFMPEG_ERROR_PATTERN.search(proc.stderr), proc.stderr[-2000:]
    got = unique(cues_of(proc.stdout))
    expected = source_cues(media, lang)
    assert len(got) == len(expected), (got, expected)
    for g, e in zip(got, expected):
        assert abs(g[0] - e[0]) <= 1 and abs(g[1] - e[1]) <= 1 and g[2] == e[2], (g, e)


@pytest.mark.parametrize("ism", ["subs", "subs-fmp4"])
def test_webvtt_segments_follow_the_video_segments(server, media, ism):
    renditions = subtitle_renditions(server, ism)
    video_playlist = next(line for line in master(server, ism) if line and not line.startswith("#"))
    video = playlist_segments(server, ism, video_playlist)
    expected = source_cues(media, "eng")
    text = playlist_segments(server, ism, renditions["eng"]["URI"])
    assert [round(d, 3) for _, d in text] == [round(d, 3) for _, d in video]
    start = 0.0
    for uri, duration in text:
        r = clients.get(server.url(f"{ism}.ism/{uri}"))
        assert r.status == 200 and r.header("content-type") == "text/vtt", uri
        body = r.body.decode()
        assert body.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:"), body[:80]
        assert ",LOCAL:00:00:00.000\n" in body.splitlines()[1] + "\n"
        # Exactly the cues overlapping the segment, spanning ones repeated.
        end = start + duration
        want = [c for c in expected if c[0] < end * 1000 - 1 and c[1] > start * 1000 + 1]
        assert cues_of(body) == want, (uri, body)
        start = end


def test_timestamp_map_matches_the_ts_segments(server):
    renditions = subtitle_renditions(server, "subs")
    video_playlist = next(line for line in master(server, "subs") if line and not line.startswith("#"))
    ts = playlist_segments(server, "subs", video_playlist)
    vtt = playlist_segments(server, "subs", renditions["eng"]["URI"])
    start = 0.0
    for (ts_uri, duration), (vtt_uri, _) in zip(ts, vtt):
        mapping = clients.get(server.url(f"subs.ism/{vtt_uri}")).body.decode().splitlines()[1]
        mpegts = int(re.search(r"MPEGTS:(\d+)", mapping).group(1))
        proc = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts",
                               "-of", "csv=p=0", server.url(f"subs.ism/{ts_uri}")],
                              capture_output=True, text=True, timeout=60)
        first_pts = min(int(x.strip(",")) for x in proc.stdout.split() if x.strip(",").isdigit())
        # Cue time t (the segment's start here) is at MPEGTS + t × 90 kHz on the TS timeline.
        assert abs(first_pts - (mpegts + round(start * 90000))) <= 1, (ts_uri, first_pts, mpegts, start)
        start += duration


def test_timestamp_map_matches_the_fmp4_timeline(server):
    renditions = subtitle_renditions(server, "subs-fmp4")
    vtt = playlist_segments(server, "subs-fmp4", renditions["eng"]["URI"])
    mapping = clients.get(server.url(f"subs-fmp4.ism/{vtt[0][0]}")).body.decode().splitlines()[1]
    mpegts = int(re.search(r"MPEGTS:(\d+)", mapping).group(1))
    init = clients.get(server.url("subs-fmp4.ism/subs-fmp4-video=600000.m4s")).body
    mdhd = child(init, ["moov", "trak", "mdia", "mdhd"])
    timescale = struct.unpack(">I", init[mdhd[0] + 12:mdhd[0] + 16])[0]
    elst = child(init, ["moov", "trak", "edts", "elst"])
    media_time = struct.unpack(">q", init[elst[0] + 16:elst[0] + 24])[0] if elst else 0
    # Presentation time zero is media time `media_time` (the edit list) on the fMP4 timeline.
    assert mpegts == round(media_time * 90000 / timescale), (mpegts, media_time, timescale)


def test_subtitle_errors(server):
    assert clients.get(server.url("subs.ism/subs-textstream_eng=1000-99.webvtt")).status == 404
    assert clients.get(server.url("subs.ism/subs-textstream_eng=1000-0.webvtt")).status == 400
    assert clients.get(server.url("subs.ism/subs-video=600000-1.webvtt")).status == 404
    assert clients.get(server.url("subs.ism/subs-textstream_xx=1000-1.webvtt")).status == 404


# ------------------------------------------------------------------------------------------- DASH

def mpd(server, query: str = "") -> ET.Element:
    r = clients.get(server.url("subs.ism/.mpd" + query))
    assert r.status == 200
    return ET.fromstring(r.body)


def presentation_times(template: ET.Element) -> list[float]:
    """Segment start times in seconds of presentation time (timeline minus presentationTimeOffset)."""
    offset = int(template.get("presentationTimeOffset", 0))
    return [(t - offset) / int(template.get("timescale")) for t in timeline(template)]


def timeline(template: ET.Element) -> list[int]:
    times, t = [], 0
    for s in template.find("d:SegmentTimeline", NS).findall("d:S", NS):
        t = int(s.get("t", t))
        for _ in range(int(s.get("r", 0)) + 1):
            times.append(t)
            t += int(s.get("d"))
    return times


def samples(segment: bytes) -> list[tuple[int, int, bytes]]:
    """(decode time, duration, bytes) of every sample of one media segment."""
    traf = child(segment, ["moof", "traf"])
    moof = child(segment, ["moof"])
    tfdt = child(segment, ["tfdt"], *traf)
    time = struct.unpack(">Q", segment[tfdt[0] + 4:tfdt[0] + 12])[0]
    trun = child(segment, ["trun"], *traf)
    flags = struct.unpack(">I", segment[trun[0]:trun[0] + 4])[0] & 0xFFFFFF
    count, offset = struct.unpack(">Ii", segment[trun[0] + 4:trun[0] + 12])
    pos, data = trun[0] + 12, moof[0] - 8 + offset
    out = []
    for _ in range(count):
        duration, size = struct.unpack(">II", segment[pos:pos + 8])
        pos += 8 + (4 if flags & 0x400 else 0) + (4 if flags & 0x800 else 0)
        out.append((time, duration, segment[data:data + size]))
        time += duration
        data += size
    return out


TT = "{http://www.w3.org/ns/ttml}"


def ttml_cues(doc: bytes) -> list[tuple[int, int, str]]:
    """(begin, end, plain text) in milliseconds of every `<p>` of one TTML document (clock times)."""
    out = []
    for p in ET.fromstring(doc).iter(TT + "p"):
        text = p.text or ""
        for c in p:
            text += ("\n" if c.tag == TT + "br" else "".join(c.itertext())) + (c.tail or "")
        out.append((ms(p.get("begin")), ms(p.get("end")), plain(html.escape(text, quote=False))))
    return out


def join(pieces) -> list[tuple[int, int, str]]:
    """Pieces of cues cut at sample or segment boundaries joined back into whole cues (±1 ms)."""
    joined: list[list] = []
    for start, end, body in sorted(pieces):
        prev = next((c for c in reversed(joined[-8:]) if c[2] == body and c[1] >= start - 1), None)
        if prev:
            prev[1] = max(prev[1], end)
        else:
            joined.append([start, end, body])
    return [tuple(c) for c in joined]


def close(got, expected) -> bool:
    return len(got) == len(expected) and all(
        abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1 and a[2] == b[2] for a, b in zip(got, expected))


def dash_text_segments(server, aset: ET.Element, query: str = "") -> list[tuple[float, float, list]]:
    """Every segment of a text AdaptationSet of subs.ism, fetched and parsed back: (start, end) in
    seconds of presentation time and the cue pieces it holds, (start, end) in milliseconds of
    presentation time. A `wvtt` sample's `vttc` cues take the sample's time; a TTML sample's `<p>`
    times are on the track's timeline (media time) and must lie within the sample."""
    rep = aset.find("d:Representation", NS).get("id")
    template = aset.find("d:SegmentTemplate", NS)
    timescale = int(template.get("timescale"))
    offset = int(template.get("presentationTimeOffset", 0))
    to_ms = lambda t: round((t - offset) * 1000 / timescale)
    out = []
    for t in timeline(template):
        r = clients.get(server.url(f"subs.ism/subs-{rep}-{t}.dash{query}"))
        assert r.status == 200 and r.body[4:8] == b"styp", (rep, t, r.status)
        smp = samples(r.body)
        assert smp and smp[0][0] == t, (rep, t, smp[:1])
        pieces = []
        for time, duration, data in smp:
            start, end = to_ms(time), to_ms(time + duration)
            if data.lstrip().startswith(b"<"):
                for b, e, text in ttml_cues(data):
                    b, e = b - round(offset * 1000 / timescale), e - round(offset * 1000 / timescale)
                    assert start - 1 <= b < e <= end + 1, (rep, t, (b, e, text), (start, end))
                    pieces.append((b, e, text))
            else:
                for kind, bs, be in boxes(data):
                    assert kind in ("vttc", "vtte"), kind
                    if kind == "vttc":
                        payl = child(data, ["payl"], bs, be)
                        pieces.append((start, end, plain(data[payl[0]:payl[1]].decode())))
        last = smp[-1]
        out.append(((t - offset) / timescale, (last[0] + last[1] - offset) / timescale, pieces))
    return out


def test_dash_text_adaptation_sets_and_segments(server, media):
    root = mpd(server)
    sets = root.findall(".//d:AdaptationSet", NS)
    text = [s for s in sets if s.get("contentType") == "text"]
    video = next(s for s in sets if s.get("contentType") == "video")
    assert [s.get("lang") for s in text] == ["en", "fr", "de"]
    for s in text:
        assert s.get("mimeType") == "application/mp4"
        role = s.find("d:Role", NS)
        assert (role.get("schemeIdUri"), role.get("value")) == ("urn:mpeg:dash:role:2011", "subtitle")
    codecs = [s.find("d:Representation", NS).get("codecs") for s in text]
    assert codecs == ["wvtt", "wvtt", "stpp.ttml.im1t"]
    video_template = video.find("d:SegmentTemplate", NS)
    video_seconds = presentation_times(video_template)
    for s, lang in zip(text[:2], ("eng", "fra")):
        rep = s.find("d:Representation", NS).get("id")
        template = s.find("d:SegmentTemplate", NS)
        timescale = int(template.get("timescale"))
        # The same boundaries as the video (sidecar text breaks at every video sync sample).
        assert [round(t, 3) for t in presentation_times(template)] == [round(v, 3) for v in video_seconds]
        init = clients.get(server.url(f"subs.ism/subs-{rep}.dash")).body
        stsd = child(init, ["moov", "trak", "mdia", "minf", "stbl", "stsd"])
        assert init[stsd[0] + 12:stsd[0] + 16] == b"wvtt" and b"vttC" in init[stsd[0]:stsd[1]]
        hdlr = child(init, ["moov", "trak", "mdia", "hdlr"])
        assert init[hdlr[0] + 8:hdlr[0] + 12] == b"subt"
        got = []
        for t in timeline(template):
            r = clients.get(server.url(f"subs.ism/subs-{rep}-{t}.dash"))
            assert r.status == 200 and r.body[4:8] == b"styp", (rep, t, r.status)
            smp = samples(r.body)
            assert smp[0][0] == t, (rep, t, smp[0][0])
            for time, duration, data in smp:
                for kind, bs, be in boxes(data):
                    assert kind in ("vttc", "vtte"), kind
                    if kind == "vttc":
                        payl = child(data, ["payl"], bs, be)
                        got.append((round(time * 1000 / timescale), round((time + duration) * 1000 / timescale),
                                    plain(data[payl[0]:payl[1]].decode())))
        # Join a cue's pieces across samples back into one.
        expected = source_cues(media, lang)
        assert close(join(got), expected), (join(got), expected)


def test_dash_stpp_segments_follow_the_video_segments(server, media):
    """The MP4 `stpp` track (one TTML document for the whole file) is cut where the video is: the
    same SegmentTimeline boundaries, and every segment holds one TTML document per sample with
    exactly the cues shown in its window, cut to it."""
    root = mpd(server)
    sets = root.findall(".//d:AdaptationSet", NS)
    s = next(a for a in sets if a.get("contentType") == "text" and a.get("lang") == "de")
    video = next(a for a in sets if a.get("contentType") == "video")
    rep = s.find("d:Representation", NS)
    assert rep.get("codecs") == "stpp.ttml.im1t"
    init = clients.get(server.url(f"subs.ism/subs-{rep.get('id')}.dash")).body
    stsd = child(init, ["moov", "trak", "mdia", "minf", "stbl", "stsd"])
    assert init[stsd[0] + 12:stsd[0] + 16] == b"stpp" and b"http://www.w3.org/ns/ttml\0" in init[stsd[0]:stsd[1]]
    text_times = presentation_times(s.find("d:SegmentTemplate", NS))
    video_times = presentation_times(video.find("d:SegmentTemplate", NS))
    assert len(text_times) > 1 and [round(t, 3) for t in text_times] == [round(v, 3) for v in video_times]
    expected = source_cues(media, "deu")
    pieces = []
    for start, end, got in dash_text_segments(server, s):
        want = [(max(c[0], round(start * 1000)), min(c[1], round(end * 1000)), c[2])
                for c in expected if c[0] < end * 1000 - 1 and c[1] > start * 1000 + 1]
        assert close(join(got), want), (start, end, got, want)
        pieces += got
    assert close(join(pieces), expected), (join(pieces), expected)


# ----------------------------------------------------------------------------------------- Smooth

def test_smooth_text_streams(server):
    r = clients.get(server.url("subs.ism/Manifest"))
    assert r.status == 200
    root = ET.fromstring(r.body)
    streams = root.findall("StreamIndex")
    assert [s.get("Type") for s in streams] == ["video", "audio", "text", "text", "text"]
    video = streams[0]
    def chunks(stream):
        out, nxt = [], 0
        for c in stream.findall("c"):
            t = int(c.get("t", nxt))
            out.append(t)
            nxt = t + int(c.get("d"))
        return out
    for s in streams[2:]:
        assert s.get("Subtype") == "SUBT" and s.get("Language") in LANGS
        q = s.find("QualityLevel")
        assert q.get("FourCC") == "TTML"
        template = s.get("Url").replace("{bitrate}", q.get("Bitrate"))
        texts = b""
        for t in chunks(s):
            f = clients.get(server.url("subs.ism/" + template.replace("{start time}", str(t))))
            assert f.status == 200 and f.body[4:8] == b"moof", (s.get("Name"), t, f.status)
            mdat = child(f.body, ["mdat"])
            doc = f.body[mdat[0]:mdat[1]]
            ET.fromstring(doc)          # a well-formed TTML document
            texts += doc
        assert b"<p begin=" in texts
    # Sidecar text is cut where the video is: at the same frames, so chunk starts differ only by
    # how far a video fragment's first decode time precedes its first presentation (B-frames).
    text, frames = chunks(streams[2]), chunks(video)
    assert len(text) == len(frames) and all(abs(a - b) <= 1_000_000 for a, b in zip(text, frames)), (text, frames)


def test_smooth_with_text_still_plays_in_gstreamer(server, media):
    env = dict(os.environ, GST_DEBUG="basesink:5", GST_DEBUG_NO_COLOR="1")
    proc = subprocess.run(["timeout", "-k", "5", "120", "gst-launch-1.0", "playbin3", f"uri={server.url('subs.ism/Manifest')}",
                           "video-sink=fakesink name=v sync=false", "audio-sink=fakesink name=a sync=false"],
                          capture_output=True, text=True, errors="replace", env=env, timeout=150)
    out = proc.stdout + proc.stderr
    assert "Got EOS" in out, out[-3000:]
    assert not [line for line in out.splitlines() if line.startswith("ERROR")]
    video = set(re.findall(r"chain_unlocked:<v> got times start: (\S+),", out))
    audio = re.findall(r"chain_unlocked:<a> got times start: (\S+),", out)
    assert len(video) == media.frames("abr-640x360.mp4"), len(video)
    assert audio


# ---------------------------------------------------------------------------------------- Browser

@pytest.mark.parametrize("ism", ["subs", "subs-fmp4"])
def test_chromium_videojs_shows_the_cues(server, media, ism):
    """Video.js 7.5 (VHS) plays the master with the English rendition showing: every source cue
    arrives with its text and length, shifted only by as much as VHS delays the video itself (it
    starts TS at the first decode time and ignores fMP4 edit lists: two B-frames, 80 or 40 ms)."""
    import tempfile
    import time
    import urllib.parse

    from playwright.sync_api import sync_playwright

    src = server.url(f"{ism}.ism/.m3u8")
    page_url = (server.url("player.html") + "?src=" + urllib.parse.quote(src, safe="")
                + "&type=" + urllib.parse.quote("application/x-mpegURL", safe=""))
    subtitles = "Array.from(player.textTracks()).filter(t => t.kind === 'subtitles')"
    with tempfile.TemporaryDirectory(prefix="origo-chromium-") as profile, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=clients.CHROMIUM, headless=True,
                                                    args=clients.CHROMIUM_ARGS)
        try:
            page = ctx.new_page()
            page.goto(page_url)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not page.evaluate(f"{subtitles}.length"):
                time.sleep(0.1)
            labels = page.evaluate(f"{subtitles}.map(t => t.language)")
            assert labels == ["en", "fr", "de"], labels
            page.evaluate(f"{subtitles}.forEach(t => {{ if (t.language === 'en') t.mode = 'showing'; }})")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not page.evaluate("window.result.ended || window.result.errors.length"):
                time.sleep(0.25)
            result = page.evaluate("window.result")
            assert result["ended"] and not result["errors"], result
            cues = page.evaluate(f"{subtitles}.filter(t => t.language === 'en')"
                                 ".map(t => Array.from(t.cues || []).map(c => [c.startTime, c.endTime, c.text]))[0]")
        finally:
            ctx.close()
    got = sorted({(round(s * 1000), round(e * 1000), plain(t)) for s, e, t in cues})
    expected = source_cues(media, "eng")
    assert [(e - s, t) for s, e, t in got] == [(e - s, t) for s, e, t in expected] or all(
        abs((g[1] - g[0]) - (x[1] - x[0])) <= 1 and g[2] == x[2] for g, x in zip(got, expected)), (got, expected)
    assert len(got) == len(expected), (got, expected)
    shifts = {g[0] - x[0] for g, x in zip(got, expected)}
    assert max(shifts) - min(shifts) <= 1 and 0 <= min(shifts) <= 120, shifts
