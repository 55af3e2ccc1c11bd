"""URL and request attacks against both real servers (Apache, nginx): path traversal in every encoding, absurd track
tokens and numbers, very long URLs and headers, methods and headers players never send.

Requests go out as raw bytes over a socket (http.client refuses to send most of them). Every answer
must be a 4xx (never a 5xx for a malformed request, never a 200 with anything from outside the
document root), at most one error-log line per request (exactly one when the engine refused it),
no crash (conftest), and the server must answer a good request afterwards."""

from __future__ import annotations

import re
import socket

import pytest

pytestmark = pytest.mark.servers("apache", "nginx")

GOOD = "/abr.ism/.m3u8"
SECRET = re.compile(rb"root:.*:0:0:|\[boot loader\]|BEGIN .*PRIVATE KEY")


def raw(server, target: bytes | str, method: str = "GET", headers: dict[str, str] | None = None,
        timeout: float = 20) -> tuple[int, dict[str, str], bytes]:
    """Sends one HTTP/1.1 request exactly as given and reads the answer until the server closes."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    host, port = server.listen.rsplit(":", 1)
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: " + host.encode(), b"Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(k.encode("latin-1") + b": " + v.encode("latin-1"))
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    response = b"".join(chunks)
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ")[1])
    parsed = {}
    for line in header_lines:
        k, _, v = line.partition(":")
        parsed[k.strip().lower()] = v.strip()
    return status, parsed, body


def check(server, target, method="GET", headers=None, allowed=range(400, 500)):
    """One attack: its status must be in `allowed`, nothing secret in the body, at most one log
    line, and a good request must succeed right after it. Returns (status, headers, body, lines)."""
    start = server.log_size()
    status, hdrs, body = raw(server, target, method, headers)
    lines = [line for line in server.log_since(start, settle=0.01).splitlines() if line.strip()]
    shown = target if isinstance(target, str) else target.decode("latin-1")
    shown = shown if len(shown) < 200 else shown[:200] + "…"
    assert status in allowed, f"{method} {shown} -> {status} (allowed {allowed})\n" + "\n".join(lines)
    assert not SECRET.search(body), f"{method} {shown}: body leaks a file from outside the root"
    assert len(lines) <= 1, f"{method} {shown}: {len(lines)} error-log lines:\n" + "\n".join(lines)
    if any("ORIGO" in line for line in lines):
        assert re.search(r"\d{3} for .*: \S", lines[0]), f"unclear log line: {lines[0]}"
    good, _, _ = raw(server, GOOD)
    assert good == 200, f"good request after {method} {shown} -> {good}"
    return status, hdrs, body, lines


# ------------------------------------------------------------------------------------ traversal

TRAVERSAL = [
    "/../../../../etc/passwd",
    "/abr.ism/../../../../etc/passwd",
    "/abr.ism/../../../../etc/passwd/.m3u8",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
    "/abr.ism/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/abr.ism/..%2f..%2f..%2fetc%2fpasswd",
    "/abr.ism/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "/abr.ism/%252e%252e%252fetc%252fpasswd",
    "/abr.ism/..%5c..%5c..%5cetc%5cpasswd",
    "/abr.ism/..\\..\\..\\etc\\passwd",
    "/..\\..\\..\\etc\\passwd",
    "/abr.ism%00.m3u8",
    "/abr.ism/.m3u8%00",
    "/abr.ism/%00/.m3u8",
    "/abr.ism/abr-video=600000-1.ts%00.html",
    "/abr.ism/./../abr.ism/.m3u8/..",
    "/abr.ism/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/abr.ism/..%c0%af..%c0%afetc%c0%afpasswd",
    "/abr.ism/%u002e%u002e/etc/passwd",
    "/etc/passwd.ism/.m3u8",
    "/%2fetc%2fpasswd.mp4/.m3u8",
    "/faststart.mp4/..;/..;/etc/passwd",
    "/faststart.mp4/.mpd/../../../../../../etc/passwd",
]


@pytest.mark.parametrize("target", TRAVERSAL)
def test_path_traversal(server, target):
    check(server, target)


def test_raw_nul_and_control_bytes(server):
    """Bytes that are not allowed in a request line at all: Apache answers 400 itself."""
    for target in [b"/abr.ism/\x00.m3u8", b"/abr.ism/.m3u8\x01", b"/abr.ism/\x7f.m3u8"]:
        check(server, target)
    # Bytes that are not UTF-8 are allowed by HTTP; any `<name>.m3u8` without a track token is the
    # master playlist (the name before the extension is free), so a 200 must be that playlist.
    status, _, body, _ = check(server, b"/abr.ism/\xff\xfe.m3u8", allowed=[200, 400, 404])
    assert status != 200 or body.startswith(b"#EXTM3U")


@pytest.mark.parametrize("target", ["/abr.ism%00/.m3u8", "/abr.ism/.m3u8%00", "/../abr.ism/.m3u8"])
def test_nul_and_leading_parent_are_refused_by_the_server(server, target):
    """Refused outright: nginx answers 400 to all three (it rejects a %00 or a `..` above the root
    while parsing the request); Apache 400 to the `..` and 404 to a %00 in the path."""
    check(server, target, allowed=[404] if server.kind == "apache" and "%00" in target else [400])


@pytest.mark.parametrize("target", ["//abr.ism/.m3u8", "/abr.ism//.m3u8", "/abr.ism/.//.m3u8",
                                    "/./abr.ism/.m3u8", "/abr.ism/x/../.m3u8", "/abr.ism/abr--video=600000.m3u8"])
def test_doubled_slashes_and_dots_stay_inside(server, target):
    """Apache merges slashes and removes dot segments before the module sees the path, so these may
    be the real playlist: a 200 is fine, as long as it is a playlist."""
    status, hdrs, body, _ = check(server, target, allowed=[200, 400, 403, 404])
    if status == 200:
        assert body.startswith(b"#EXTM3U")


# -------------------------------------------------------------------------------- track tokens

NUMBERS = ["-1", "0", "-0", "9223372036854775807", "9223372036854775808", "18446744073709551617",
           "1" + "0" * 30, "999999999999999999", "1e9", "0x10", "١", "1.5", " 1", "+1"]


@pytest.mark.parametrize("number", NUMBERS)
def test_absurd_segment_numbers(server, number):
    n = number.replace(" ", "%20")
    n = n.encode("utf-8").decode("latin-1") if not n.isascii() else n
    for target in [f"/abr.ism/abr-video=600000-{n}.ts", f"/abr.ism/abr-video=600000-{n}.m4s",
                   f"/abr.ism/abr-video=600000-n{n}.dash", f"/abr.ism/abr-video=600000-{n}.dash",
                   f"/abr.ism/abr-video={n}-1.ts", f"/abr.ism/abr-video={n}.m3u8"]:
        check(server, target)


def test_many_tokens(server):
    for count in [4, 50, 2000]:
        tokens = "-".join(["video=600000", "audio_eng=128000"] * (count // 2))
        for ext in ["m3u8", "ts", "m4s", "dash"]:
            suffix = "-1" if ext in ("ts",) else ""
            check(server, f"/abr.ism/abr-{tokens}{suffix}.{ext}", allowed=[400, 404, 414])


def test_odd_token_shapes(server):
    for name in ["abr-=600000.m3u8", "abr-video=.m3u8", "abr-video==600000.m3u8", "abr-video=600000=1.m3u8",
                 "-.m3u8", "=.ts", "..m3u8", ".", "..", "abr-video=600000-.ts",
                 "abr-video=600000-n.dash", "abr-video=600000-n-1.dash", "abr-video=600000--1.ts",
                 "abr-video=600000.m3u8.m3u8", "abr-video=600000.M3U8", "abr-vidéo=600000.m3u8"]:
        # A name with no track token before `.m3u8` is the master playlist, whatever the name.
        master = name.endswith(".m3u8") and "=" not in name
        status, _, body, _ = check(server, "/abr.ism/" + name.encode("utf-8").decode("latin-1").replace(" ", "%20"),
                                   allowed=[200, *range(400, 500)] if master else range(400, 500))
        assert status != 200 or body.startswith(b"#EXTM3U")


def test_absurd_query_options(server):
    for query in ["hls.minimum_fragment_length=0", "hls.minimum_fragment_length=-1",
                  "hls.minimum_fragment_length=1/0", "hls.minimum_fragment_length=99999999999999999999",
                  "hls.minimum_fragment_length=1/99999999999999999999", "hls.minimum_fragment_length=NaN",
                  "mpd.minimum_fragment_length=1e308", "hls.fmp4=%", "hls.fmp4=%0", "a=%zz",
                  "mpd.segment_template=" + "x" * 3000, "&&&&=&=&", "%00=%00"]:
        check(server, "/abr.ism/.m3u8?" + query, allowed=[200, 400])
        check(server, "/abr.ism/.mpd?" + query, allowed=[200, 400])


def test_tiny_fragment_length_is_bounded(server):
    """The smallest positive length cuts at every key frame: valid, bounded work."""
    for query in ["hls.minimum_fragment_length=1/9223372036854775807", "hls.minimum_fragment_length=0.000000001"]:
        status, _, body, _ = check(server, "/abr.ism/.m3u8?" + query, allowed=[200])
        assert body.startswith(b"#EXTM3U")


# ------------------------------------------------------------------------------------ long input

def test_very_long_urls(server):
    check(server, "/abr.ism/" + "a" * 1100 + ".m3u8", allowed=[400, 404])
    # Longer than a file name may be: Apache's core refuses to map it (403, "File name too long").
    check(server, "/abr.ism/" + "a" * 7000 + ".m3u8", allowed=[400, 403, 404, 414])
    check(server, "/abr.ism/" + "a" * 20000 + ".m3u8", allowed=[400, 414])
    check(server, "/abr.ism/.m3u8?" + "a=b&" * 1500, allowed=[400, 414])
    check(server, "/abr.ism/.m3u8?" + "x" * 20000, allowed=[400, 414])
    check(server, "/" + "a/" * 3000 + "abr.ism/.m3u8", allowed=[400, 403, 404, 414])


def test_huge_headers(server):
    check(server, GOOD, headers={"X-Junk": "a" * 20000}, allowed=[400, 413, 431])
    # Apache refuses more than LimitRequestFields (100) fields; nginx limits the header's bytes
    # only (large_client_header_buffers), so 200 short fields are an ordinary request there.
    status, _, body, _ = check(server, GOOD, headers={f"X-J{i}": "a" for i in range(200)},
                               allowed=[200] if server.kind == "nginx" else [400, 413, 431])
    assert status != 200 or body.startswith(b"#EXTM3U")


# --------------------------------------------------------------------------- methods and headers

@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "POST", "PROPFIND", "MKCOL", "FOO"])
def test_methods_players_never_send(server, method):
    status, hdrs, _, _ = check(server, GOOD, method=method, headers={"Content-Length": "0"},
                               allowed=[405, 501, 400, 403])
    if status == 405:
        assert "GET" in hdrs.get("allow", ""), f"{method}: 405 without Allow: GET"


def test_trace_and_connect(server):
    # TRACE is answered by Apache's core before any handler (TraceEnable, default on): echoing the
    # request back is Apache's behaviour, not Origo's; it must not reach the engine or fail.
    status, hdrs, _, lines = check(server, GOOD, method="TRACE", allowed=[200, 403, 405, 501])
    if status == 200:
        assert hdrs.get("content-type", "").startswith("message/http")
    assert not any("ORIGO" in line for line in lines)
    check(server, "127.0.0.1:80", method="CONNECT", allowed=[400, 403, 404, 405, 501])


RANGES = ["bytes=0-18446744073709551615", "bytes=99999999999999999999-", "bytes=-0", "bytes=5-1",
          "bytes=-99999999999999999999", "bytes=" + ",".join(f"{i}-{i}" for i in range(1000)),
          "bytes=0-0,-1", "items=0-10", "bytes=", "bytes=--1", "bytes=1-2-3"]


@pytest.mark.parametrize("value", RANGES, ids=range(len(RANGES)))
def test_weird_ranges(server, value):
    for target in [GOOD, "/abr.ism/abr-video=600000-1.ts", "/abr.ism/abr-video=600000-n1.dash"]:
        status, _, _, _ = check(server, target, headers={"Range": value}, allowed=[200, 206, 416, 400])


CONDITIONS = [("If-None-Match", "*"), ("If-None-Match", '"'), ("If-None-Match", "W/"),
              ("If-None-Match", '"' + "a" * 7000 + '"'), ("If-None-Match", ",,,,,"),
              ("If-None-Match", ", ".join(f'"{i}"' for i in range(500))),
              ("If-Modified-Since", "yesterday"), ("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"),
              ("If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT"), ("If-Unmodified-Since", "garbage"),
              ("If-Match", "nonsense"), ("If-Range", "W/\"x\""), ("Accept-Encoding", "gzip;q=" + "9" * 500)]


@pytest.mark.parametrize("name,value", CONDITIONS, ids=range(len(CONDITIONS)))
def test_weird_conditional_headers(server, name, value):
    for target in [GOOD, "/abr.ism/abr-video=600000-1.ts"]:
        check(server, target, headers={name: value}, allowed=[200, 304, 412, 400])
