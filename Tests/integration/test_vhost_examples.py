"""The configuration examples in vhost-examples/ as users copy them: basic.conf (a VirtualHost with
the site under /vod/), cache-and-cors.conf (CORS and caching lifetimes) and s3-https.conf (a private
bucket over https: moto behind a TLS proxy with a test CA), each run in a private Apache with only
its paths, addresses and credentials filled in; nginx/s3-https.conf the same in a private nginx.
(cache-origin.conf, cache-storage.conf and nginx/storage-cache.conf are run by test_index.py,
nginx/basic.conf by test_nginx.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

import clients
from conftest import REPO, PrivateServer, _free_port
from test_remote import Storage
from testca import TestCA


@pytest.fixture(scope="module")
def basic(media):
    """basic.conf with /var/www/origo → a directory whose vod/ is the test media, *:80 → a free
    loopback port, the log directory → the site's directory."""
    text = open(REPO / "vhost-examples" / "basic.conf").read()
    text = (text.replace("/var/www/origo", "@DIR@/www").replace("*:80", "@LISTEN@")
            .replace("${APACHE_LOG_DIR}", "@DIR@").replace("/var/cache/origo/", "@DIR@/"))
    assert "@DIR@/www/vod" in text and "@LISTEN@" in text and "@DIR@/index-store" in text, "basic.conf no longer has the expected layout"
    site = PrivateServer(media.root, text)
    os.makedirs(os.path.join(site.dir, "www"))
    os.symlink(media.root, os.path.join(site.dir, "www", "vod"))
    yield site
    crashes = site.stop()
    assert not crashes, "\n".join(crashes[:20])


def test_basic_conf_serves_hls_and_dash_under_vod(basic, media):
    hls = clients.ffmpeg_decode(basic.url("vod/abr.ism/.m3u8"))
    assert hls.errors == [] and hls.video_frames == [media.frames("abr-640x360.mp4")] * 3, hls.summary()
    dash = clients.ffmpeg_decode(basic.url("vod/ntsc.mp4/.mpd"))
    assert dash.errors == [] and dash.video_frames == [media.frames("ntsc.mp4")], dash.summary()


def test_basic_conf_leaves_plain_files_to_apache(basic, media):
    r = clients.get(basic.url("vod/abr-640x360.mp4"))
    assert r.status == 200
    assert r.body == open(os.path.join(media.root, "abr-640x360.mp4"), "rb").read()
    # A manifest path outside /vod/ is not the engine's.
    assert clients.get(basic.url("abr.ism/.m3u8")).status == 404


@pytest.fixture(scope="module")
def cors(media):
    site = PrivateServer(media.root, f'Include "{REPO}/vhost-examples/cache-and-cors.conf"\n')
    yield site
    crashes = site.stop()
    assert not crashes, "\n".join(crashes[:20])


@pytest.mark.parametrize("path, lifetime", [
    ("abr.ism/.m3u8", "public, max-age=10"),
    ("abr.ism/.mpd", "public, max-age=10"),
    ("abr.ism/abr-video=300000.m3u8", "public, max-age=10"),
    ("abr.ism/abr-video=300000-1.ts", "public, max-age=31536000, immutable"),
    ("abr-fmp4.ism/(init segment)", None),
])
def test_cache_and_cors_conf_sets_cors_and_lifetimes(cors, path, lifetime):
    if lifetime is None:
        # An fMP4 init segment named by its own playlist: whatever the engine names it, immutable.
        media_playlist = clients.get(cors.url("abr-fmp4.ism/abr-fmp4-video=300000.m3u8")).body
        init = next(part.split('URI="')[1].split('"')[0] for part in media_playlist.decode().splitlines()
                    if part.startswith("#EXT-X-MAP"))
        path, lifetime = f"abr-fmp4.ism/{init}", "public, max-age=31536000, immutable"
    r = clients.get(cors.url(path))
    assert r.status == 200, path
    assert r.header("access-control-allow-origin") == "*", r.headers
    assert "range" in (r.header("access-control-expose-headers") or "").lower(), r.headers
    assert r.header("cache-control") == lifetime, (path, r.headers)


@pytest.fixture(scope="module")
def private_bucket(media):
    """moto (test_s3.py) behind a TLS reverse proxy whose certificate a test CA signed: an S3
    endpoint at https://127.0.0.1:<port>/ with the test media in the private bucket `media`."""
    pytest.importorskip("boto3")
    from test_s3 import Moto  # here, not at the top: without boto3 only these tests are skipped
    directory = tempfile.mkdtemp(prefix="origo-s3-https-", dir="/tmp")
    ca = TestCA(directory)
    moto = Moto(media.root)
    front = Storage(None, tls=ca.issue("s3"), backend=moto.endpoint)
    yield type("Bucket", (), {"moto": moto, "front": front, "ca": ca})
    front.stop()
    moto.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module", params=["on", "off"])
def s3_https(request, media, private_bucket):
    """s3-https.conf with the bucket URL, credentials, region and CA file replaced by the test's,
    *:80 by a free loopback port; UspEnableSubreq as the example has it (on) and off."""
    from test_s3 import REGION
    b = private_bucket
    text = open(REPO / "vhost-examples" / "s3-https.conf").read()
    placeholders = {
        "https://my-bucket.s3.eu-central-1.amazonaws.com/": b.front.url("media/"),
        "AKIAIOSFODNN7EXAMPLE": b.moto.key,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": b.moto.secret,
        "S3Region eu-central-1": f"S3Region {REGION}",
        "/etc/ssl/certs/ca-certificates.crt": b.ca.cert,
        "*:80": "@LISTEN@",
        "UspEnableSubreq on": f"UspEnableSubreq {request.param}",
        "/var/cache/origo/": "@DIR@/",
    }
    for placeholder, value in placeholders.items():
        assert placeholder in text, f"s3-https.conf no longer has {placeholder!r}"
        text = text.replace(placeholder, value)
    site = PrivateServer(media.root, text)
    yield site
    crashes = site.stop()
    assert not crashes, "\n".join(crashes[:20])


@pytest.fixture(scope="module")
def s3_https_nginx(media, private_bucket):
    """vhost-examples/nginx/s3-https.conf with the bucket's host → localhost (a name the test
    certificate holds; the upstream block keeps it the Host header), its server → the TLS front,
    credentials, region and CA file → the test's, port 80 → a free loopback port."""
    from test_nginx import start_nginx, stop_nginx
    from test_s3 import REGION
    b = private_bucket
    port = _free_port()
    text = (REPO / "vhost-examples" / "nginx" / "s3-https.conf").read_text()
    placeholders = {
        "server my-bucket.s3.eu-central-1.amazonaws.com:443;": f"server 127.0.0.1:{b.front.port};",
        "my-bucket.s3.eu-central-1.amazonaws.com": "localhost",
        "https://localhost/": "https://localhost/media/",
        "AKIAIOSFODNN7EXAMPLE": b.moto.key,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": b.moto.secret,
        "s3_region eu-central-1;": f"s3_region {REGION};",
        "/etc/ssl/certs/ca-certificates.crt": b.ca.cert,
        "listen 80;": f"listen 127.0.0.1:{port};",
    }
    for placeholder, value in placeholders.items():
        assert placeholder in text, f"nginx/s3-https.conf no longer has {placeholder!r}"
        text = text.replace(placeholder, value)
    directory = tempfile.mkdtemp(prefix="origo-ngx-s3-https-", dir="/tmp")
    os.chmod(directory, 0o755)
    include = os.path.join(directory, "s3-https.conf")
    with open(include, "w") as f:
        f.write(text)
    os.chmod(include, 0o644)
    proc, srv = start_nginx(media.root, "--http-include", include)
    try:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield type("Site", (), {"url": staticmethod(lambda path: f"http://127.0.0.1:{port}/{path.lstrip('/')}")})
    finally:
        stop_nginx(srv)
        shutil.rmtree(directory, ignore_errors=True)
    crashes = srv.crash_lines()
    assert not crashes, "\n".join(crashes[:20])
    assert b.moto.secret not in srv.log_since(0, settle=0), "the secret reached nginx's error log"


def test_s3_https_conf_plays_from_the_private_bucket(s3_https, private_bucket, media):
    plays_from_the_private_bucket(s3_https, private_bucket, media)


def test_nginx_s3_https_conf_plays_from_the_private_bucket(s3_https_nginx, private_bucket, media):
    plays_from_the_private_bucket(s3_https_nginx, private_bucket, media)


def plays_from_the_private_bucket(s3_https, private_bucket, media):
    mark = private_bucket.front.mark()
    hls = clients.ffmpeg_decode(s3_https.url("vod/abr.ism/.m3u8"))
    assert hls.errors == [] and hls.video_frames == [media.frames("abr-640x360.mp4")] * 3, hls.summary()
    dash = clients.ffmpeg_decode(s3_https.url("vod/moov-at-end.mp4/.mpd"))
    assert dash.errors == [] and dash.video_frames == [media.frames("moov-at-end.mp4")], dash.summary()
    assert private_bucket.front.since(mark), "nothing was read through the https endpoint"
    # The bucket itself stays private.
    assert clients.get(f"{private_bucket.moto.endpoint}/media/abr.ism").status == 403


def test_basic_conf_keeps_one_index_store_for_the_host(basic, media):
    # The store directory the example names (here in the site's directory) fills as titles load.
    assert clients.get(basic.url("vod/abr.ism/.mpd")).status == 200
    store = os.path.join(basic.dir, "index-store")
    assert any(name.endswith(".oix") for name in os.listdir(store)), os.listdir(store)


@pytest.fixture(scope="module")
def live():
    """live.conf with /var/www/origo → a directory whose live/ Apache's children may write, *:80 →
    a free loopback port, the log directory → the site's directory."""
    text = (REPO / "vhost-examples" / "live.conf").read_text()
    text = (text.replace("/var/www/origo", "@DIR@/www").replace("*:80", "@LISTEN@")
            .replace("${APACHE_LOG_DIR}", "@DIR@"))
    assert "@DIR@/www/live" in text and "LimitRequestBody 0" in text and "RequestReadTimeout" in text
    root = tempfile.mkdtemp(prefix="origo-live-example-", dir="/tmp")
    os.chmod(root, 0o755)
    site = PrivateServer(root, text)
    os.makedirs(os.path.join(site.dir, "www", "live"))
    os.chmod(os.path.join(site.dir, "www"), 0o755)
    os.chmod(os.path.join(site.dir, "www", "live"), 0o777)
    yield site
    crashes = site.stop()
    shutil.rmtree(root, ignore_errors=True)
    assert not crashes, "\n".join(crashes[:20])


def test_live_conf_takes_a_push_and_plays_it(live):
    """ffmpeg pushes 8 s of a channel through the example's settings (no body limit, a read
    timeout that grows with the bytes received); live HLS plays every frame of it."""
    from test_live_ingest import push_command
    push = subprocess.run(push_command({"smooth": live.url("live/ch.isml/Streams(ch)")}, cmaf=False, seconds=8),
                          capture_output=True, timeout=60)
    assert push.returncode == 0, push.stderr.decode()
    stored = os.path.join(live.dir, "www", "live", "ch.live", "ch", "1.index")
    assert os.path.getsize(stored) == 4 * 48
    played = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-live_start_index", "0",
                             "-m3u8_hold_counters", "2", "-i", live.url("live/ch.isml/.m3u8"), "-map", "0:v:0",
                             "-f", "framemd5", "-"], capture_output=True, text=True, timeout=60)
    assert played.returncode == 0, played.stderr
    assert len([ln for ln in played.stdout.splitlines() if ln and not ln.startswith("#")]) == 8 * 25
    # Ingest outside /live/ is not taken.
    assert clients.request("POST", live.url("ch.isml/Streams(x)"), body=b"\0\0\0\x08free").status in (403, 404, 405)
