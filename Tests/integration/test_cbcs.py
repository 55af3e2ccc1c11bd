"""Common Encryption `cbcs` (AES-CBC, 1:9 pattern for video, constant IV) of HLS fMP4 (whenever
`hls.key` applies to fMP4) and of DASH (`mpd.encryption_scheme=cbcs`). Every rendition's init
segment and every media segment are fetched and decrypted by two independent decrypters, ffmpeg 8.1
(`-decryption_key`) and Shaka Packager v3.8 (raw key); the decrypted samples equal the clear
output's byte for byte, and Debian's ffmpeg decodes every frame of them; headless Chromium plays a
rendition through EME with its ClearKey CDM. What stays clear of each H.264 slice is its slice
header as ffmpeg's trace_headers measures it. Playlists name the key with `METHOD=SAMPLE-AES`
(identity, and Widevine's `pssh` when configured); subtitles stay clear; bad settings are refused
naming the option."""

from __future__ import annotations

import base64
import os
import re
import struct
import subprocess

import pytest

import clients
from conftest import PrivateServer
from test_encryption import (IV, KEY, KID, eme_play, framemd5, link_media, readable, representation_file,
                             streamer_binary)

OTHER_KEY = KEY[::-1]
SITE = """Alias /vod/ "@DIR@/vod/"
<Directory "@DIR@/vod">
    Require all granted
    UspHandleIsm on
</Directory>
"""


def with_meta(text: str, meta: dict[str, str]) -> str:
    head = "".join(f'<meta name="{k}" content="{v}" />' for k, v in meta.items())
    return text.replace("<head>", "<head>" + head, 1)


@pytest.fixture(scope="module")
def site(media):
    site = PrivateServer(media.root, SITE)
    vod = os.path.join(site.dir, "vod")
    os.makedirs(vod)
    link_media(media.root, vod)
    abr = open(os.path.join(media.root, "abr.ism")).read()
    subs = open(os.path.join(media.root, "subs.ism")).read()
    for name in os.listdir(media.root):
        if name.startswith("subs-") and not name.endswith(".mp4"):          # the MP4 is linked already
            os.symlink(os.path.join(media.root, name), os.path.join(vod, name))
    fmp4 = with_meta(abr, {"hls.fmp4": "true"})
    # HEVC video alone: Shaka Packager 3.8 crashes (SIGSEGV) reading the audio of hevc.mp4 as Origo
    # writes it in fMP4, encrypted or clear: a single-track fMP4 whose track_ID is 2 (the same bytes
    # with the track_ID set to 1 in trex, tkhd and tfhd pass). Audio is covered by abr.ism.
    hevc = ('<smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head><meta name="hls.fmp4" content="true" />'
            '</head><body><switch><video src="hevc.mp4" systemBitrate="800000"/></switch></body></smil>')
    url = "https://keys.example/abr.key"
    hls = {"hls.key": f"{KID}:{KEY}", "hls.license_server_url": url}
    presentations = {
        "clear.ism": fmp4,
        "cbcs.ism": with_meta(fmp4, hls),
        # No KID in hls.key: Widevine's; a fixed IV from hls.key_iv.
        "cbcs-widevine.ism": with_meta(fmp4, {"hls.key": f":{KEY}", "hls.key_iv": f"0x{IV}", "hls.license_server_url": url,
                                              "widevine.key": f"{KID}:{KEY}", "mpd.playout": "clear"}),
        "cbcs-nokid.ism": with_meta(fmp4, {"hls.key": f":{KEY}", "hls.license_server_url": url}),
        "hevc-clear.ism": hevc,
        "hevc-cbcs.ism": with_meta(hevc, hls),
        "dash-clear.ism": abr,
        "dash-cbcs.ism": with_meta(abr, {"cenc.key": f"{KID}:{KEY}", "mpd.encryption_scheme": "cbcs", "hls.playout": "clear"}),
        "bad-scheme.ism": with_meta(abr, {"cenc.key": f"{KID}:{KEY}", "mpd.encryption_scheme": "cbc1"}),
        "two-keys.ism": with_meta(abr, {**hls, "widevine.key": f"{KID}:{OTHER_KEY}"}),
        "subs-clear.ism": with_meta(subs, {"hls.fmp4": "true"}),
        "subs-cbcs.ism": with_meta(subs, {**hls, "hls.fmp4": "true", "hls.playout": "sample_aes"}),
    }
    for name, text in presentations.items():
        with open(os.path.join(vod, name), "w") as f:
            f.write(text)
    readable(site.dir)
    yield site
    crashes = site.stop()
    assert not crashes, "\n".join(crashes[:20])


def uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def media_playlists(site, ism: str) -> tuple[str, list[str]]:
    """The master playlist and every media playlist it lists (variants, audio, I-frames)."""
    master = clients.get(site.url(f"vod/{ism}/.m3u8"))
    assert master.status == 200, master.status
    text = master.body.decode()
    listed = uris(text) + re.findall(r'#EXT-X-(?:MEDIA|I-FRAME-STREAM-INF):[^\n]*URI="([^"]+)"', text)
    return text, listed


def renamed(uri: str, ism: str, other: str) -> str:
    """`uri` of presentation `ism` as presentation `other` names it (child URLs start with the
    server manifest's base name)."""
    return re.sub(rf"(^|/){re.escape(ism[:-4])}-", rf"\g<1>{other[:-4]}-", uri)


def rendition_file(site, ism: str, playlist_uri: str, path: str) -> str:
    """The init segment and every segment of one fMP4 media playlist, concatenated (a fragmented MP4
    any demuxer reads); returns the playlist."""
    playlist = clients.get(site.url(f"vod/{ism}/{playlist_uri}"))
    assert playlist.status == 200, playlist_uri
    text = playlist.body.decode()
    directory = playlist_uri.rsplit("/", 1)[0] + "/" if "/" in playlist_uri else ""
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text).group(1)
    with open(path, "wb") as out:
        for uri in [init] + uris(text):
            answer = clients.get(site.url(f"vod/{ism}/{directory}{uri}"))
            assert answer.status == 200, (uri, answer.status)
            out.write(answer.body)
    return text


def tenc(data: bytes) -> dict:
    """The scheme and the `tenc` fields of an init segment."""
    at = data.index(b"schm")
    scheme = data[at + 8:at + 12].decode()
    at = data.index(b"tenc")
    version, body = data[at + 4], data[at + 8:]
    out = {"scheme": scheme, "version": version, "crypt": body[1] >> 4, "skip": body[1] & 15,
           "protected": body[2], "iv_size": body[3], "kid": body[4:20].hex()}
    if body[2] == 1 and body[3] == 0:
        out["constant_iv"] = body[21:21 + body[20]].hex()
    return out


def shaka_decrypt(secret: str, kind: str, out: str, kid: str = KID) -> None:
    proc = subprocess.run([streamer_binary("packager-linux-x64"), f"in={secret},stream={kind},output={out}",
                           "--enable_raw_key_decryption", "--keys", f"key_id={kid}:key={KEY}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def check_decrypts_to_clear(secret: str, plain: str, kind: str, tmp_path, name: str, kid: str = KID) -> None:
    """ffmpeg 8.1 and Shaka Packager each give back the clear samples of `plain` from `secret`, and
    Debian's ffmpeg decodes every frame of Shaka's output."""
    clear = framemd5(plain)
    assert clear and framemd5(secret, KEY) == clear, name
    # Without the key the samples are not the clear ones: they were encrypted.
    assert framemd5(secret) != clear, name
    decrypted = str(tmp_path / f"{name}.dec.mp4")
    shaka_decrypt(secret, kind, decrypted, kid)
    assert [line.split(",")[4:] for line in framemd5(decrypted)] == [line.split(",")[4:] for line in clear], name
    reference, played = clients.ffmpeg_decode(plain), clients.ffmpeg_decode(decrypted)
    assert reference.errors == [] and played.errors == [], played.summary()
    assert (played.video_frames, played.audio_frames) == (reference.video_frames, reference.audio_frames), played.summary()
    assert sum(played.video_frames) + sum(played.audio_frames) > 0, played.summary()


def safe(uri: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", uri)[-60:]


@pytest.mark.parametrize("ism,clear_ism", [("cbcs.ism", "clear.ism"), ("hevc-cbcs.ism", "hevc-clear.ism")])
def test_hls_fmp4_cbcs_decrypts_to_the_clear_samples(site, media, tmp_path, ism, clear_ism):
    master, listed = media_playlists(site, ism)
    iv_hex = None
    session = [line for line in master.splitlines() if line.startswith("#EXT-X-SESSION-KEY")]
    assert len(session) == 1, session
    match = re.fullmatch(r'#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="https://keys\.example/abr\.key",'
                         r'IV=0x([0-9A-F]{32}),KEYFORMAT="identity"', session[0])
    assert match, session
    iv_hex = match.group(1).lower()
    assert KEY not in master.lower()
    _, clear_listed = media_playlists(site, clear_ism)
    assert [renamed(uri, ism, clear_ism) for uri in listed] == clear_listed
    kinds = set()
    for uri in listed:
        secret, plain = str(tmp_path / f"{safe(uri)}.enc.mp4"), str(tmp_path / f"{safe(uri)}.mp4")
        text = rendition_file(site, ism, uri, secret)
        rendition_file(site, clear_ism, renamed(uri, ism, clear_ism), plain)
        keys = [line for line in text.splitlines() if line.startswith("#EXT-X-KEY")]
        assert keys == [session[0].replace("#EXT-X-SESSION-KEY", "#EXT-X-KEY")], (uri, keys)
        assert "#EXT-X-VERSION:" in text and KEY not in text.lower()
        init = open(secret, "rb").read()
        kind = "video" if b"encv" in init[:4096] else "audio"
        kinds.add(kind)
        assert tenc(init) == {"scheme": "cbcs", "version": 1, "crypt": 1 if kind == "video" else 0,
                              "skip": 9 if kind == "video" else 0, "protected": 1, "iv_size": 0, "kid": KID,
                              "constant_iv": iv_hex}, uri
        check_decrypts_to_clear(secret, plain, kind, tmp_path, safe(uri))
    assert kinds == ({"video", "audio"} if ism == "cbcs.ism" else {"video"})
    assert any("keyframes/" in uri for uri in listed)           # I-frame playlists were checked too


def test_hls_fmp4_cbcs_with_a_fixed_iv_and_widevine(site, tmp_path):
    master, listed = media_playlists(site, "cbcs-widevine.ism")
    session = [line for line in master.splitlines() if line.startswith("#EXT-X-SESSION-KEY")]
    assert session[0] == (f'#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="https://keys.example/abr.key",'
                          f'IV=0x{IV.upper()},KEYFORMAT="identity"')
    widevine = re.fullmatch(r'#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;base64,([^"]+)",'
                            rf'IV=0x{IV.upper()},KEYFORMAT="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",'
                            r'KEYFORMATVERSIONS="1"', session[1])
    assert widevine and len(session) == 2, session
    pssh = base64.b64decode(widevine.group(1))
    assert struct.unpack(">I", pssh[:4])[0] == len(pssh) and pssh[4:8] == b"pssh"
    assert pssh[12:28].hex() == "edef8ba979d64acea3c827dcd51d21ed" and bytes.fromhex(KID) in pssh
    video = next(uri for uri in listed if "video" in uri and "keyframes" not in uri)
    secret, plain = str(tmp_path / "wv.enc.mp4"), str(tmp_path / "wv.mp4")
    text = rendition_file(site, "cbcs-widevine.ism", video, secret)
    rendition_file(site, "clear.ism", renamed(video, "cbcs-widevine.ism", "clear.ism"), plain)
    assert [line for line in text.splitlines() if line.startswith("#EXT-X-KEY")] == \
        [line.replace("#EXT-X-SESSION-KEY", "#EXT-X-KEY") for line in session]
    init = open(secret, "rb").read()
    assert tenc(init)["constant_iv"] == IV and tenc(init)["kid"] == KID
    assert pssh in init                                       # the init segment carries Widevine's pssh
    check_decrypts_to_clear(secret, plain, "video", tmp_path, "wv")
    # hls.key without a KID and no Widevine key: the KID is derived from the key, never zeros.
    _, listed = media_playlists(site, "cbcs-nokid.ism")
    secret = str(tmp_path / "nokid.enc.mp4")
    rendition_file(site, "cbcs-nokid.ism", renamed(video, "cbcs-widevine.ism", "cbcs-nokid.ism"), secret)
    fields = tenc(open(secret, "rb").read())
    assert fields["kid"] != "0" * 32 and fields["kid"] != KID and len(fields["constant_iv"]) == 32
    assert framemd5(secret, KEY) == framemd5(plain)


def test_chromium_plays_hls_fmp4_cbcs_through_eme_clearkey(site, media):
    """A browser's own decrypter: Chromium's ClearKey CDM plays one rendition's init segment and
    segments through MSE and EME (the key made in the page) to the end."""
    master, listed = media_playlists(site, "cbcs.ism")
    video = next(uri for uri in listed if "video=600000" in uri and "keyframes" not in uri)
    codecs = re.search(r'CODECS="(avc1\.[0-9a-fA-F]+)', master).group(1)
    playlist = clients.get(site.url(f"vod/cbcs.ism/{video}")).body.decode()
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist).group(1)
    urls = [f"/vod/cbcs.ism/{uri}" for uri in [init] + uris(playlist)]
    state, console = eme_play(site, os.path.join(site.dir, "vod"), "vod/eme.html", urls, codecs)
    assert state.get("licensed") and not state.get("errors"), (state, console)
    assert state.get("ended"), (state, console)
    assert state.get("frames", 0) >= 0.9 * media.frames("abr-640x360.mp4"), (state, console)
    # With another key the decoder gets garbage and stops: the check can fail.
    wrong, console = eme_play(site, os.path.join(site.dir, "vod"), "vod/eme.html", urls, codecs, key=OTHER_KEY)
    assert wrong.get("errors") and not wrong.get("ended"), (wrong, console)


def test_hls_cbcs_segments_are_cacheable_and_differ_from_clear(site):
    """The same request gives the same bytes and ETag every time (constant IV, no randomness), and
    not the clear segment's."""
    _, listed = media_playlists(site, "cbcs.ism")
    playlist = clients.get(site.url(f"vod/cbcs.ism/{listed[0]}")).body.decode()
    segment = uris(playlist)[1]
    first, second = clients.get(site.url(f"vod/cbcs.ism/{segment}")), clients.get(site.url(f"vod/cbcs.ism/{segment}"))
    plain = clients.get(site.url(f"vod/clear.ism/{renamed(segment, 'cbcs.ism', 'clear.ism')}"))
    assert first.status == second.status == plain.status == 200
    assert first.body == second.body and first.headers["etag"] == second.headers["etag"]
    assert first.body != plain.body and first.headers["etag"] != plain.headers["etag"]
    # The same presentation as TS still gets AES-128.
    ts = clients.get(site.url("vod/cbcs.ism/.m3u8?hls.fmp4=false"))
    assert ts.status == 200
    variant = uris(ts.body.decode())[0]
    assert variant.endswith("?hls.fmp4=false"), variant           # child URLs keep the query
    media = clients.get(site.url(f"vod/cbcs.ism/{variant}")).body.decode()
    assert '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/abr.key"' in media


def test_subtitles_stay_clear_beside_cbcs(site):
    """WebVTT has no sample encryption: under cbcs (and hls.playout=sample_aes) its playlists name
    no key and its segments are the clear ones, while audio and video are encrypted."""
    master, listed = media_playlists(site, "subs-cbcs.ism")
    subtitles = [uri for uri in re.findall(r'#EXT-X-MEDIA:TYPE=SUBTITLES[^\n]*URI="([^"]+)"', master)]
    assert subtitles, master
    for uri in subtitles:
        playlist = clients.get(site.url(f"vod/subs-cbcs.ism/{uri}"))
        assert playlist.status == 200 and "#EXT-X-KEY" not in playlist.body.decode(), uri
        for segment in uris(playlist.body.decode())[:3]:
            secret = clients.get(site.url(f"vod/subs-cbcs.ism/{segment}"))
            plain = clients.get(site.url(f"vod/subs-clear.ism/{renamed(segment, 'subs-cbcs.ism', 'subs-clear.ism')}"))
            assert secret.status == plain.status == 200 and secret.body == plain.body, segment
            assert secret.body.startswith(b"WEBVTT")
    video = next(uri for uri in listed if "video" in uri and "keyframes" not in uri)
    assert "#EXT-X-KEY:METHOD=SAMPLE-AES" in clients.get(site.url(f"vod/subs-cbcs.ism/{video}")).body.decode()


def test_dash_cbcs_decrypts_to_the_clear_samples(site, tmp_path):
    mpd = clients.get(site.url("vod/dash-cbcs.ism/.mpd")).body.decode()
    assert 'schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cbcs"' in mpd
    assert f'cenc:default_KID="{KID[:8]}-{KID[8:12]}-{KID[12:16]}-{KID[16:20]}-{KID[20:]}"' in mpd
    assert KEY not in mpd.lower()
    tokens = sorted(set(re.findall(r'<Representation id="([^"]+)"', mpd)))
    assert len(tokens) == 5, tokens
    for token in tokens:
        secret, plain = str(tmp_path / f"{token}.enc.mp4"), str(tmp_path / f"{token}.mp4")
        representation_file(site, "dash-cbcs.ism", token, secret)
        representation_file(site, "dash-clear.ism", token, plain)
        kind = "video" if token.startswith("video") else "audio"
        fields = tenc(open(secret, "rb").read())
        assert fields["scheme"] == "cbcs" and fields["iv_size"] == 0 and len(fields["constant_iv"]) == 32
        assert (fields["crypt"], fields["skip"]) == ((1, 9) if kind == "video" else (0, 0))
        check_decrypts_to_clear(secret, plain, kind, tmp_path, token)


def test_bad_cbcs_settings_are_refused_naming_the_option(site):
    log = site.log_size()
    assert clients.get(site.url("vod/bad-scheme.ism/.mpd")).status == 400
    assert clients.get(site.url("vod/bad-scheme.ism/video=600000.dash")).status == 400
    text = site.log_since(log)
    assert "server manifest option mpd.encryption_scheme must be cenc or cbcs" in text, text
    # hls.key and widevine.key with different keys: HLS fMP4 cannot use both (400); TS AES-128 and
    # DASH each have their own.
    log = site.log_size()
    assert clients.get(site.url("vod/two-keys.ism/.m3u8?hls.fmp4=true")).status == 400
    assert clients.get(site.url("vod/two-keys.ism/video=600000.m4s?hls.fmp4=true")).status == 400
    assert clients.get(site.url("vod/two-keys.ism/.m3u8")).status == 200
    assert clients.get(site.url("vod/two-keys.ism/.mpd")).status == 200
    text = site.log_since(log)
    assert "hls.key and widevine.key name different keys" in text, text
    assert KEY not in text.lower() and OTHER_KEY not in text.lower()


def slice_header_bits(path: str) -> list[int]:
    """The size in bits of every slice (segment) header of the video of `path`, NAL unit header
    included and emulation prevention bytes not, as ffmpeg's trace_headers bitstream filter (not
    our code) parses them, in decoding order."""
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-i", path, "-map", "0:v", "-c", "copy",
                           "-bsf:v", "trace_headers", "-f", "null", "-"],
                          capture_output=True, text=True, errors="replace", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sizes, end = [], None
    for line in proc.stderr.splitlines():
        text = re.sub(r"^\[trace_headers @ [^\]]+\] ", "", line)
        if text == line:
            continue
        field = re.match(r"(\d+)\s+(\S+)\s+([01]+) = ", text)
        if field and end is not None:
            if field.group(2) != "cabac_alignment_one_bit":
                end = max(end, int(field.group(1)) + len(field.group(3)))
            continue
        if end is not None:
            sizes.append(end)
        end = 0 if re.fullmatch(r"Slice( Segment)? Header", text.strip()) else None
    if end is not None:
        sizes.append(end)
    return sizes


def boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, payload start, box end) of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        if size < 8:
            return
        yield kind.decode("latin-1"), start + 8, start + size
        start += size


def fragments(data: bytes):
    """Per fragment of a fragmented MP4: its sample sizes (trun), its senc subsamples (or None) and
    where its samples start."""
    moof = None
    for kind, body, end in boxes(data):
        if kind == "moof":
            moof = (body, end)
        elif kind == "mdat" and moof:
            sizes, runs = [], None
            for k, b, e in boxes(data, *moof):
                for k2, b2, e2 in boxes(data, b, e) if k == "traf" else []:
                    flags = int.from_bytes(data[b2 + 1:b2 + 4], "big")
                    if k2 == "trun":
                        count, at = struct.unpack(">I", data[b2 + 4:b2 + 8])[0], b2 + 8
                        at += 4 if flags & 1 else 0
                        at += 4 if flags & 4 else 0
                        for _ in range(count):
                            at += 4 if flags & 0x100 else 0
                            sizes.append(struct.unpack(">I", data[at:at + 4])[0])
                            at += 4 + (4 if flags & 0x400 else 0) + (4 if flags & 0x800 else 0)
                    elif k2 == "senc" and flags & 2:
                        count, at, runs = struct.unpack(">I", data[b2 + 4:b2 + 8])[0], b2 + 8, []
                        for _ in range(count):
                            n = struct.unpack(">H", data[at:at + 2])[0]
                            runs.append([struct.unpack(">HI", data[at + 2 + 6 * i:at + 8 + 6 * i]) for i in range(n)])
                            at += 2 + 6 * n
            yield sizes, runs, body
            moof = None


def clear_slice_headers(secret: str, plain: str) -> list[tuple[int, int]]:
    """For each H.264 picture NAL unit of `plain` in order: how many of its bytes `secret`'s senc
    leaves clear before the protected ones (None when none are protected), and how many of them
    are emulation prevention bytes."""
    secret_data, plain_data = open(secret, "rb").read(), open(plain, "rb").read()
    out = []
    for (sizes, runs, _), (_, _, body) in zip(fragments(secret_data), fragments(plain_data)):
        assert runs is not None and len(runs) == len(sizes)
        at = body
        for size, sample_runs in zip(sizes, runs):
            protected, p = {}, 0
            for clear, count in sample_runs:
                p += clear
                if count:
                    protected[p + count] = p                # protected range end -> start
                p += count
            assert p == size
            q = 0
            while q < size:
                length = int.from_bytes(plain_data[at + q:at + q + 4], "big")
                unit = plain_data[at + q + 4:at + q + 4 + length]
                if unit[0] & 0x1F in (1, 5):
                    start = protected.get(q + 4 + length)
                    clear = None if start is None else start - (q + 4)
                    prefix = unit[:clear or 0]
                    out.append((clear, sum(1 for i in range(2, len(prefix)) if prefix[i - 2:i + 1] == b"\0\0\3")))
                q += 4 + length
            at += size
    return out


def test_cbcs_keeps_exactly_the_slice_headers_clear(site, media, tmp_path):
    """H.264: what senc leaves clear of each slice is its slice header (to the byte holding its
    last bit, as ffmpeg's trace_headers measures it); protection starts at the slice data."""
    _, listed = media_playlists(site, "cbcs.ism")
    for uri in [u for u in listed if "video" in u and "keyframes" not in u]:
        secret, plain = str(tmp_path / f"{safe(uri)}.enc.mp4"), str(tmp_path / f"{safe(uri)}.mp4")
        rendition_file(site, "cbcs.ism", uri, secret)
        rendition_file(site, "clear.ism", renamed(uri, "cbcs.ism", "clear.ism"), plain)
        measured = clear_slice_headers(secret, plain)
        bits = slice_header_bits(plain)
        assert len(measured) == len(bits) > 0
        protected = [(m, b) for m, b in zip(measured, bits) if m[0] is not None]
        assert len(protected) > 0.9 * len(bits), uri
        for (clear, epb), b in protected:
            assert clear - epb == (b + 7) // 8, (uri, clear, epb, b)


@pytest.mark.parametrize("name", ["abr-640x360.mp4", "hevc.mp4"])
def test_the_clear_lead_covers_every_slice_header_of_the_test_media(media, name):
    """Where Origo does not measure slice headers (HEVC) it keeps the first 32 bytes of each
    picture NAL unit clear (CBCS.clearLead): on the test media every slice header fits in them."""
    sizes = slice_header_bits(os.path.join(media.root, name))
    assert len(sizes) == media.frames(name), len(sizes)
    assert (max(sizes) + 7) // 8 <= 32, max(sizes)
