"""Keys from a CPIX document (DASH-IF CPIX 2.3) that the server manifest names: separate keys for
audio and video drive DASH CENC and HLS AES-128. Independent decrypters check the result: ffmpeg 8.1
and Shaka Packager give back the clear DASH samples with each track's own key (and not with the
other), ffmpeg plays every HLS playlist fetching each key from the URI the document gives, and its
decoded frames equal the clear stream's. The document is also read through IsmProxyPass, once per
presentation load, and a document the origin cannot honour is refused with a log line naming the
option, never a key."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import clients
from conftest import PrivateServer
from test_encryption import framemd5, representation_file, streamer_binary, uris

VIDEO_KID, VIDEO_KEY = "11111111222233334444555555555555", "a1a2a3a4a5a6a7a8a9aaabacadaeafa0"
AUDIO_KID, AUDIO_KEY = "66666666777788889999aaaaaaaaaaaa", "b1b2b3b4b5b6b7b8b9babbbcbdbebfb0"
WIDEVINE = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
AES128_SYSTEM = "3ea8778f-7742-4bf9-b18b-e834b2acbd47"


def uuid(hex_text: str) -> str:
    return f"{hex_text[:8]}-{hex_text[8:12]}-{hex_text[12:16]}-{hex_text[16:20]}-{hex_text[20:]}"


def widevine_pssh(kid: str) -> bytes:
    data = b"\x12\x10" + bytes.fromhex(kid)
    body = b"\x00\x00\x00\x00" + bytes.fromhex(WIDEVINE.replace("-", "")) + len(data).to_bytes(4, "big") + data
    return (8 + len(body)).to_bytes(4, "big") + b"pssh" + body


def cpix(key_uri: str | None, plain: bool = True) -> str:
    """Two keys, video and audio, each with a Widevine pssh and (with `key_uri`) an HLS key URI."""
    keys = systems = ""
    for kid, key, name in [(VIDEO_KID, VIDEO_KEY, "video"), (AUDIO_KID, AUDIO_KEY, "audio")]:
        value = base64.b64encode(bytes.fromhex(key)).decode()
        secret = (f"<pskc:PlainValue>{value}</pskc:PlainValue>" if plain else
                  "<pskc:EncryptedValue><enc:CipherData><enc:CipherValue>AAAA</enc:CipherValue></enc:CipherData>"
                  "</pskc:EncryptedValue>")
        keys += (f'<cpix:ContentKey kid="{uuid(kid)}" commonEncryptionScheme="cenc"><cpix:Data><pskc:Secret>'
                 f"{secret}</pskc:Secret></cpix:Data></cpix:ContentKey>")
        systems += (f'<cpix:DRMSystem kid="{uuid(kid)}" systemId="{WIDEVINE}"><cpix:PSSH>'
                    f"{base64.b64encode(widevine_pssh(kid)).decode()}</cpix:PSSH></cpix:DRMSystem>")
        if key_uri:
            uri = base64.b64encode(f"{key_uri}/{name}.key".encode()).decode()
            systems += (f'<cpix:DRMSystem kid="{uuid(kid)}" systemId="{AES128_SYSTEM}">'
                        f"<cpix:URIExtXKey>{uri}</cpix:URIExtXKey></cpix:DRMSystem>")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX contentId="abr" version="2.3" xmlns:cpix="urn:dashif:org:cpix"
    xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
  <cpix:ContentKeyList>{keys}</cpix:ContentKeyList>
  <cpix:DRMSystemList>{systems}</cpix:DRMSystemList>
  <cpix:ContentKeyUsageRuleList>
    <cpix:ContentKeyUsageRule kid="{uuid(VIDEO_KID)}" intendedTrackType="VIDEO"><cpix:VideoFilter/></cpix:ContentKeyUsageRule>
    <cpix:ContentKeyUsageRule kid="{uuid(AUDIO_KID)}" intendedTrackType="AUDIO"><cpix:AudioFilter/></cpix:ContentKeyUsageRule>
  </cpix:ContentKeyUsageRuleList>
</cpix:CPIX>
"""


def ism(media_root: str, meta: dict[str, str]) -> str:
    text = open(os.path.join(media_root, "abr.ism")).read()
    return text.replace("<head>", "<head>" + "".join(f'<meta name="{k}" content="{v}" />' for k, v in meta.items()), 1)


def publish(directory: str, media_root: str, files: dict[str, str]) -> None:
    """The test media (as links) and `files` in `directory`, readable by Apache's user."""
    os.makedirs(directory, exist_ok=True)
    os.chmod(os.path.dirname(directory), 0o755)
    for name in os.listdir(media_root):
        if name.endswith(".mp4"):
            os.symlink(os.path.join(media_root, name), os.path.join(directory, name))
    for name, text in files.items():
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w" if isinstance(text, str) else "wb") as f:
            f.write(text)
    for root, dirs, names in os.walk(directory):
        os.chmod(root, 0o755)
        for n in names:
            if not os.path.islink(os.path.join(root, n)):
                os.chmod(os.path.join(root, n), 0o644)


@pytest.fixture(scope="module")
def site(media):
    root = tempfile.mkdtemp(prefix="origo-cpix-", dir="/tmp")
    site = PrivateServer(root, "")
    # Under vod/, the layout of test_encryption's site (whose helpers read vod/<ism>/...).
    site.root = os.path.join(root, "vod")
    publish(site.root, media.root, {
        "clear.ism": ism(media.root, {}),
        "cpix.ism": ism(media.root, {"cpix": "keys/abr.cpix.xml"}),
        "keys/abr.cpix.xml": cpix(site.url("vod/keys")),
        "keys/video.key": bytes.fromhex(VIDEO_KEY),
        "keys/audio.key": bytes.fromhex(AUDIO_KEY),
        "sealed.ism": ism(media.root, {"cpix": "sealed.cpix.xml"}),
        "sealed.cpix.xml": cpix(site.url("vod/keys"), plain=False),
        "twice.ism": ism(media.root, {"cpix": "keys/abr.cpix.xml", "cenc.key": f"{VIDEO_KID}:{VIDEO_KEY}"}),
        "missing.ism": ism(media.root, {"cpix": "nowhere.cpix.xml"}),
    })
    yield site
    crashes = site.stop()
    shutil.rmtree(root, ignore_errors=True)
    assert not crashes, "\n".join(crashes[:20])


def test_dash_tracks_decrypt_with_their_own_key_only(site, tmp_path):
    mpd = clients.get(site.url("vod/cpix.ism/.mpd")).body.decode()
    for kid in [VIDEO_KID, AUDIO_KID]:
        assert f'cenc:default_KID="{uuid(kid)}"' in mpd
        assert base64.b64encode(widevine_pssh(kid)).decode() in mpd
    assert VIDEO_KEY not in mpd.lower() and AUDIO_KEY not in mpd.lower()
    tokens = sorted(set(re.findall(r'<Representation id="([^"]+)"', mpd)))
    assert len(tokens) == 5, tokens
    for token in tokens:
        own, other = (VIDEO_KEY, AUDIO_KEY) if token.startswith("video") else (AUDIO_KEY, VIDEO_KEY)
        secret, plain = str(tmp_path / f"{token}.enc.mp4"), str(tmp_path / f"{token}.mp4")
        representation_file(site, "cpix.ism", token, secret)
        representation_file(site, "clear.ism", token, plain)
        clear = framemd5(plain)
        assert clear and framemd5(secret, own) == clear, token
        assert framemd5(secret, other) != clear, token
        # Shaka Packager, given both keys, picks each track's by its key ID.
        decrypted = str(tmp_path / f"{token}.dec.mp4")
        kind = "video" if token.startswith("video") else "audio"
        proc = subprocess.run([streamer_binary("packager-linux-x64"), f"in={secret},stream={kind},output={decrypted}",
                               "--enable_raw_key_decryption", "--keys",
                               f"label=v:key_id={VIDEO_KID}:key={VIDEO_KEY},label=a:key_id={AUDIO_KID}:key={AUDIO_KEY}"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert [line.split(",")[4:] for line in framemd5(decrypted)] == [line.split(",")[4:] for line in clear], token


def decoded_md5(url: str) -> list[str]:
    """Per decoded frame of every stream, its MD5 (Debian's ffmpeg, fetching keys itself)."""
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-allowed_extensions", "ALL",
                           "-i", url, "-map", "0", "-f", "framemd5", "-"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [line for line in proc.stdout.splitlines() if line and not line.startswith("#")]


def test_hls_playlists_name_each_tracks_key_and_play_to_the_clear_frames(site, media):
    query = "?hls.client_manifest_version=4"
    master = clients.get(site.url(f"vod/cpix.ism/.m3u8{query}")).body.decode()
    playlists = re.findall(r'URI="([^"]+\.m3u8[^"]*)"', master) + uris(master.encode())
    audio = [p for p in playlists if p.startswith("cpix-audio") and "video" not in p]
    video = [p for p in playlists if "video" in p and not p.startswith("keyframes/")]
    assert len(audio) == 2 and len(video) == 3, playlists
    for playlist in audio + video:
        body = clients.get(site.url(f"vod/cpix.ism/{playlist}")).body.decode()
        name = "audio" if playlist in audio else "video"
        assert re.findall(r"#EXT-X-KEY:.*", body) == [f'#EXT-X-KEY:METHOD=AES-128,URI="{site.url(f"vod/keys/{name}.key")}"'], body
        # The clear presentation's playlist has the same segment names (cpix- becomes clear-).
        clear = decoded_md5(site.url(f"vod/clear.ism/{playlist.replace('cpix-', 'clear-', 1)}"))
        played = decoded_md5(site.url(f"vod/cpix.ism/{playlist}"))
        assert clear and played == clear, playlist
    frames = clients.ffmpeg_decode(site.url(f"vod/cpix.ism/.m3u8{query}"), extra_input_args=["-allowed_extensions", "ALL"])
    assert frames.errors == [] and frames.video_frames == [media.frames("abr-640x360.mp4")] * 3, frames.summary()


def test_a_changed_document_is_used_at_once(site, media):
    document = os.path.join(site.root, "keys", "abr.cpix.xml")
    before = clients.get(site.url("vod/cpix.ism/.mpd")).body.decode()
    original = open(document).read()
    try:
        with open(document, "w") as f:
            f.write(original.replace(uuid(VIDEO_KID), uuid("99999999888877776666555555555555")))
        after = clients.get(site.url("vod/cpix.ism/.mpd")).body.decode()
        assert 'cenc:default_KID="99999999-8888-7777-6666-555555555555"' in after and after != before
    finally:
        with open(document, "w") as f:
            f.write(original)


@pytest.mark.parametrize("name,status,says", [
    ("sealed.ism", 400, "server manifest option cpix: ContentKey"),
    ("twice.ism", 400, "server manifest options cpix and cenc.key"),
    ("missing.ism", 404, "nowhere.cpix.xml"),
])
def test_documents_that_cannot_be_honoured_are_refused(site, name, status, says):
    log = site.log_size()
    for path in [".m3u8", ".mpd", "Manifest"]:
        assert clients.get(site.url(f"vod/{name}/{path}")).status == status, path
    new = site.log_since(log).splitlines()
    refused = [line for line in new if "ORIGO10110" in line]
    assert refused and all(says in line for line in refused), new
    assert not any(k in line.lower() for line in new for k in [VIDEO_KEY, AUDIO_KEY]), new


def test_the_document_is_read_through_ismproxypass_once_per_load(media):
    from test_remote import Storage

    stored = tempfile.mkdtemp(prefix="origo-cpix-storage-", dir="/tmp")
    publish(stored, media.root, {"cpix.ism": ism(media.root, {"cpix": "abr.cpix.xml"}),
                                 "abr.cpix.xml": cpix("https://keys.example")})
    storage = Storage(stored)
    site = None
    try:
        # One child: what it caches, every request sees.
        site = PrivateServer(media.root, "StartServers 1\nServerLimit 1\nThreadsPerChild 25\nMaxRequestWorkers 25\n"
                                         "MinSpareThreads 1\nMaxSpareThreads 25\n"
                                         f'<Location "/remote">\n  IsmProxyPass "http://127.0.0.1:{storage.port}/"\n</Location>\n')
        for _ in range(3):
            mpd = clients.get(site.url("remote/cpix.ism/.mpd"))
            assert mpd.status == 200
            assert f'cenc:default_KID="{uuid(AUDIO_KID)}"' in mpd.body.decode()
        playlist = clients.get(site.url("remote/cpix.ism/cpix-audio_eng=128000.m3u8"))
        assert 'URI="https://keys.example/audio.key"' in playlist.body.decode()
        log = open(storage.log).read().splitlines()
        reads = [line for line in log if "abr.cpix.xml" in line]
        assert len(reads) == 1 and len([line for line in log if "cpix.ism" in line]) == 1, log
    finally:
        # The storage stops even when the site never started.
        crashes = site.stop() if site else []
        storage.stop()
        shutil.rmtree(stored, ignore_errors=True)
    assert not crashes, "\n".join(crashes[:20])
