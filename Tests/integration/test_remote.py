"""Remote storage through IsmProxyPass (issue #4 points 1, 2, 3, 7), on Apache and on nginx
(`ism_proxy_pass`, issue #16).

A plain Apache serves the test media as "storage" (Range works there) and logs every request with its
Range header and client port; a tiny CMS (python http.server) returns SMIL for `?url=`; a misbehaving
server answers with errors, resets, short bodies and delays. A private Origo site per server maps
`/proxy`, `/cms` and `/bad` onto them (one Apache child or nginx worker, so that its caches are shared
by every request of a test). Apache's site also has the ways of reading only Apache has: `/builtin`
and `/badbuiltin` (its own client, UspEnableSubreq off), `/cached` (mod_cache), `/direct` and
`/denied` (`IsmProxyPass "http://"`) and a <Directory>; nginx's has `/pooled` (an `upstream` block
with keep-alive connections)."""

from __future__ import annotations

import http.client
import http.server
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
import time
import urllib.parse

import pytest

import clients
from conftest import LAUNCHER, NGINX_LAUNCHER, ONE_CHILD, PrivateServer, Remote, _free_port, remote_site
from testca import ServerCert
from test_decode import ABR_RENDITIONS, FORMATS, check_decode, expected_audio_frames

HTTPD = "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"
ACCESS = re.compile(r'^"(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d+) (?P<bytes>\S+) '
                    r'range="(?P<range>[^"]*)" port=(?P<port>\d+)$')


# ---------------------------------------------------------------------------------------- servers

class Storage:
    """A plain Apache serving the media directory; its access log is the upstream request count.
    With `tls` it speaks https only, with that certificate; with `backend` (a URL without a trailing
    '/') it serves nothing itself but is a reverse proxy in front of that server (the Host header
    passed on, as S3 signatures cover it), e.g. to log what reaches moto."""

    def __init__(self, root: str | None, tls: ServerCert | None = None, backend: str | None = None):
        self.port = _free_port()
        self.scheme = "https" if tls else "http"
        self.dir = tempfile.mkdtemp(prefix="origo-storage-")
        self.log = os.path.join(self.dir, "access.log")
        self.error_log = os.path.join(self.dir, "error.log")
        conf = os.path.join(self.dir, "httpd.conf")
        user = "User www-data\nGroup www-data\n" if os.getuid() == 0 else ""
        with open(conf, "w") as f:
            f.write(f"""ServerRoot "{self.dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile "{self.dir}/httpd.pid"
DefaultRuntimeDir "{self.dir}"
ErrorLog "{self.error_log}"
LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule mime_module {MODULES}/mod_mime.so
{user}TypesConfig /etc/mime.types
LogFormat "\\"%r\\" %>s %b range=\\"%{{Range}}i\\" port=%{{remote}}p" storage
CustomLog "{self.log}" storage
KeepAlive On
KeepAliveTimeout 60
MaxKeepAliveRequests 0
DocumentRoot "{root or self.dir}"
<Directory />
  Require all denied
</Directory>
""")
            if tls:
                f.write(f"""LoadModule ssl_module {MODULES}/mod_ssl.so
SSLEngine on
SSLCertificateFile "{tls.cert}"
SSLCertificateKeyFile "{tls.key}"
""")
            if backend:
                f.write(f"""LoadModule proxy_module {MODULES}/mod_proxy.so
LoadModule proxy_http_module {MODULES}/mod_proxy_http.so
ProxyPreserveHost On
ProxyPass "/" "{backend}/" retry=0
""")
            if root:
                f.write(f"""<Directory "{root}">
  Require all granted
</Directory>
<Files "forbidden.mp4">
  Require all denied
</Files>
""")
        self.conf = conf
        subprocess.run([HTTPD, "-f", conf, "-k", "start"], check=True, capture_output=True)
        _wait_for(self.port)

    def stop(self) -> None:
        subprocess.run([HTTPD, "-f", self.conf, "-k", "stop"], capture_output=True)

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def lines(self) -> list[dict]:
        time.sleep(0.3)  # Apache writes the access log after the response
        try:
            with open(self.log) as f:
                return [m.groupdict() for m in map(ACCESS.match, f.read().splitlines()) if m]
        except OSError:
            return []

    def mark(self) -> int:
        return len(self.lines())

    def since(self, mark: int) -> list[dict]:
        return self.lines()[mark:]


def _wait_for(port: int, timeout: float = 10) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Threaded:
    """A python HTTP server in a thread."""

    def __init__(self, handler):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def manifest_server(answer):
    """A CMS: `answer(path)` (the request's path and query) gives (status, server manifest text)."""
    class CMS(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            status, text = answer(self.path)
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    return CMS


def cms_handler(seen: list[str]):
    """A CMS like a smil.php: a SMIL whose audio and video point at `?url=`; `seen` gets every
    request's path."""
    def answer(path: str) -> tuple[int, str]:
        seen.append(path)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        src = query.get("url", [""])[0].replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
        return (200 if src else 400,
                f'<?xml version="1.0" encoding="utf-8"?>\n<smil xmlns="http://www.w3.org/2001/SMIL20/Language">'
                f'<head></head><body><switch><audio src="{src}" systemBitrate="1"/>'
                f'<video src="{src}" systemBitrate="1"/></switch></body></smil>\n')
    return manifest_server(answer)


class BadHandler(http.server.BaseHTTPRequestHandler):
    """Misbehaviour chosen by the first path segment: /status/<code>/..., /reset/..., /short/...,
    /slow/..., and /closing/<file>: a file of `root` (ranges honoured) answered as if the connection
    stayed open, after which the server hangs up."""
    protocol_version = "HTTP/1.1"
    root = ""

    def do_GET(self):
        parts = self.path.lstrip("/").split("/")
        kind = parts[0]
        if kind == "status":
            body = b"nope"
            self.send_response(int(parts[1]))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.close_connection = True
            self.connection.close()
        elif kind == "short":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"\0" * 1000)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif kind == "closing":
            with open(os.path.join(self.root, *parts[1:]), "rb") as f:
                data = f.read()
            m = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
            if m:
                first = int(m.group(1))
                last = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
                data = data[first:last + 1]
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
        elif kind == "slow":
            time.sleep(5)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args):
        pass


class Origo:
    """A private Origo Apache (scripts/origo-httpd) with the remote locations included."""

    def __init__(self, include: str, root: str):
        self.port = _free_port()
        self.listen = f"127.0.0.1:{self.port}"
        proc = subprocess.run([str(LAUNCHER), "start", "--root", root, "--listen", self.listen,
                               "--include", include], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"origo-httpd start failed:\n{proc.stdout}\n{proc.stderr}")
        self.error_log = f"/tmp/origo-httpd/{self.port}/logs/error.log"

    def url(self, path: str) -> str:
        return f"http://{self.listen}/{path.lstrip('/')}"

    def log_size(self) -> int:
        return os.path.getsize(self.error_log) if os.path.exists(self.error_log) else 0

    def log_since(self, offset: int) -> str:
        time.sleep(0.2)
        with open(self.error_log, errors="replace") as f:
            f.seek(offset)
            return f.read()

    def stop(self) -> str:
        subprocess.run([str(LAUNCHER), "stop", "--listen", self.listen], capture_output=True, timeout=120)
        return self.log_since(0)


pytestmark = pytest.mark.servers("apache", "nginx")


def reads(*cases: tuple[str, str]):
    """Parametrizes a test by (server kind, location prefix): the ways each server reads storage."""
    return pytest.mark.parametrize("server_kind,prefix", cases, indirect=["server_kind"], scope="module")


@pytest.fixture(scope="module")
def upstreams(media):
    storage = Storage(media.root)
    seen: list[str] = []
    cms = Threaded(cms_handler(seen))
    BadHandler.root = media.root
    bad = Threaded(BadHandler)
    try:
        yield type("Upstreams", (), {"storage": storage, "cms": cms, "cms_seen": seen, "bad": bad})
    finally:
        storage.stop()
        cms.stop()
        bad.stop()


def apache_site(root: str, storage: Storage, cms: Threaded, bad: Threaded) -> str:
    return ONE_CHILD + f"""<Location "/proxy">
  IsmProxyPass "http://127.0.0.1:{storage.port}/"
  UspEnableSubreq on
</Location>
<Location "/builtin">
  IsmProxyPass "http://127.0.0.1:{storage.port}/"
  UspEnableSubreq off
</Location>
<Location "/badbuiltin">
  IsmProxyPass "http://127.0.0.1:{bad.port}/"
  UspEnableSubreq off
  OrigoUpstreamTimeout 2
</Location>
<Location "/cms">
  IsmProxyPass "http://127.0.0.1:{cms.port}/smil.php/"
  OrigoProxyAllowHost 127.0.0.1:{storage.port}
</Location>
<Location "/direct">
  IsmProxyPass "http://"
  OrigoProxyAllowHost 127.0.0.1:{storage.port}
</Location>
<Location "/denied">
  IsmProxyPass "http://"
</Location>
<Directory "{root}/dirproxy">
  IsmProxyPass "http://127.0.0.1:{storage.port}/"
</Directory>
<Location "/bad">
  IsmProxyPass "http://127.0.0.1:{bad.port}/"
</Location>
<Proxy "http://127.0.0.1:{storage.port}/">
  ProxySet connectiontimeout=5 enablereuse=on keepalive=on retry=0 timeout=30 ttl=300
</Proxy>
# mod_cache over the upstream reads: each object is stored and found under its own key.
<IfModule !cache_module>
  LoadModule cache_module {MODULES}/mod_cache.so
</IfModule>
<IfModule !cache_disk_module>
  LoadModule cache_disk_module {MODULES}/mod_cache_disk.so
</IfModule>
CacheRoot "{root}/cache"
<Location "/cached">
  IsmProxyPass "http://127.0.0.1:{storage.port}/"
  CacheEnable disk
</Location>
<Proxy "http://127.0.0.1:{bad.port}/">
  ProxySet timeout=2 retry=0
</Proxy>
"""


def nginx_site(storage: Storage, cms: Threaded, bad: Threaded) -> tuple[str, str]:
    """(server block include, http block include): the locations Apache's site has on nginx, with
    Apache's read timeout of /bad (ProxySet timeout=2) as origo_upstream_timeout; /pooled reads
    through an `upstream` block, the nginx way of keeping storage connections alive."""
    server = remote_site("nginx", {
        "proxy": Remote(storage.url("")),
        "cms": Remote(f"http://127.0.0.1:{cms.port}/smil.php/", allow=f"127.0.0.1:{storage.port}"),
        "bad": Remote(f"http://127.0.0.1:{bad.port}/", timeout=2),
        "pooled": Remote("http://storage/"),
    })
    return server, f"upstream storage {{\n    server 127.0.0.1:{storage.port};\n    keepalive 16;\n}}\n"


@pytest.fixture(scope="module")
def remote(upstreams, server_kind):
    up = upstreams
    root = tempfile.mkdtemp(prefix="origo-remote-root-")
    os.chmod(root, 0o755)
    os.makedirs(os.path.join(root, "cache"))
    if os.getuid() == 0:
        shutil.chown(os.path.join(root, "cache"), "www-data", "www-data")
    if server_kind == "nginx":
        server_text, http_text = nginx_site(up.storage, up.cms, up.bad)
        origo = PrivateServer(root, server_text, "nginx", http_text)
    else:
        origo = PrivateServer(root, apache_site(root, up.storage, up.cms, up.bad))
    try:
        yield type("Remote", (), {"storage": up.storage, "cms": up.cms, "cms_seen": up.cms_seen, "bad": up.bad,
                                  "origo": origo})
    finally:
        crashes = origo.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert not crashes, f"{server_kind} children or workers crashed:\n" + "".join(crashes[:20])


# ------------------------------------------------------------------------------------------ tests

@pytest.mark.parametrize("fmt", FORMATS.keys())
@reads(("apache", "proxy"), ("apache", "builtin"), ("apache", "cached"), ("nginx", "proxy"))
def test_decode_abr_through_ismproxypass(remote, media, fmt, prefix):
    frames = {media.frames(r) for r in ABR_RENDITIONS}
    check_decode(remote.origo.url(f"{prefix}/abr.ism/" + FORMATS[fmt]), frames.pop(), len(ABR_RENDITIONS),
                 expected_audio_frames(media, ["audio-eng.mp4", "audio-fra.mp4"]))


@pytest.mark.parametrize("name", ["moov-at-end.mp4", "cmaf.mp4"])
@pytest.mark.parametrize("fmt", ["hls-ts", "dash-time"])
@reads(("apache", "proxy"), ("apache", "builtin"), ("nginx", "proxy"))
def test_decode_single_file_through_ismproxypass(remote, media, name, fmt, prefix):
    check_decode(remote.origo.url(f"{prefix}/{name}/" + FORMATS[fmt]), media.frames(name), 1,
                 expected_audio_frames(media, [name]))


def test_cms_receives_the_query_and_its_smil_plays(remote, media):
    src = remote.storage.url("faststart.mp4")
    query = "url=" + urllib.parse.quote(src, safe="")
    before = len(remote.cms_seen)
    url = remote.origo.url("cms/CACHE_ID.ism/.m3u8?" + query)
    check_decode(url, media.frames("faststart.mp4"), 1, expected_audio_frames(media, ["faststart.mp4"]))
    got = remote.cms_seen[before:]
    assert got, "the CMS was never asked"
    assert all(p == "/smil.php/CACHE_ID.ism?" + query for p in got), got


@pytest.mark.servers("apache")    # a <Directory> section: nginx has locations only
def test_directory_prefix_maps_like_a_location(remote):
    r = clients.get(remote.origo.url("dirproxy/abr.ism/.m3u8"))
    assert r.status == 200, r.body[:300]
    assert b"#EXTM3U" in r.body


@pytest.mark.servers("apache")    # nginx's ism_proxy_pass needs a host: no `http://` alone
def test_direct_restream_needs_an_allowed_host(remote, media):
    ok = clients.get(remote.origo.url(f"direct/127.0.0.1:{remote.storage.port}/faststart.mp4/.mpd"))
    assert ok.status == 200, ok.body[:300]
    offset = remote.origo.log_size()
    denied = clients.get(remote.origo.url(f"denied/127.0.0.1:{remote.storage.port}/faststart.mp4/.mpd"))
    assert denied.status == 403
    assert "not allowed" in remote.origo.log_since(offset)


# What a client gets when storage fails (`proxy/`: the storage Apache, `bad/`: BadHandler), the
# same for every way of reading it (Apache's subrequests and libcurl, nginx's upstream).
UPSTREAM_FAILURES = [
    ("proxy/missing.ism/.m3u8", 404),
    ("proxy/forbidden.mp4/.m3u8", 403),
    ("bad/status/404/x.ism/.m3u8", 404),
    ("bad/status/403/x.ism/.m3u8", 403),
    ("bad/status/500/x.ism/.m3u8", 502),
    ("bad/status/503/x.mp4/.mpd", 502),
    ("bad/reset/x.ism/.m3u8", 502),
    ("bad/short/x.mp4/.m3u8", 502),
    ("bad/slow/x.ism/.m3u8", 504),
]


@pytest.mark.parametrize("server_kind,path,status", [
    (kind, path, status) for kind in ("apache", "nginx") for path, status in UPSTREAM_FAILURES
] + [  # Apache's built-in client
    ("apache", path.replace("proxy/", "builtin/", 1).replace("bad/", "badbuiltin/", 1), status)
    for path, status in UPSTREAM_FAILURES
], indirect=["server_kind"], scope="module")
def test_upstream_failures(remote, path, status):
    offset = remote.origo.log_size()
    r = clients.get(remote.origo.url(path))
    assert r.status == status, f"{path}: {r.status}"
    log = [line for line in remote.origo.log_since(offset).splitlines() if "ORIGO10110" in line]
    assert len(log) == 1, f"one error-log line expected:\n{log}"
    # The child keeps serving, and nothing broken was cached.
    assert clients.get(remote.origo.url("proxy/faststart.mp4/.m3u8")).status == 200


@pytest.mark.servers("apache")    # Apache's own client (UspEnableSubreq off)
def test_builtin_client_survives_servers_that_hang_up(remote, media):
    """Every kept-alive connection is closed by the server after one answer: the built-in client
    notices it (or retries once) and playback is still exact."""
    offset = remote.origo.log_size()
    check_decode(remote.origo.url("badbuiltin/closing/faststart.mp4/.m3u8"), media.frames("faststart.mp4"), 1,
                 expected_audio_frames(media, ["faststart.mp4"]))
    assert "ORIGO10110" not in remote.origo.log_since(offset)


def test_refuses_a_url_without_trailing_slash(server_kind, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text(remote_site(server_kind, {"x": Remote("http://127.0.0.1:1/videos")}))
    launcher = NGINX_LAUNCHER if server_kind == "nginx" else LAUNCHER
    port = _free_port()
    try:
        proc = subprocess.run([str(launcher), "start", "--root", str(tmp_path), "--listen", f"127.0.0.1:{port}",
                               "--include", str(conf)], capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run([str(launcher), "stop", "--listen", f"127.0.0.1:{port}"], capture_output=True, timeout=60)
    assert proc.returncode != 0
    # Apache quotes the '/' with single quotes, nginx (`nginx -t`) with double quotes.
    assert re.search(r"""must end with ['"]/['"]""", proc.stdout + proc.stderr), proc.stdout + proc.stderr


def _ts_segments(origo, manifest: str, prefix: str = "proxy") -> list[str]:
    """TS segment names of the first variant of the HLS master playlist."""
    master = clients.get(origo.url(f"{prefix}/{manifest}/.m3u8")).body.decode()
    variant = next(line for line in master.splitlines() if line and not line.startswith("#"))
    playlist = clients.get(origo.url(f"{prefix}/{manifest}/{variant}")).body.decode()
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def _warm_reads(remote, manifest: str, segments: list[str]) -> list[dict]:
    """Storage requests made by segments[1] after segments[0] warmed the presentation."""
    assert len(segments) >= 2
    clients.get(remote.origo.url(f"proxy/{manifest}/{segments[0]}"))  # warm (revalidates if the TTL ran out)
    mark = remote.storage.mark()
    r = clients.get(remote.origo.url(f"proxy/{manifest}/{segments[1]}"))
    assert r.status == 200, r.body[:300]
    reads = remote.storage.since(mark)
    assert all(line["range"].startswith("bytes=") and line["status"] == "206" for line in reads), reads
    return reads


def test_warm_segment_costs_one_ranged_read_per_track(remote):
    # abr.ism's TS variants carry video only (audio is an alternate rendition): one track, one read.
    reads = _warm_reads(remote, "abr.ism", _ts_segments(remote.origo, "abr.ism"))
    assert len(reads) == 1, reads
    # An audio rendition of abr.ism lives in its own file: one read.
    master = clients.get(remote.origo.url("proxy/abr.ism/.m3u8")).body.decode()
    audio = re.search(r'TYPE=AUDIO[^\n]*URI="([^"]+)"', master).group(1)
    playlist = clients.get(remote.origo.url(f"proxy/abr.ism/{audio}")).body.decode()
    segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    assert len(_warm_reads(remote, "abr.ism", segments)) == 1
    # Video and audio muxed from one interleaved file: both tracks' samples in one coalesced read.
    reads = _warm_reads(remote, "faststart.mp4", _ts_segments(remote.origo, "faststart.mp4"))
    assert len(reads) == 1, reads
    # DASH: one track per segment, one read.
    mpd = clients.get(remote.origo.url("proxy/faststart.mp4/.mpd?mpd.segment_template=number")).body.decode()
    template = re.search(r'media="([^"]+)"', mpd).group(1)
    rep = re.search(r'<Representation[^>]*id="([^"]+)"', mpd).group(1)
    name = template.replace("$RepresentationID$", rep)
    numbered = [name.replace("$Number$", str(n)) for n in (1, 2)]
    assert len(_warm_reads(remote, "faststart.mp4", numbered)) == 1
    # Nothing but media ranges: the manifest and indexes came from the cache.
    assert not any(line["path"].endswith(".ism") for line in reads)


def _time_wait(port: int) -> int:
    out = subprocess.run(["ss", "-Htan", "state", "time-wait", f"( dport = :{port} or sport = :{port} )"],
                         capture_output=True, text=True).stdout
    return len([line for line in out.splitlines() if line.strip()])


@reads(("apache", "proxy"), ("apache", "builtin"), ("nginx", "pooled"))
def test_time_wait_flat_and_connections_reused(remote, prefix):
    """Subrequests through mod_proxy (UspEnableSubreq on), Apache's built-in client (off) and
    nginx's upstream block with `keepalive` all reuse their upstream connections."""
    storage, origo = remote.storage, remote.origo
    ts = _ts_segments(origo, "abr.ism", prefix)
    before = _time_wait(storage.port)
    mark = storage.mark()

    def client(worker: int) -> list[int]:
        # 8 client connections, 250 segment requests each: 2,000 in all.
        conn = http.client.HTTPConnection("127.0.0.1", origo.port, timeout=30)
        statuses = []
        for i in range(250):
            conn.request("GET", f"/{prefix}/abr.ism/{ts[(worker * 250 + i) % len(ts)]}")
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
        conn.close()
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for batch in pool.map(client, range(8)) for s in batch]
    assert statuses == [200] * 2000
    after = _time_wait(storage.port)
    reads = storage.since(mark)
    ports = {line["port"] for line in reads}
    assert len(reads) >= 2000
    assert after - before < 20, f"TIME_WAIT towards the storage grew from {before} to {after}"
    assert len(ports) <= 25, f"{len(reads)} upstream reads used {len(ports)} connections"
    print(f"{len(reads)} upstream reads over {len(ports)} connections; TIME_WAIT {before} -> {after}")
