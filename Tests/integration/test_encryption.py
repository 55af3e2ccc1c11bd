"""Encryption driven by the server manifest, run through vhost-examples/hls-aes128.conf: HLS AES-128
of TS segments with the key served by Apache as a static file. ffmpeg plays every rendition with
the frame counts of the clear stream; openssl (not our code) decrypts segments back to the clear
bytes; the DRM rule refuses unprotected formats; bad keys are refused with a log line that names the
option and never the key; no query turns protection off."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

import clients
from conftest import REPO, PrivateServer

KEY = "8275ef8e3b2a4b1c9d0e1f2a3b4c5d6e"
IV = "00112233445566778899aabbccddeeff"


def ism_with(media_root: str, meta: dict[str, str]) -> str:
    """abr.ism of the test media with `meta` options in its head."""
    text = open(os.path.join(media_root, "abr.ism")).read()
    head = "".join(f'<meta name="{k}" content="{v}" />' for k, v in meta.items())
    return text.replace("<head>", "<head>" + head, 1)


@pytest.fixture(scope="module")
def site(media):
    text = open(REPO / "vhost-examples" / "hls-aes128.conf").read()
    text = text.replace("/var/www/origo-keys", "@DIR@/keys").replace("/var/www/origo", "@DIR@/www")
    assert "@DIR@/keys" in text and "@DIR@/www/vod" in text, "hls-aes128.conf no longer has the expected layout"
    # The example belongs in a site whose DocumentRoot is /var/www/origo: here an Alias stands in.
    text += '\nAlias /vod/ "@DIR@/www/vod/"\n<Directory "@DIR@/www">\n    Require all granted\n</Directory>\n'
    site = PrivateServer(media.root, text)
    vod = os.path.join(site.dir, "www", "vod")
    keys = os.path.join(site.dir, "keys")
    os.makedirs(vod)
    os.makedirs(keys)
    for name in os.listdir(media.root):
        if name.endswith(".mp4"):
            os.symlink(os.path.join(media.root, name), os.path.join(vod, name))
    with open(os.path.join(keys, "abr.key"), "wb") as f:
        f.write(bytes.fromhex(KEY))
    key_url = site.url("keys/abr.key")
    presentations = {
        "clear.ism": {},
        "aes.ism": {"hls.key": f":{KEY.upper()}", "hls.license_server_url": key_url},
        "aes-iv.ism": {"hls.key": f":{KEY}", "hls.key_iv": f"0x{IV}", "hls.license_server_url": key_url},
        "aes-dash-clear.ism": {"hls.key": f":{KEY}", "hls.license_server_url": key_url, "mpd.playout": "clear"},
        "zero-key.ism": {"hls.key": ":" + "0" * 32, "hls.license_server_url": key_url},
        "short-key.ism": {"hls.key": f":{KEY[:30]}", "hls.license_server_url": key_url},
        "no-url.ism": {"hls.key": f":{KEY}"},
    }
    for name, meta in presentations.items():
        with open(os.path.join(vod, name), "w") as f:
            f.write(ism_with(media.root, meta))
    for root, dirs, files in os.walk(site.dir):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            if not os.path.islink(os.path.join(root, f)):
                os.chmod(os.path.join(root, f), 0o644)
    yield site
    crashes = site.stop()
    assert not crashes, "\n".join(crashes[:20])


def lines(body: bytes) -> list[str]:
    return body.decode().splitlines()


def uris(body: bytes) -> list[str]:
    return [line for line in lines(body) if line and not line.startswith("#")]


def openssl_decrypt(data: bytes, iv_hex: str) -> bytes:
    proc = subprocess.run(["openssl", "enc", "-d", "-aes-128-cbc", "-K", KEY, "-iv", iv_hex],
                          input=data, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def test_ffmpeg_plays_every_rendition_with_the_clear_frame_counts(site, media):
    clear = clients.ffmpeg_decode(site.url("vod/clear.ism/.m3u8"))
    assert clear.errors == [] and clear.video_frames == [media.frames("abr-640x360.mp4")] * 3, clear.summary()
    for name in ["aes.ism", "aes-iv.ism"]:
        # ffmpeg fetches the key from the playlist's URI: http, same Apache, a static file.
        played = clients.ffmpeg_decode(site.url(f"vod/{name}/.m3u8"),
                                       extra_input_args=["-allowed_extensions", "ALL"])
        assert played.errors == [], played.summary()
        assert played.video_frames == clear.video_frames, played.summary()
        assert played.audio_frames == clear.audio_frames, played.summary()


def test_openssl_decrypts_segments_to_the_clear_bytes(site):
    master = clients.get(site.url("vod/aes.ism/.m3u8"))
    assert master.status == 200
    for variant in uris(master.body):
        playlist = clients.get(site.url(f"vod/aes.ism/{variant}"))
        assert playlist.status == 200
        key_lines = [line for line in lines(playlist.body) if line.startswith("#EXT-X-KEY")]
        assert key_lines == [f'#EXT-X-KEY:METHOD=AES-128,URI="{site.url("keys/abr.key")}"'], key_lines
        assert KEY not in playlist.body.decode().lower()
        segments = uris(playlist.body)
        for segment in [segments[0], segments[len(segments) // 2], segments[-1]]:
            number = int(re.search(r"-(\d+)\.ts$", segment).group(1))
            secret = clients.get(site.url(f"vod/aes.ism/{segment}"))
            plain = clients.get(site.url(f"vod/clear.ism/{segment}"))
            assert secret.status == plain.status == 200
            assert len(secret.body) == (len(plain.body) // 16 + 1) * 16
            assert openssl_decrypt(secret.body, f"{number:032x}") == plain.body, segment
            assert secret.headers["etag"] != plain.headers["etag"]
    # A fixed IV is written into the playlist and used for every segment.
    playlist = clients.get(site.url(f"vod/aes-iv.ism/{uris(master.body)[0]}"))
    assert f"IV=0x{IV.upper()}" in playlist.body.decode()
    segment = uris(playlist.body)[1]
    assert openssl_decrypt(clients.get(site.url(f"vod/aes-iv.ism/{segment}")).body, IV) == \
        clients.get(site.url(f"vod/clear.ism/{segment}")).body


def test_iframe_segments_are_encrypted_too(site):
    master = clients.get(site.url("vod/aes.ism/.m3u8")).body.decode()
    iframe = re.search(r'#EXT-X-I-FRAME-STREAM-INF:[^\n]*URI="([^"]+)"', master).group(1)
    playlist = clients.get(site.url(f"vod/aes.ism/{iframe}"))
    assert "#EXT-X-KEY:METHOD=AES-128" in playlist.body.decode()
    first = uris(playlist.body)[0]
    directory = iframe.rsplit("/", 1)[0]
    secret = clients.get(site.url(f"vod/aes.ism/{directory}/{first}")).body
    plain = clients.get(site.url(f"vod/clear.ism/{directory}/{first}")).body
    assert openssl_decrypt(secret, f"{1:032x}") == plain


def test_the_drm_rule_and_no_query_turns_protection_off(site):
    log = site.log_size()
    assert clients.get(site.url("vod/aes.ism/.mpd")).status == 403
    assert clients.get(site.url("vod/aes.ism/Manifest")).status == 403
    assert clients.get(site.url("vod/aes.ism/.f4m")).status == 403
    assert clients.get(site.url("vod/aes.ism/.mpd?mpd.playout=clear")).status == 403
    assert clients.get(site.url("vod/aes-dash-clear.ism/.mpd")).status == 200
    # HLS fMP4 cannot be encrypted yet: refused, never sent in the clear.
    assert clients.get(site.url("vod/aes.ism/.m3u8?hls.fmp4=true")).status == 501
    master = clients.get(site.url("vod/aes.ism/.m3u8?hls.playout=clear"))
    playlist = clients.get(site.url(f"vod/aes.ism/{uris(master.body)[0]}?hls.playout=clear"))
    assert "#EXT-X-KEY:METHOD=AES-128" in playlist.body.decode()
    text = site.log_since(log)
    assert "DRM rule" in text and "ORIGO10110" in text


@pytest.mark.parametrize("name", ["zero-key.ism", "short-key.ism", "no-url.ism"])
def test_bad_keys_are_refused_naming_the_option_not_the_key(site, name):
    log = site.log_size()
    for path in [".m3u8", ".mpd"]:
        assert clients.get(site.url(f"vod/{name}/{path}")).status == 400
    new = site.log_since(log).splitlines()
    refused = [line for line in new if "ORIGO10110" in line]
    assert refused and all("server manifest option hls." in line for line in refused), new
    assert not any(KEY in line.lower() or KEY[:30] in line.lower() for line in new), new
