"""The configuration examples in vhost-examples/ as users copy them: basic.conf (a VirtualHost with
the site under /vod/) and cache-and-cors.conf (CORS and caching lifetimes), each run in a private
Apache with only its paths and address filled in. (cache-origin.conf and cache-storage.conf are run
by test_index.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request

import pytest

import clients
from conftest import CRASH_PATTERN, LAUNCHER, REPO, _free_port


class Site:
    """A private Apache on a free loopback port with one example included."""

    def __init__(self, root: str, include_text: str):
        self.port = _free_port()
        self.listen = f"127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="origo-vhost-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.include = os.path.join(self.dir, "site.conf")
        with open(self.include, "w") as f:
            f.write(include_text.replace("@DIR@", self.dir).replace("@LISTEN@", self.listen))
        os.chmod(self.include, 0o644)
        proc = subprocess.run([str(LAUNCHER), "start", "--root", root, "--listen", self.listen,
                               "--include", self.include], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"origo-httpd start failed:\n{proc.stdout}\n{proc.stderr}"

    def url(self, path: str) -> str:
        return f"http://{self.listen}/{path.lstrip('/')}"

    def stop(self) -> list[str]:
        subprocess.run([str(LAUNCHER), "stop", "--listen", self.listen], capture_output=True, timeout=120)
        logs = [os.path.join(self.dir, "error.log"), f"/tmp/origo-httpd/{self.port}/logs/error.log"]
        crashes = []
        for log in logs:
            if os.path.exists(log):
                crashes += [line for line in open(log, errors="replace") if CRASH_PATTERN.search(line)]
        shutil.rmtree(self.dir, ignore_errors=True)
        return crashes


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()


@pytest.fixture(scope="module")
def basic(media):
    """basic.conf with /var/www/origo → a directory whose vod/ is the test media, *:80 → a free
    loopback port, the log directory → the site's directory."""
    text = open(REPO / "vhost-examples" / "basic.conf").read()
    text = (text.replace("/var/www/origo", "@DIR@/www").replace("*:80", "@LISTEN@")
            .replace("${APACHE_LOG_DIR}", "@DIR@"))
    assert "@DIR@/www/vod" in text and "@LISTEN@" in text, "basic.conf no longer has the expected layout"
    site = Site(media.root, text)
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
    status, headers, body = _get(basic.url("vod/abr-640x360.mp4"))
    assert status == 200
    assert body == open(os.path.join(media.root, "abr-640x360.mp4"), "rb").read()
    # A manifest path outside /vod/ is not the engine's.
    with pytest.raises(urllib.error.HTTPError) as e:
        _get(basic.url("abr.ism/.m3u8"))
    assert e.value.code == 404


@pytest.fixture(scope="module")
def cors(media):
    site = Site(media.root, f'Include "{REPO}/vhost-examples/cache-and-cors.conf"\n')
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
        _, _, media_playlist = _get(cors.url("abr-fmp4.ism/abr-fmp4-video=300000.m3u8"))
        init = next(part.split('URI="')[1].split('"')[0] for part in media_playlist.decode().splitlines()
                    if part.startswith("#EXT-X-MAP"))
        path, lifetime = f"abr-fmp4.ism/{init}", "public, max-age=31536000, immutable"
    status, headers, _ = _get(cors.url(path))
    assert status == 200, path
    assert headers.get("access-control-allow-origin") == "*", headers
    assert "range" in headers.get("access-control-expose-headers", "").lower(), headers
    assert headers.get("cache-control") == lifetime, (path, headers)
