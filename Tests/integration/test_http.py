"""HTTP behaviour of the origin: content types, HEAD, conditional requests, methods, error statuses
with their one-line reasons in the error log, TS packet structure and continuity, concurrency."""

from __future__ import annotations

import email.utils
import http.client
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import clients
import playlists as pl
from conftest import ONE_CHILD, PrivateServer

pytestmark = pytest.mark.servers("apache", "nginx")

# URL grammar (README "URLs"): every name below must exist for the ABR presentation.
GRAMMAR = {
    "abr.ism/.m3u8": "application/vnd.apple.mpegurl",
    "abr.ism/master.m3u8": "application/vnd.apple.mpegurl",
    "abr.ism/abr-video=600000.m3u8": "application/vnd.apple.mpegurl",
    "abr.ism/abr-audio_eng=128000.m3u8": "application/vnd.apple.mpegurl",
    "abr.ism/abr-video=600000-1.ts": "video/mp2t",
    "abr.ism/abr-audio_fra=96000-1.ts": "video/mp2t",
    "abr.ism/abr-video=600000.m4s": "video/mp4",
    "abr.ism/abr-video=600000-1.m4s": "video/mp4",
    "abr.ism/abr-audio_eng=128000.m4s": "audio/mp4",
    "abr.ism/abr-audio_eng=128000-1.m4s": "audio/mp4",
    "abr.ism/.mpd": "application/dash+xml",
    "abr.ism/abr-video=600000.dash": "video/mp4",
    "abr.ism/abr-video=600000-n1.dash": "video/mp4",
    "abr.ism/abr-audio_fra=96000.dash": "audio/mp4",
    "abr.ism/abr-audio_fra=96000-n1.dash": "audio/mp4",
    "faststart.mp4/.m3u8": "application/vnd.apple.mpegurl",
    "faststart.mp4/.mpd": "application/dash+xml",
}

# (path, status, text the error log line must contain). Malformed names and option values are 400;
# names that are well-formed but match nothing are 404 (the reference origin's suggestion, §5.2).
ERRORS = [
    ("abr.ism/abr-video=999-1.ts", 404, "abr-video=999-1.ts"),              # unknown bitrate
    ("abr.ism/abr-subtitles=1000.m3u8", 404, "abr-subtitles=1000.m3u8"),     # unknown track name
    ("abr.ism/abr-video=600000-99.ts", 404, "abr-video=600000-99.ts"),       # segment past the end
    ("abr.ism/abr-video=600000-99.m4s", 404, "abr-video=600000-99.m4s"),
    ("abr.ism/abr-video=600000-n99.dash", 404, "abr-video=600000-n99.dash"),
    ("abr.ism/abr-video=600000-12345.dash", 404, "abr-video=600000-12345.dash"),  # no segment starts there
    ("abr.ism/nothing.xyz", 404, "nothing.xyz"),                              # unknown virtual path
    ("missing.ism/.m3u8", 404, "missing.ism"),                                # no such server manifest
    ("abr.ism/abr-video=abc-1.ts", 400, "abr-video=abc-1.ts"),               # bitrate not a number
    ("abr.ism/abr-video=600000-0.ts", 400, "abr-video=600000-0.ts"),         # numbers start at 1
    ("abr.ism/.m3u8?hls.minimum_fragment_length=abc", 400, "minimum_fragment_length"),
    ("abr.ism/.mpd?mpd.segment_template=bogus", 400, "segment_template"),
    ("abr.ism/.m3u8?hls.fmp4=maybe", 400, "fmp4"),
    ("abr.ism/.m3u8?a=%zz", 400, "percent"),
]


def test_dash_time_addressing_follows_the_mpd(server):
    """`$Time$` names come from the MPD's timeline: with B-frames the video's media time starts at its
    presentationTimeOffset, not at zero, and every named segment exists."""
    mpd_url = server.url("abr.ism/.mpd")
    _, reps = pl.dash(mpd_url)
    for rep in reps:
        init, media = pl.dash_segment_urls(mpd_url, rep)
        for url in [init, media[0], media[-1]]:
            resp = clients.get(url)
            assert resp.status == 200, f"GET {url} -> {resp.status}"
            assert content_type(resp) == ("video/mp4" if rep.kind == "video" else "audio/mp4")


def content_type(resp: clients.Response) -> str:
    return (resp.header("content-type") or "").split(";")[0].strip().lower()


@pytest.mark.parametrize("path", GRAMMAR.keys())
def test_url_grammar_and_content_types(server, path):
    resp = clients.get(server.url(path))
    assert resp.status == 200, f"GET {path} -> {resp.status}"
    assert content_type(resp) == GRAMMAR[path], f"GET {path}: {content_type(resp)}"
    assert resp.body, f"GET {path}: empty body"
    assert resp.header("etag"), f"GET {path}: no ETag"
    assert resp.header("last-modified"), f"GET {path}: no Last-Modified"


def test_last_modified_is_the_manifest_mtime(server, media):
    for path, source in [("abr.ism/.m3u8", "abr.ism"), ("abr.ism/abr-video=600000-1.ts", "abr.ism"),
                         ("faststart.mp4/.mpd", "faststart.mp4")]:
        resp = clients.get(server.url(path))
        mtime = int(os.stat(os.path.join(media.root, source)).st_mtime)
        assert resp.header("last-modified") == email.utils.formatdate(mtime, usegmt=True), path


@pytest.mark.parametrize("path", ["abr.ism/.m3u8", "abr.ism/abr-video=600000.m3u8", "abr.ism/.mpd",
                                  "abr.ism/abr-video=600000-2.ts", "abr.ism/abr-audio_eng=128000.m4s",
                                  "abr.ism/abr-video=600000-n2.dash"])
def test_head_matches_get(server, path):
    url = server.url(path)
    get = clients.get(url)
    head = clients.request("HEAD", url)
    assert get.status == 200 and head.status == 200, (get.status, head.status)
    assert head.body == b"", f"HEAD {path} sent a body"
    assert int(head.header("content-length") or -1) == len(get.body), \
        f"HEAD {path}: Content-Length {head.header('content-length')} vs {len(get.body)} bytes from GET"
    for h in ("content-type", "etag", "last-modified"):
        assert head.header(h) == get.header(h), f"HEAD {path}: {h} {head.header(h)!r} vs {get.header(h)!r}"


@pytest.mark.parametrize("path", ["abr.ism/.m3u8", "abr.ism/.mpd", "abr.ism/abr-video=600000-1.ts",
                                  "abr.ism/abr-video=600000-n1.dash"])
def test_conditional_requests(server, path):
    url = server.url(path)
    first = clients.get(url)
    assert first.status == 200
    etag, lm = first.header("etag"), first.header("last-modified")
    assert etag and lm
    r = clients.get(url, headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b"", f"If-None-Match {etag} -> {r.status}"
    r = clients.get(url, headers={"If-Modified-Since": lm})
    assert r.status == 304 and r.body == b"", f"If-Modified-Since {lm} -> {r.status}"
    r = clients.get(url, headers={"If-None-Match": '"not-the-etag"'})
    assert r.status == 200 and r.body == first.body, f"stale If-None-Match -> {r.status}"
    r = clients.get(url, headers={"If-Modified-Since": "Thu, 01 Jan 1998 00:00:00 GMT"})
    assert r.status == 200 and r.body == first.body, f"old If-Modified-Since -> {r.status}"


@pytest.mark.parametrize("path", ["abr.ism/abr-video=600000-2.ts",         # generated bytes
                                  "abr.ism/abr-video=600000-n2.dash"])     # moof + a range of the file
def test_range_on_a_segment(server, path):
    url = server.url(path)
    full = clients.get(url).body
    assert len(full) > 5000
    r = clients.get(url, headers={"Range": "bytes=1000-4999"})
    assert r.status == 206 and r.body == full[1000:5000], r.status
    assert r.header("content-range") == f"bytes 1000-4999/{len(full)}"
    r = clients.get(url, headers={"Range": "bytes=-100"})
    assert r.status == 206 and r.body == full[-100:]
    r = clients.get(url, headers={"Range": f"bytes={len(full)}-"})
    assert r.status == 416, r.status
    r = clients.get(url, headers={"Range": "bytes=0-9,20-29"})
    if server.kind == "nginx" and path.endswith(".dash"):
        # nginx's range filter cuts several ranges out of a one-buffer body only (ngx_glue/README.md).
        assert r.status == 200 and r.body == full, r.status
    else:
        assert r.status == 206 and r.header("content-type").startswith("multipart/byteranges"), r.status
        assert full[:10] in r.body and full[20:30] in r.body


def test_options_then_get_on_one_connection(server):
    """OPTIONS answers Allow; a body it came with is read and dropped, not taken for the next request."""
    host, port = server.listen.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("OPTIONS", "/abr.ism/.m3u8", body=b"GET /x HTTP/1.1\r\n\r\n")
        r = conn.getresponse()
        r.read()
        assert r.status == 200 and "GET" in (r.getheader("allow") or ""), (r.status, r.getheader("allow"))
        conn.request("GET", "/abr.ism/.m3u8")
        r = conn.getresponse()
        assert r.status == 200 and r.read().startswith(b"#EXTM3U")
    finally:
        conn.close()


def test_etags_differ_between_resources(server):
    paths = ["abr.ism/.m3u8", "abr.ism/.mpd", "abr.ism/abr-video=600000-1.ts", "abr.ism/abr-video=600000-2.ts",
             "abr.ism/abr-video=300000-1.ts", "abr.ism/.m3u8?hls.fmp4=true"]
    etags = [clients.get(server.url(p)).header("etag") for p in paths]
    assert len(set(etags)) == len(paths), dict(zip(paths, etags))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["abr.ism/.m3u8", "abr.ism/abr-video=600000-1.ts"])
def test_method_not_allowed(server, method, path):
    resp = clients.request(method, server.url(path), body=b"x")
    assert resp.status == 405, f"{method} {path} -> {resp.status}"
    allow = {m.strip().upper() for m in (resp.header("allow") or "").split(",")}
    assert {"GET", "HEAD"} <= allow, f"{method} {path}: Allow {resp.header('allow')!r}"


@pytest.mark.parametrize("path,status,hint", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_have_status_and_one_log_line(server, path, status, hint):
    start = server.log_size()
    resp = clients.get(server.url(path))
    assert resp.status == status, f"GET {path} -> {resp.status}, expected {status}"
    lines = [line for line in server.log_since(start).splitlines() if line.strip()]
    assert any(hint in line for line in lines), f"GET {path}: no error-log line mentioning {hint!r}: {lines}"
    # Apache may add a line of its own to the engine's (AH…); nginx logs the engine's only.
    assert len(lines) <= (1 if server.kind == "nginx" else 2), \
        f"GET {path}: expected a one-line reason, got {len(lines)} lines: {lines}"


def test_media_file_without_virtual_path_is_static(server, media):
    resp = clients.get(server.url("abr-640x360.mp4"))
    assert resp.status == 200
    with open(os.path.join(media.root, "abr-640x360.mp4"), "rb") as f:
        assert resp.body == f.read()


def ts_variant_urls(server) -> list[str]:
    master, _ = pl.master_children(server.url("abr.ism/.m3u8"))
    return [pl.absolute(server.url("abr.ism/.m3u8"), v.uri) for v in master.playlists]


def test_ts_packets_and_continuity(server, media):
    """Every TS segment is whole 188-byte packets starting with a PAT; the segments of one playlist
    concatenated form one stream whose continuity counters never jump (ffmpeg -v verbose)."""
    for url in ts_variant_urls(server):
        mp = pl.media_playlist(url)
        data = b""
        for seg in mp.segment_urls:
            resp = clients.get(seg)
            assert resp.status == 200, f"{seg} -> {resp.status}"
            body = resp.body
            assert len(body) % 188 == 0 and body, f"{seg}: {len(body)} bytes is not whole TS packets"
            assert all(body[i] == 0x47 for i in range(0, len(body), 188)), f"{seg}: lost TS sync"
            pid = ((body[1] & 0x1F) << 8) | body[2]
            assert pid == 0, f"{seg}: first packet has PID {pid}, expected the PAT"
            data += body
        with tempfile.NamedTemporaryFile(suffix=".ts") as f:
            f.write(data)
            f.flush()
            proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "verbose", "-nostats",
                                   "-i", f.name, "-map", "0", "-f", "null", "-"],
                                  capture_output=True, text=True, errors="replace")
        cc = [line for line in proc.stderr.splitlines() if "Continuity check failed" in line]
        assert not cc, f"{url}: continuity errors across segments: {cc[:5]}"
        bad = [line for line in proc.stderr.splitlines() if clients.FFMPEG_ERROR_PATTERN.search(line)]
        assert not bad, f"{url}: {bad[:5]}"


def test_concurrent_requests_no_crash(server):
    """A burst of mixed valid and invalid requests from 8 threads: every answer is one of the
    expected statuses (the autouse fixture fails the test if a child crashed meanwhile)."""
    paths = list(GRAMMAR.keys()) + [p for p, _, _ in ERRORS]
    expected = {p: 200 for p in GRAMMAR} | {p: s for p, s, _ in ERRORS}

    def fetch(i: int) -> tuple[str, int]:
        p = paths[i % len(paths)]
        return p, clients.get(server.url(p)).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(fetch, range(len(paths) * 6)))
    wrong = [(p, s) for p, s in results if s != expected[p]]
    assert not wrong, f"unexpected statuses: {wrong[:10]}"


def test_a_changed_media_file_is_seen_by_segments_at_once_and_by_manifests_within_the_interval(server_kind, media):
    """A manifest reads no samples: it trusts a check of the media files younger than
    OrigoFileCheckInterval / origo_file_check_interval (1 s by default; 0: every request). A
    segment sends samples: it checks its files on every request."""
    root = tempfile.mkdtemp(prefix="origo-check-", dir="/tmp")
    os.chmod(root, 0o755)
    ism = ('<smil xmlns="http://www.w3.org/2001/SMIL20/Language"><body><switch>'
           '<video src="v.mp4" systemBitrate="400000"/></switch></body></smil>')
    folders = ("later", "now", "hour")
    for folder in folders:
        os.mkdir(os.path.join(root, folder))
        os.chmod(os.path.join(root, folder), 0o755)
        with open(os.path.join(root, folder, "x.ism"), "w") as f:
            f.write(ism)
        shutil.copyfile(os.path.join(media.root, "abr-416x234.mp4"), os.path.join(root, folder, "v.mp4"))
    text = "".join(f'location /{d}/ {{ usp_handle_ism; origo_file_check_interval {s}s; }}\n' if server_kind == "nginx"
                   else f'<Directory "{root}/{d}">\n    OrigoFileCheckInterval {s}\n</Directory>\n'
                   for d, s in (("now", 0), ("hour", 3600)))
    site = PrivateServer(root, text if server_kind == "nginx" else ONE_CHILD + text, kind=server_kind)
    crashes: list[str] = []
    try:
        first = {d: clients.get(site.url(f"{d}/x.ism/.mpd")) for d in folders}
        segment = clients.get(site.url("later/x.ism/x-video=400000-n1.dash"))
        assert segment.status == 200 and all(r.status == 200 for r in first.values())
        assert all(b'width="416"' in r.body for r in first.values())
        for d in folders:
            path = os.path.join(root, d, "v.mp4")
            before = os.stat(path)
            shutil.copyfile(os.path.join(media.root, "abr-640x360.mp4"), path)
            os.utime(path, (before.st_atime, before.st_mtime + 2))

        changed = clients.get(site.url("later/x.ism/x-video=400000-n1.dash"))
        assert changed.status == 200 and changed.body != segment.body
        assert changed.header("etag") != segment.header("etag")
        now = clients.get(site.url("now/x.ism/.mpd"))
        assert now.status == 200 and b'width="640"' in now.body
        # Within the hour the manifest is what it was; the first segment that reads the file
        # finds it changed and reloads the presentation for every request.
        hour = clients.get(site.url("hour/x.ism/.mpd"))
        assert hour.status == 200 and hour.body == first["hour"].body
        assert clients.get(site.url("hour/x.ism/x-video=400000-n1.dash")).body == changed.body
        assert b'width="640"' in clients.get(site.url("hour/x.ism/.mpd")).body
        time.sleep(1.2)
        later = clients.get(site.url("later/x.ism/.mpd"))
        assert later.status == 200 and b'width="640"' in later.body
    finally:
        crashes = site.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert not crashes
