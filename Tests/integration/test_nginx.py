"""What only the nginx module (ngx_glue/, issue #16) has: the session's nginx (conftest `nginx`)
answers byte for byte what its Apache answers (status, body, type, ETag, Last-Modified); many
requests at once and clients that leave while the engine works on the thread pool; the directives
of its own (index limits, cache size, thread pool, answers on the event loop) and the
configurations `nginx -t` refuses (S3 settings); graceful reload under load; `ism_proxy_pass` to
the same nginx (also while 64 other clients fetch segments), its event loop staying free while
storage drips, and loops cut short.

What both servers do (playout, remote storage, hostile input, HTTP) is tested once for both: the
modules marked `servers("apache", "nginx")` and the remote-storage suites, parametrized by server.
After every test nginx's error log is scanned for workers that died (`exited on signal`).

Needs out/modules/ngx_http_origo_module.so (./ngx-build.sh) next to libOrigoEngine.so."""

from __future__ import annotations

import http.server
import os
import re
import socket
import struct
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import pytest

import clients
import playlists as pl
from conftest import NGINX_LAUNCHER, REPO, Server, _free_port
from test_decode import ABR_RENDITIONS, FORMATS, check_decode, expected_audio_frames

ABR_AUDIO = ["audio-eng.mp4", "audio-fra.mp4"]


def start_nginx(root: str, *extra: str) -> tuple[subprocess.CompletedProcess, Server]:
    port = _free_port()
    listen = f"127.0.0.1:{port}"
    proc = subprocess.run([str(NGINX_LAUNCHER), "start", "--root", root, "--listen", listen, *extra],
                          capture_output=True, text=True, timeout=120)
    return proc, Server(f"http://{listen}", root, listen, f"/tmp/origo-nginx/{port}/logs/error.log", "nginx")


def stop_nginx(srv: Server) -> subprocess.CompletedProcess:
    return subprocess.run([str(NGINX_LAUNCHER), "stop", "--listen", srv.listen],
                          capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------------------------- same bytes as Apache

def presentation_urls(base_url) -> list[str]:
    """Paths (relative to the server) of the manifests and a spread of segments of abr.ism in
    every format, found by reading the manifests (on whichever server `base_url` makes URLs for)."""
    paths: list[str] = []
    root = base_url("")

    def rel(url: str) -> str:
        assert url.startswith(root), url
        return url[len(root):]

    for master in ["abr.ism/.m3u8", "abr.ism/.m3u8?hls.fmp4=true"]:
        paths.append(master)
        _, children = pl.master_children(base_url(master))
        for child in children:
            paths.append(rel(child))
            segments = pl.media_playlist(child).segment_urls
            paths += [rel(u) for u in {segments[0], segments[len(segments) // 2], segments[-1]}]
            media_pl = pl.hls(child)
            paths += [rel(pl.absolute(child, s.init_section.uri)) for s in media_pl.segments[:1] if s.init_section]
    for mpd in ["abr.ism/.mpd", "abr.ism/.mpd?mpd.segment_template=number"]:
        paths.append(mpd)
        _, reps = pl.dash(base_url(mpd))
        for rep in reps:
            init, media = pl.dash_segment_urls(base_url(mpd), rep)
            paths += [rel(init), rel(media[0]), rel(media[-1])]
    paths.append("abr.ism/Manifest")
    smooth = ET.fromstring(clients.get(base_url("abr.ism/Manifest")).body)
    for stream in smooth.findall("StreamIndex"):
        t = int(stream.find("c").get("t", 0))
        for quality in stream.findall("QualityLevel"):
            template = stream.get("Url").replace("{bitrate}", quality.get("Bitrate"))
            paths.append("abr.ism/" + template.replace("{start time}", str(t)))
    paths += ["abr.ism/.f4m", "faststart.mp4/.m3u8", "faststart.mp4/.mpd", "cmaf.mp4/.m3u8"]
    return list(dict.fromkeys(paths))


def test_responses_are_byte_identical_to_apache(server, nginx):
    paths = presentation_urls(server.url)
    assert len(paths) > 40, paths
    for path in paths:
        a, n = clients.get(server.url(path)), clients.get(nginx.url(path))
        assert a.status == 200, f"Apache {path} -> {a.status}"
        assert n.status == a.status, f"{path}: nginx {n.status}, Apache {a.status}"
        assert n.body == a.body, f"{path}: bodies differ ({len(n.body)} vs {len(a.body)} bytes)"
        for h in ("content-type", "etag", "last-modified", "content-length"):
            assert n.header(h) == a.header(h), f"{path}: {h} nginx {n.header(h)!r}, Apache {a.header(h)!r}"


def test_answers_on_the_loop_equal_answers_from_the_pool(media):
    """`origo_answer_on_loop` (on by default) lets the engine answer on the event loop what it
    holds in memory; off, every request goes through the thread pool. Every URL of the
    presentation answers the same either way, cold and warm; a server manifest changed on disk is
    noticed on the loop (its stat) and read on the pool."""
    with tempfile.TemporaryDirectory(prefix="origo-ngx-site-", dir="/tmp") as d:
        www = os.path.join(d, "www")
        os.makedirs(www)
        for name in os.listdir(media.root):
            if name.endswith(".mp4"):
                os.symlink(os.path.join(media.root, name), os.path.join(www, name))
        with open(os.path.join(media.root, "abr.ism")) as f:
            ism = f.read()
        with open(os.path.join(www, "x.ism"), "w") as f:
            f.write(ism)
        os.chmod(www, 0o755)
        os.chmod(os.path.join(www, "x.ism"), 0o644)
        inc = site(d, "site.conf", f'location /pool/ {{ alias "{media.root}/"; usp_handle_ism; '
                                   'origo_answer_on_loop off; }\n'
                                   f'location /changing/ {{ alias "{www}/"; usp_handle_ism; }}\n')
        proc, srv = start_nginx(media.root, "--include", inc, "--workers", "1")
        try:
            assert proc.returncode == 0, proc.stdout + proc.stderr
            paths = presentation_urls(srv.url)
            for _ in range(2):
                for path in paths:
                    loop, pool = clients.get(srv.url(path)), clients.get(srv.url("pool/" + path))
                    assert loop.status == pool.status == 200, f"{path}: {loop.status} / {pool.status}"
                    assert loop.body == pool.body, path
                    for h in ("content-type", "etag", "last-modified", "content-length"):
                        assert loop.header(h) == pool.header(h), f"{path}: {h}"

            before = clients.get(srv.url("changing/x.ism/.mpd"))
            assert before.status == 200 and clients.get(srv.url("changing/x.ism/.mpd")).body == before.body
            stat = os.stat(os.path.join(www, "x.ism"))
            with open(os.path.join(www, "x.ism"), "w") as f:
                f.write(ism.replace('systemBitrate="1200000"', 'systemBitrate="1300000"'))
            os.utime(os.path.join(www, "x.ism"), (stat.st_atime, stat.st_mtime + 2))
            after = clients.get(srv.url("changing/x.ism/.mpd"))
            assert after.status == 200 and after.header("etag") != before.header("etag")
            assert b'video=1300000' in after.body and b'video=1200000' not in after.body
        finally:
            stop_nginx(srv)
        assert not srv.crash_lines()


# ------------------------------------------------------------------------------- live ingest

@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_live_ingest_is_501_with_a_log_line(nginx, method):
    """Live ingest is Apache's for now (issue #17): nginx says so instead of 405."""
    start = nginx.log_size()
    resp = clients.request(method, nginx.url("channel1.isml/Streams(video1)"), body=b"\x00\x00\x00\x08free")
    assert resp.status == 501
    assert "live ingest is not supported by the nginx module yet" in nginx.log_since(start)
    assert clients.request(method, nginx.url("abr.ism/Streams(video1)"), body=b"x").status == 405


# ------------------------------------------------------------------------------- the thread pool

def test_concurrent_requests(nginx):
    """Many requests at once through the thread pool: every one answered, every answer whole."""
    paths = ["abr.ism/.m3u8", "abr.ism/.mpd", "abr.ism/abr-video=600000-3.ts",
             "abr.ism/abr-video=1200000-n2.dash", "abr.ism/abr-video=999-1.ts", "missing.ism/.mpd"]
    expected = {p: clients.get(nginx.url(p)) for p in paths}
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(lambda i: (paths[i % len(paths)], clients.get(nginx.url(paths[i % len(paths)]))),
                                range(240)))
    for path, resp in results:
        assert resp.status == expected[path].status and resp.body == expected[path].body, path


def test_clients_that_leave_while_the_engine_works(nginx):
    """Clients that close (or reset) right after sending, while their request is on the thread
    pool: nginx notices when it writes the answer, nothing is left behind, the worker stays up
    and the next requests are answered."""
    host, port = nginx.listen.split(":")
    start = nginx.log_size()
    for i in range(60):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # RST
            path = f"/abr.ism/abr-video={[300000, 600000, 1200000][i % 3]}-{1 + i % 4}.ts"
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {nginx.listen}\r\n\r\n".encode())
    for path in ["abr.ism/.m3u8", "abr.ism/abr-video=600000-1.ts"]:
        assert clients.get(nginx.url(path)).status == 200
    log = nginx.log_since(start, settle=0.5)
    assert "left in connection" not in log and "[alert]" not in log, log[-2000:]


# ------------------------------------------------------------------------------------ directives

def site(directory: str, name: str, text: str) -> str:
    """A configuration file the (www-data) workers and the master can read."""
    os.chmod(directory, 0o755)
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def test_index_limits_and_cache_size(media):
    """origo_max_index_size per location (as OrigoMaxIndexSize: faststart's 8.5 KB moov is over 4K)
    and origo_index_cache_size for the http block."""
    with tempfile.TemporaryDirectory(prefix="origo-ngx-site-", dir="/tmp") as d:
        server_inc = site(d, "site.conf", f'location /small/ {{ alias "{media.root}/"; usp_handle_ism; '
                                          f'origo_max_index_size 4k; }}\n')
        http_inc = site(d, "http.conf", "origo_index_cache_size 64m;\n")
        proc, srv = start_nginx(media.root, "--workers", "1", "--include", server_inc, "--http-include", http_inc)
        try:
            assert proc.returncode == 0, proc.stdout + proc.stderr
            start = srv.log_size()
            assert clients.get(srv.url("small/faststart.mp4/.m3u8")).status == 500
            lines = [line for line in srv.log_since(start).splitlines() if "faststart.mp4" in line]
            assert len(lines) == 1 and "index limit exceeded" in lines[0] and "4096 bytes" in lines[0], lines
            assert clients.get(srv.url("small/audio-eng.mp4/.m3u8")).status == 200
            assert clients.get(srv.url("faststart.mp4/.m3u8")).status == 200
        finally:
            stop_nginx(srv)
        assert not srv.crash_lines()


@pytest.mark.parametrize("text,message", [
    ("origo_index_cache_size 12Q;", "invalid value"),
    ("origo_thread_pool nosuchpool;", 'unknown thread pool "nosuchpool"'),
])
def test_bad_directives_fail_the_config_test(media, text, message):
    with tempfile.TemporaryDirectory(prefix="origo-ngx-site-", dir="/tmp") as d:
        proc, srv = start_nginx(media.root, "--http-include", site(d, "http.conf", text + "\n"))
        stop_nginx(srv)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_vhost_example_basic_conf(media):
    """vhost-examples/nginx/basic.conf as users copy it, with only its port, root and logs filled
    in: HLS and DASH under /vod/ decode whole, a plain MP4 downloads, the .ism itself is denied."""
    text = (REPO / "vhost-examples" / "nginx" / "basic.conf").read_text()
    with tempfile.TemporaryDirectory(prefix="origo-ngx-site-", dir="/tmp") as d:
        port = _free_port()
        filled = (text.replace("listen 80;", f"listen 127.0.0.1:{port};").replace("/var/www/origo", f"{d}/www")
                  .replace("/var/log/nginx", d))
        assert f"{d}/www" in filled and f":{port};" in filled, "basic.conf no longer has the expected layout"
        os.makedirs(os.path.join(d, "www"))
        os.symlink(media.root, os.path.join(d, "www", "vod"))
        os.chmod(os.path.join(d, "www"), 0o755)
        proc, srv = start_nginx(media.root, "--http-include", site(d, "basic.conf", filled))
        base = f"http://127.0.0.1:{port}"
        try:
            assert proc.returncode == 0, proc.stdout + proc.stderr
            hls = clients.ffmpeg_decode(f"{base}/vod/abr.ism/.m3u8")
            assert hls.errors == [] and hls.video_frames == [media.frames("abr-640x360.mp4")] * 3, hls.summary()
            check_decode(f"{base}/vod/ntsc.mp4/.mpd", media.frames("ntsc.mp4"), 1,
                         expected_audio_frames(media, ["ntsc.mp4"]))
            with open(os.path.join(media.root, "faststart.mp4"), "rb") as f:
                assert clients.get(f"{base}/vod/faststart.mp4").body == f.read()
            assert clients.get(f"{base}/vod/abr.ism").status == 403
        finally:
            stop_nginx(srv)
        assert not srv.crash_lines()


# ------------------------------------------------------------------- configurations nginx -t refuses

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize("directives,message", [
    (f"s3_secret_key {SECRET};", "s3_access_key and s3_secret_key go together"),
    ("s3_access_key AKIDEXAMPLE;", "s3_access_key and s3_secret_key go together"),
    (f"s3_access_key AKID/EXAMPLE; s3_secret_key {SECRET};", "is not an access key id"),
    (f"s3_access_key AKIDEXAMPLE; s3_secret_key {SECRET}; s3_region EU_West;", "is not a region name"),
    (f"s3_access_key AKIDEXAMPLE; s3_secret_key {SECRET}; s3_secret_key {SECRET}x;", "is duplicate"),
])
def test_bad_s3_settings_fail_the_config_test(media, directives, message):
    """Refused at start with the reason, never with the secret in the message."""
    with tempfile.TemporaryDirectory(prefix="origo-ngx-site-", dir="/tmp") as d:
        inc = site(d, "site.conf", f"location /s3/ {{ ism_proxy_pass http://127.0.0.1:9/media/; {directives} }}\n")
        proc, srv = start_nginx(media.root, "--include", inc)
        stop_nginx(srv)
        assert proc.returncode != 0
        assert message in proc.stderr, proc.stderr
        assert SECRET not in proc.stdout + proc.stderr


# ------------------------------------------------------------------------------- graceful reload

def test_graceful_reload_under_load(media):
    """`nginx -s reload` while segments are requested: new workers start the engine, old ones
    finish what they took (a request waiting on the thread pool keeps its worker alive: without
    the module's guard timer an exiting worker logged 'open socket … left in connection' and
    dropped it). Every answer that arrives is whole."""
    proc, srv = start_nginx(media.root, "--workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    try:
        paths = ["abr.ism/abr-video=1200000-3.ts", "abr.ism/.mpd", "abr.ism/abr-video=600000-n2.dash"]
        expected = {p: clients.get(srv.url(p)).body for p in paths}
        stop = False

        def load(i: int) -> list[str]:
            bad = []
            n = 0
            while not stop:
                path = paths[(i + n) % len(paths)]
                n += 1
                try:
                    resp = clients.get(srv.url(path))
                except (ConnectionError, OSError):
                    continue            # a connection closed by an exiting worker, as for static files
                if resp.status != 200 or resp.body != expected[path]:
                    bad.append(f"{path}: {resp.status}, {len(resp.body)} bytes")
            return bad

        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(load, i) for i in range(8)]
            for _ in range(4):
                time.sleep(0.7)
                r = subprocess.run([str(NGINX_LAUNCHER), "reload", "--listen", srv.listen],
                                   capture_output=True, text=True, timeout=60)
                assert r.returncode == 0, r.stdout + r.stderr
            time.sleep(1.5)
            stop = True
            bad = [b for f in futures for b in f.result()]
        assert not bad, bad[:10]
        log = srv.log_since(0)
        assert "left in connection" not in log and "aborting" not in log, log[-2000:]
        assert clients.get(srv.url("abr.ism/.m3u8")).status == 200
    finally:
        stop_nginx(srv)
    assert not srv.crash_lines()


def test_remote_sources_in_a_local_manifest_are_501(media):
    """Sources that are URLs need upstream reads, which the nginx module has not got yet: the
    engine's own 501 with its log line (as on Apache without IsmProxyPass)."""
    with open(os.path.join(media.root, "abr.ism")) as f:
        remote = re.sub(r'src="([^"]+)"', r'src="http://127.0.0.1:9/\1"', f.read())
    with tempfile.TemporaryDirectory(prefix="origo-ngx-root-", dir="/tmp") as d:
        site(d, "remote.ism", remote)
        proc, srv = start_nginx(d)
        try:
            assert proc.returncode == 0, proc.stdout + proc.stderr
            start = srv.log_size()
            assert clients.get(srv.url("remote.ism/.m3u8")).status == 501
            assert "remote source without IsmProxyPass" in srv.log_since(start)
        finally:
            stop_nginx(srv)
        assert not srv.crash_lines()


# --------------------------------------------------------------------------------- ism_proxy_pass

class Dripper(http.server.BaseHTTPRequestHandler):
    """A storage that misbehaves slowly: /drip/... sends a header and then one byte a second,
    /hang/... accepts the request and never answers."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        kind = self.path.lstrip("/").split("/")[0]
        try:
            if kind == "drip":
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                for _ in range(60):
                    self.wfile.write(b"<")
                    self.wfile.flush()
                    time.sleep(1)
            else:
                time.sleep(60)
        except OSError:
            pass

    def log_message(self, *args):
        pass


def upstream_location(read_timeout: str = "10s") -> str:
    return ("location = /origo-upstream {\n    internal;\n    proxy_pass $origo_upstream_url;\n"
            "    proxy_http_version 1.1;\n    proxy_set_header Connection \"\";\n"
            "    proxy_max_temp_file_size 0;\n"
            f"    proxy_read_timeout {read_timeout};\n}}\n")


@pytest.fixture(scope="module")
def proxied(media):
    """nginx with ism_proxy_pass locations over a storage Apache (test_remote.Storage), a dripping
    storage and itself; and an Apache with IsmProxyPass over the same storage, to compare answers
    with."""
    from test_remote import Origo, Storage, Threaded
    from conftest import ONE_CHILD

    storage = Storage(media.root)
    drip = Threaded(Dripper)
    port = _free_port()
    listen = f"127.0.0.1:{port}"
    d = tempfile.mkdtemp(prefix="origo-ngx-proxy-", dir="/tmp")
    inc = site(d, "proxy.conf", f"""
location /proxy/ {{ ism_proxy_pass http://127.0.0.1:{storage.port}/; }}
location /drip/ {{ ism_proxy_pass http://127.0.0.1:{drip.port}/drip/; origo_upstream_timeout 2s; }}
location /hang/ {{ ism_proxy_pass http://127.0.0.1:{drip.port}/hang/; origo_upstream_timeout 2s; }}
location /self/ {{ ism_proxy_pass http://127.0.0.1:{port}/; }}
location /loop/ {{ ism_proxy_pass http://127.0.0.1:{port}/loop/abr.ism/; }}
""" + upstream_location())
    proc = subprocess.run([str(NGINX_LAUNCHER), "start", "--root", media.root, "--listen", listen, "--include", inc],
                          capture_output=True, text=True, timeout=120)
    srv = Server(f"http://{listen}", media.root, listen, f"/tmp/origo-nginx/{port}/logs/error.log", "nginx")
    apache_root = tempfile.mkdtemp(prefix="origo-ngx-apache-", dir="/tmp")
    os.chmod(apache_root, 0o755)
    apache_inc = site(apache_root, "remote.conf", ONE_CHILD + f"""<Location "/proxy">
  IsmProxyPass "http://127.0.0.1:{storage.port}/"
</Location>
""")
    apache = None
    try:
        if proc.returncode != 0:
            pytest.fail(f"origo-nginx start failed:\n{proc.stdout}\n{proc.stderr}")
        apache = Origo(apache_inc, apache_root)
        yield type("Proxied", (), {"nginx": srv, "apache": apache, "storage": storage, "port": port})
    finally:
        stop_nginx(srv)
        if apache is not None:
            apache.stop()
        storage.stop()
        drip.stop()
    assert not srv.crash_lines(settle=0), "nginx workers died"


def _proxy_urls(base) -> list[str]:
    """Manifests of every format and the first segments of the first HLS variant."""
    urls = [f"proxy/abr.ism/{FORMATS[f]}" for f in FORMATS] + ["proxy/abr.ism/Manifest", "proxy/faststart.mp4/.m3u8"]
    master = clients.get(base("proxy/abr.ism/.m3u8")).body.decode()
    variant = next(line for line in master.splitlines() if line and not line.startswith("#"))
    urls.append(f"proxy/abr.ism/{variant}")
    playlist = clients.get(base(f"proxy/abr.ism/{variant}")).body.decode()
    urls += [f"proxy/abr.ism/{s}" for s in [l for l in playlist.splitlines() if l and not l.startswith("#")][:3]]
    return urls


def test_proxy_answers_equal_apache(proxied):
    urls = _proxy_urls(proxied.nginx.url)
    for path in urls:
        a = clients.get(proxied.apache.url(path))
        n = clients.get(proxied.nginx.url(path))
        assert (n.status, n.header("content-type")) == (a.status, a.header("content-type")), path
        assert n.body == a.body, path
        for h in ("etag", "last-modified"):
            assert n.header(h) == a.header(h), (path, h)


def test_proxy_clients_that_leave_during_a_read(proxied):
    """Clients that hang up while their read waits on a hanging storage: nothing crashes, the
    worker keeps answering."""
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", proxied.port)) as s:
            s.sendall(b"GET /hang/x.ism/.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)
    time.sleep(2.5)
    assert clients.get(proxied.nginx.url("proxy/abr.ism/.m3u8")).status == 200
    assert not proxied.nginx.crash_lines()


@pytest.mark.parametrize("kind", ["drip", "hang"])
def test_proxy_slow_storage_ends_with_504_and_nginx_stays_responsive(proxied, kind):
    with ThreadPoolExecutor(4) as pool:
        started = time.monotonic()
        slow = pool.submit(clients.get, proxied.nginx.url(f"{kind}/x.ism/.m3u8"), timeout=30)
        time.sleep(0.3)
        # The worker's event loop is free meanwhile: local and proxied answers come at once.
        for _ in range(5):
            t = time.monotonic()
            assert clients.get(proxied.nginx.url("abr.ism/.m3u8")).status == 200
            assert clients.get(proxied.nginx.url("proxy/abr.ism/.mpd")).status == 200
            assert time.monotonic() - t < 1
        r = slow.result()
        assert r.status == 504, r.status
        assert time.monotonic() - started < 6


def test_proxy_to_the_same_nginx_serves_its_static_files(proxied, media):
    frames = {media.frames(r) for r in ABR_RENDITIONS}
    check_decode(proxied.nginx.url("self/abr.ism/.m3u8"), frames.pop(), len(ABR_RENDITIONS),
                 expected_audio_frames(media, ABR_AUDIO))
    assert clients.get(proxied.nginx.url("self/abr.ism/.mpd")).body == clients.get(proxied.nginx.url("abr.ism/.mpd")).body


def test_proxy_loop_ends_with_508(proxied):
    start = proxied.nginx.log_size()
    t = time.monotonic()
    r = clients.get(proxied.nginx.url("loop/abr.ism/.m3u8"))
    # The inner hop refuses with 508; the outer hops make a 502 of their upstream's 508.
    assert r.status in (508, 502), r.status
    assert time.monotonic() - t < 5
    assert "ORIGO10009" in proxied.nginx.log_since(start)
    # A request that already passed twice is refused at once.
    r = clients.get(proxied.nginx.url("proxy/abr.ism/.m3u8"), headers={"CDN-Loop": "origo, origo"})
    assert r.status == 508


def test_proxy_to_the_same_nginx_under_64_clients(proxied):
    """Issue #16: ism_proxy_pass to the same nginx serves a stream while 64 other clients request
    segments, no request slower than 1 s."""
    master = clients.get(proxied.nginx.url("self/abr.ism/.m3u8")).body.decode()
    variant = next(line for line in master.splitlines() if line and not line.startswith("#"))
    playlist = clients.get(proxied.nginx.url(f"self/abr.ism/{variant}")).body.decode()
    segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]

    def client(i: int) -> list[tuple[str, int, float]]:
        out = []
        for k in range(4):
            path = ("self/abr.ism/" if i == 0 or k % 2 else "abr.ism/") + segments[(i + k) % len(segments)]
            t = time.monotonic()
            r = clients.get(proxied.nginx.url(path))
            out.append((path, r.status, time.monotonic() - t))
        return out

    with ThreadPoolExecutor(65) as pool:
        results = [x for xs in pool.map(client, range(65)) for x in xs]
    assert all(status == 200 for _, status, _ in results), [r for r in results if r[1] != 200][:5]
    slowest = max(results, key=lambda r: r[2])
    assert slowest[2] < 1, slowest
