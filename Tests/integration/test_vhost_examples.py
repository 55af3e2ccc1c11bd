"""The configuration examples in vhost-examples/ as users copy them: basic.conf (a VirtualHost with
the site under /vod/) and cache-and-cors.conf (CORS and caching lifetimes), each run in a private
Apache with only its paths and address filled in. (cache-origin.conf and cache-storage.conf are run
by test_index.py.)"""

from __future__ import annotations

import os

import pytest

import clients
from conftest import REPO, PrivateServer


@pytest.fixture(scope="module")
def basic(media):
    """basic.conf with /var/www/origo → a directory whose vod/ is the test media, *:80 → a free
    loopback port, the log directory → the site's directory."""
    text = open(REPO / "vhost-examples" / "basic.conf").read()
    text = (text.replace("/var/www/origo", "@DIR@/www").replace("*:80", "@LISTEN@")
            .replace("${APACHE_LOG_DIR}", "@DIR@"))
    assert "@DIR@/www/vod" in text and "@LISTEN@" in text, "basic.conf no longer has the expected layout"
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
