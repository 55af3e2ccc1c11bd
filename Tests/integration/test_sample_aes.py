"""HLS SAMPLE-AES of TS segments (`hls.playout=sample_aes` with `hls.key`), with the key served by
Apache as a static file at `hls.license_server_url`. Independent decrypters decide:

- openssl (AES-128-ECB of the encrypted blocks, chained here) decrypts every protected H.264 slice
  and AAC frame of every segment of every rendition, media and I-frame playlists, back to the clear
  stream's bytes, and every byte outside the encrypted blocks is the clear stream's;
- Debian's ffmpeg 5.1 and the static ffmpeg 8.1 play every rendition (H.264 with AAC, AC-3 and
  E-AC-3, and the I-frame playlists) and every decoded video and audio frame equals the clear
  stream's (framemd5 of the decoded output).

ffmpeg's HLS demuxer decrypts a packet with the IV of the segment it is reading when the packet
comes out of its H.264 parser, which holds each segment's last access unit until the next segment
starts: with the default IVs (the media sequence number) it decrypts that access unit with the next
segment's IV, and the stream's very last one not at all (Shaka Packager's SAMPLE-AES output shows
the same). So the exact ffmpeg comparisons use `hls.key_iv` (one IV for every segment) and play the
playlist with two more segments after its end; the default IVs are checked exactly by openssl
(every segment) and by ffmpeg for the audio playlists, which its parser does not delay. A wrong key
does not give the clear frames back, and codecs the format does not cover are refused."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

import clients
from test_cpix import AUDIO_KEY, VIDEO_KEY, cpix
from test_encryption import IV, KEY, example_site, ism_with, lines, streamer_binary, uris

WRONG_KEY = "00112233445566778899aabbccddeef0"
# Client manifest version 1: audio and video muxed in each TS segment.
MUXED = "hls.client_manifest_version=1"


def single_ism(media_root: str, source: str, meta: dict[str, str]) -> str:
    """A server manifest of the video and the audio track of one MP4 (`ac3.mp4`, `eac3.mp4`)."""
    head = "".join(f'<meta name="{k}" content="{v}" />' for k, v in meta.items())
    return (f'<smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head>{head}</head><body><switch>'
            f'<video src="{source}" systemBitrate="600000"><param name="trackID" value="1" valueType="data" /></video>'
            f'<audio src="{source}" systemBitrate="192000"><param name="trackID" value="2" valueType="data" /></audio>'
            f'</switch></body></smil>')


@pytest.fixture(scope="module")
def site(media):
    site, vod, keys = example_site(media)
    for name in os.listdir(media.root):
        if name.endswith((".mp4", ".vtt", ".srt")):
            os.symlink(os.path.join(media.root, name), os.path.join(vod, name))
    for name, key in [("abr.key", KEY), ("wrong.key", WRONG_KEY), ("video.key", VIDEO_KEY), ("audio.key", AUDIO_KEY)]:
        with open(os.path.join(keys, name), "wb") as f:
            f.write(bytes.fromhex(key))
    key_url, wrong_url = site.url("keys/abr.key"), site.url("keys/wrong.key")
    saes = {"hls.key": f":{KEY}", "hls.license_server_url": key_url, "hls.playout": "sample_aes"}
    presentations = {
        "clear.ism": ism_with(media.root, {}),
        "saes.ism": ism_with(media.root, saes),
        "saes-iv.ism": ism_with(media.root, {**saes, "hls.key_iv": f"0x{IV}"}),
        "saes-wrong.ism": ism_with(media.root, {**saes, "hls.license_server_url": wrong_url}),
        "saes-fps.ism": ism_with(media.root, {**saes, "hls.playout": "sample_aes_streamingkeydelivery",
                                             "hls.license_server_url": "skd://keys.example/abr"}),
        "saes-fps-https.ism": ism_with(media.root, {**saes, "hls.playout": "sample_aes_streamingkeydelivery"}),
        "saes-hevc.ism": single_ism(media.root, "hevc.mp4", saes),
        # Keys from a CPIX document, one for video and one for audio, each with its key URI.
        "abr.cpix.xml": cpix(site.url("keys")),
        "saes-cpix.ism": ism_with(media.root, {"cpix": "abr.cpix.xml", "hls.playout": "sample_aes"}),
        "saes-subs.ism": open(os.path.join(media.root, "subs.ism")).read().replace(
            "<head>", "<head>" + "".join(f'<meta name="{k}" content="{v}" />' for k, v in saes.items()), 1),
    }
    for source in ["ac3.mp4", "eac3.mp4"]:
        base = source.removesuffix(".mp4")
        presentations[f"clear-{base}.ism"] = single_ism(media.root, source, {})
        presentations[f"saes-{base}.ism"] = single_ism(media.root, source, {**saes, "hls.key_iv": f"0x{IV}"})
    for name, text in presentations.items():
        with open(os.path.join(vod, name), "w") as f:
            f.write(text)
    for root, dirs, files in os.walk(site.dir):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            if not os.path.islink(os.path.join(root, f)):
                os.chmod(os.path.join(root, f), 0o644)
    yield site
    crashes = site.stop()
    assert not crashes, "\n".join(crashes[:20])


def decoded(url: str, ffmpeg: str = "ffmpeg") -> dict[str, list[str]]:
    """framemd5 of every decoded frame (timestamps, size, MD5), per stream, as `ffmpeg` plays the
    playlist at `url` (a local file may name http segments); fails on an ffmpeg failure."""
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-allowed_extensions", "ALL",
           "-protocol_whitelist", "file,http,tcp,crypto", "-i", url, "-map", "0", "-f", "framemd5", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        if line and not line.startswith("#"):
            stream, rest = line.split(",", 1)
            out.setdefault(stream.strip(), []).append(rest)
    return out


def media_playlists(site, ism: str) -> list[str]:
    master = clients.get(site.url(f"vod/{ism}/.m3u8"))
    assert master.status == 200, master.status
    found = uris(master.body) + re.findall(r'#EXT-X-MEDIA:TYPE=AUDIO[^\n]*URI="([^"]+)"', master.body.decode())
    return sorted(set(found))


def twin(path: str, ism: str, other: str) -> str:
    """`path` (a playlist or segment of presentation `ism`) as presentation `other` names it."""
    return path.replace(ism.removesuffix(".ism") + "-", other.removesuffix(".ism") + "-", 1)


def with_one_more_segment(site, ism: str, playlist: str, path: str) -> str:
    """A local copy of media playlist `playlist` of `ism` whose segments are absolute URLs, with its
    first segment played twice more after its end, so that ffmpeg's parser gives the last access
    unit back while the (fixed-IV) key still applies; returns the copy's path."""
    text = clients.get(site.url(f"vod/{ism}/{playlist}")).body.decode()
    base = site.url(f"vod/{ism}/{playlist.rsplit('/', 1)[0] + '/' if '/' in playlist else ''}")
    out = [line if not line or line.startswith("#") else base + line for line in text.splitlines()]
    first = next(line for line in out if line and not line.startswith("#"))
    # Twice: a segment's last PES leaves ffmpeg's TS demuxer only when the next segment starts.
    out[out.index("#EXT-X-ENDLIST")] = f"#EXTINF:1,\n{first}\n#EXTINF:1,\n{first}\n#EXT-X-ENDLIST"
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path


def assert_same_frames(secret: dict[str, list[str]], clear: dict[str, list[str]], what: str) -> None:
    """Every stream of `clear` decoded frame for frame in `secret` (which may go on: the extra
    segment, after which timestamps jump, so only duration, size and MD5 of each frame count)."""
    assert clear and secret.keys() == clear.keys(), (what, secret.keys(), clear.keys())
    for stream, frames in clear.items():
        assert len(secret[stream]) >= len(frames), (what, stream)
        content = [line.split(",")[2:] for line in secret[stream]]
        mismatched = [(i, a, b) for i, (a, b) in enumerate(zip(content, (line.split(",")[2:] for line in frames))) if a != b]
        assert mismatched == [], (what, stream, len(frames), mismatched[:3])


def exact_ffmpeg_comparison(site, tmp_path, ism: str, clear_ism: str, playlist: str, ffmpeg: str = "ffmpeg") -> None:
    secret = decoded(with_one_more_segment(site, ism, playlist, str(tmp_path / "secret.m3u8")), ffmpeg)
    clear = decoded(site.url(f"vod/{clear_ism}/{twin(playlist, ism, clear_ism)}"), ffmpeg)
    assert_same_frames(secret, clear, playlist)


def test_ffmpeg_decodes_every_rendition_to_the_clear_frames(site, media, tmp_path):
    muxed = uris(clients.get(site.url(f"vod/saes-iv.ism/.m3u8?{MUXED}")).body)
    exact_ffmpeg_comparison(site, tmp_path, "saes-iv.ism", "clear.ism", muxed[0])
    playlists = media_playlists(site, "saes-iv.ism")
    assert [twin(p, "saes-iv.ism", "clear.ism") for p in playlists] == media_playlists(site, "clear.ism"), playlists
    assert len(playlists) >= 5, playlists
    for playlist in playlists:
        exact_ffmpeg_comparison(site, tmp_path, "saes-iv.ism", "clear.ism", playlist)
    # With the default IVs (each segment's number), ffmpeg's parser delay does not touch audio:
    # every audio playlist decodes exactly as it is served.
    for playlist in media_playlists(site, "saes.ism"):
        if "audio" in playlist and "video" not in playlist:
            assert_same_frames(decoded(site.url(f"vod/saes.ism/{playlist}")),
                               decoded(site.url(f"vod/clear.ism/{twin(playlist, 'saes.ism', 'clear.ism')}")), playlist)
    # Every rendition of the master at once: the clear stream's frame counts. (With the default IVs
    # ffmpeg 5.1 playing the whole master fails on about a fifth of the audio frames, though each
    # audio playlist alone decodes exactly, as above.)
    clear = clients.ffmpeg_decode(site.url("vod/clear.ism/.m3u8"))
    assert clear.video_frames == [media.frames("abr-640x360.mp4")] * 3, clear.summary()
    played = clients.ffmpeg_decode(site.url("vod/saes-iv.ism/.m3u8"), extra_input_args=["-allowed_extensions", "ALL"])
    assert played.video_frames == clear.video_frames, played.summary()
    assert played.audio_frames == clear.audio_frames, played.summary()


def test_ffmpeg_8_decodes_to_the_clear_frames_too(site, tmp_path):
    ffmpeg8 = streamer_binary("ffmpeg-linux-x64")
    playlists = media_playlists(site, "saes-iv.ism")
    for playlist in [playlists[0], playlists[-1]]:
        exact_ffmpeg_comparison(site, tmp_path, "saes-iv.ism", "clear.ism", playlist, ffmpeg8)


@pytest.mark.parametrize("codec", ["ac3", "eac3"])
def test_ac3_and_eac3_audio_decode_to_the_clear_frames(site, tmp_path, codec):
    playlists = media_playlists(site, f"saes-{codec}.ism")
    assert playlists, playlists
    for playlist in playlists:
        exact_ffmpeg_comparison(site, tmp_path, f"saes-{codec}.ism", f"clear-{codec}.ism", playlist)
    # The PMT names the encrypted codec and carries its setup information.
    segment = uris(clients.get(site.url(f"vod/saes-{codec}.ism/{playlists[0]}")).body)[0]
    pmt, _ = ts_streams(clients.get(site.url(f"vod/saes-{codec}.ism/{segment}")).body)
    kind, descriptors = pmt[0x101]
    assert kind == {"ac3": 0xC1, "eac3": 0xC2}[codec]
    assert descriptors[:6] == bytes.fromhex("0f04") + {"ac3": b"ac3d", "eac3": b"ec3d"}[codec]
    assert descriptors[8:16] == b"apad" + {"ac3": b"zac3", "eac3": b"zec3"}[codec], descriptors.hex()
    if codec == "ac3":
        assert descriptors[20:22] == b"\x0b\x77"             # the setup data is a syncframe's start


def test_iframe_playlists_decode_to_the_clear_key_frames(site, tmp_path):
    master = clients.get(site.url("vod/saes-iv.ism/.m3u8")).body.decode()
    iframes = re.findall(r'#EXT-X-I-FRAME-STREAM-INF:[^\n]*URI="([^"]+)"', master)
    assert len(iframes) == 3, master
    for iframe in iframes:
        playlist = clients.get(site.url(f"vod/saes-iv.ism/{iframe}")).body.decode()
        assert f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{site.url("keys/abr.key")}",IV=0x{IV.upper()}' in playlist
        clear = decoded(site.url(f"vod/clear.ism/{twin(iframe, 'saes-iv.ism', 'clear.ism')}"))
        assert len(clear["0"]) == len(uris(playlist.encode())), iframe
        exact_ffmpeg_comparison(site, tmp_path, "saes-iv.ism", "clear.ism", iframe)


def test_a_wrong_key_does_not_give_the_clear_frames(site, tmp_path):
    playlist = media_playlists(site, "saes-wrong.ism")[-1]
    assert "video" in playlist
    clear = decoded(site.url(f"vod/clear.ism/{twin(playlist, 'saes-wrong.ism', 'clear.ism')}"))["0"]
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-allowed_extensions", "ALL",
           "-i", site.url(f"vod/saes-wrong.ism/{playlist}"), "-map", "0", "-f", "framemd5", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    wrong = [line.split(",", 1)[1] for line in proc.stdout.splitlines() if line and not line.startswith("#")]
    same = set(wrong) & set(clear)
    # Frames whose slices are all 48 bytes or less are never encrypted; every other one differs.
    assert len(same) < len(clear) // 10, (len(same), len(clear))


# ------------------------------------------------------------------------------------ TS bytes

def ts_streams(data: bytes) -> tuple[dict[int, tuple[int, bytes]], dict[int, list[bytes]]]:
    """The PMT's streams (PID: stream type, ES_info descriptors) and every PES payload per PID."""
    assert len(data) % 188 == 0
    pes: dict[int, list[bytearray]] = {}
    pmt: dict[int, tuple[int, bytes]] = {}
    for at in range(0, len(data), 188):
        packet = data[at:at + 188]
        assert packet[0] == 0x47
        pid = (packet[1] & 0x1F) << 8 | packet[2]
        start = bool(packet[1] & 0x40)
        payload_at = 4 + (1 + packet[4] if packet[3] & 0x20 else 0)
        if not packet[3] & 0x10:
            continue
        payload = packet[payload_at:]
        if pid == 0x1000:
            section = payload[1 + payload[0]:]
            length = (section[1] & 0x0F) << 8 | section[2]
            info_length = (section[10] & 0x0F) << 8 | section[11]
            i = 12 + info_length
            while i < 3 + length - 4:
                kind, es_pid = section[i], (section[i + 1] & 0x1F) << 8 | section[i + 2]
                es_length = (section[i + 3] & 0x0F) << 8 | section[i + 4]
                pmt[es_pid] = (kind, bytes(section[i + 5:i + 5 + es_length]))
                i += 5 + es_length
        elif pid not in (0, 0x1FFF):
            if start:
                pes.setdefault(pid, []).append(bytearray())
            if pes.get(pid):
                pes[pid][-1] += payload
    out = {}
    for pid, packets in pes.items():
        out[pid] = [bytes(p[9 + p[8]:]) for p in packets]       # past the PES header
    return pmt, out


def nal_units(es: bytes) -> list[bytes]:
    units = (unit.rstrip(b"\x00") for unit in re.split(b"\x00\x00\x01", es))
    return [unit for unit in units if unit]


def unescape(nal: bytes) -> bytes:
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def adts_frames(es: bytes) -> list[bytes]:
    frames = []
    while len(es) >= 7:
        length = (es[3] & 0x03) << 11 | es[4] << 3 | es[5] >> 5
        frames.append(es[:length])
        es = es[length:]
    return frames


def openssl_cbc(chains: list[tuple[bytes, bytes]], key: str = KEY) -> list[bytes]:
    """Decrypts CBC chains (IV, ciphertext) in one openssl run: AES-128-ECB of every block, each
    XORed here with the block before it in its chain (the IV for the first)."""
    blob = b"".join(cipher for _, cipher in chains)
    proc = subprocess.run(["openssl", "enc", "-d", "-aes-128-ecb", "-nopad", "-K", key],
                          input=blob, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out, at = [], 0
    for iv, cipher in chains:
        previous, plain = iv, bytearray()
        for i in range(0, len(cipher), 16):
            plain += bytes(a ^ b for a, b in zip(proc.stdout[at + i:at + i + 16], previous))
            previous = cipher[i:i + 16]
        out.append(bytes(plain))
        at += len(cipher)
    return out


def check_segment(secret: bytes, plain: bytes, iv: bytes, key: str = KEY) -> tuple[int, int]:
    """Checks one SAMPLE-AES segment against the clear one: the PMT signals it, every protected
    slice and AAC frame decrypts (openssl) to the clear bytes, everything else is the clear bytes.
    Returns the numbers of encrypted NAL units and audio frames."""
    pmt, streams = ts_streams(secret)
    clear_pmt, clear_streams = ts_streams(plain)
    if 0x100 in clear_pmt:
        assert pmt[0x100] == (0xDB, bytes.fromhex("0f04") + b"zavc")
        assert clear_pmt[0x100][0] == 0x1B
    if 0x101 in clear_pmt:
        kind, descriptors = pmt[0x101]
        assert kind == 0xCF and clear_pmt[0x101][0] == 0x0F
        # private_data_indicator 'aacd'; registration_descriptor 'apad' with the audio setup
        # information: audio_type, priming, version 1, the AudioSpecificConfig.
        assert descriptors[:6] == bytes.fromhex("0f04") + b"aacd", descriptors.hex()
        apad = descriptors[6:]
        assert apad[0] == 0x05 and apad[1] == len(apad) - 2 and apad[2:10] == b"apadzaac", apad.hex()
        assert apad[10:13] == b"\x00\x00\x01" and apad[13] == len(apad) - 14 >= 2, apad.hex()
    checks = []      # (what to compare, the bytes with their encrypted blocks still to decrypt, block positions)
    chains = []
    for secret_pes, clear_pes in zip(streams.get(0x100, []), clear_streams.get(0x100, []), strict=True):
        for secret_nal, clear_nal in zip(nal_units(secret_pes), nal_units(clear_pes), strict=True):
            if clear_nal[0] & 0x1F in (1, 5) and len(clear_nal) > 48:
                # No start code emulation once encrypted.
                assert not re.search(b"\x00\x00[\x00-\x02]", secret_nal)
                body = unescape(secret_nal)
                assert len(body) == len(clear_nal)
                blocks = list(range(32, len(body) - 16, 160))
                assert body[32:48] != clear_nal[32:48]
                checks.append((clear_nal, body, blocks))
                chains.append((iv, b"".join(body[b:b + 16] for b in blocks)))
            else:
                assert secret_nal == clear_nal
    nals = len(checks)
    for secret_pes, clear_pes in zip(streams.get(0x101, []), clear_streams.get(0x101, []), strict=True):
        for secret_frame, clear_frame in zip(adts_frames(secret_pes), adts_frames(clear_pes), strict=True):
            blocks = list(range(7 + 16, len(clear_frame) - 15, 16))
            assert len(secret_frame) == len(clear_frame)
            checks.append((clear_frame, secret_frame, blocks))
            chains.append((iv, b"".join(secret_frame[b:b + 16] for b in blocks)))
    for (clear, body, blocks), plain in zip(checks, openssl_cbc(chains, key), strict=True):
        restored = bytearray(body)
        for k, b in enumerate(blocks):
            restored[b:b + 16] = plain[16 * k:16 * k + 16]
        assert bytes(restored) == clear
    return nals, len(checks) - nals


def test_openssl_decrypts_every_sample_of_every_segment_to_the_clear_bytes(site):
    """Media and I-frame playlists with the default IVs (each segment's number)."""
    master = clients.get(site.url("vod/saes.ism/.m3u8")).body.decode()
    muxed = uris(clients.get(site.url(f"vod/saes.ism/.m3u8?{MUXED}")).body)
    assert len(muxed) == 3 and all("audio" in p and "video" in p for p in muxed), muxed
    playlists = media_playlists(site, "saes.ism") + muxed + re.findall(r'#EXT-X-I-FRAME-STREAM-INF:[^\n]*URI="([^"]+)"', master)
    nals = frames = 0
    for playlist in playlists:
        directory = playlist.rsplit("/", 1)[0] + "/" if "/" in playlist else ""
        for segment in uris(clients.get(site.url(f"vod/saes.ism/{playlist}")).body):
            number = int(re.search(r"-(\d+)\.ts(\?|$)", segment).group(1))
            secret = clients.get(site.url(f"vod/saes.ism/{directory}{segment}"))
            plain = clients.get(site.url(f"vod/clear.ism/{directory}{twin(segment, 'saes.ism', 'clear.ism')}"))
            assert secret.status == plain.status == 200, segment
            assert secret.headers["etag"] != plain.headers["etag"]
            n, f = check_segment(secret.body, plain.body, number.to_bytes(16, "big"))
            nals, frames = nals + n, frames + f
    assert nals > 3 * 250 and frames > 2 * 400, (nals, frames)


def test_cpix_keys_encrypt_audio_and_video_each_with_its_own(site):
    """A CPIX document gives video and audio tracks separate keys: each playlist names its track's
    key URI with METHOD=SAMPLE-AES, and each track's segments decrypt with its key (openssl)."""
    for playlist in media_playlists(site, "saes-cpix.ism"):
        name = "video" if "video" in playlist else "audio"
        body = clients.get(site.url(f"vod/saes-cpix.ism/{playlist}")).body
        assert [line for line in lines(body) if line.startswith("#EXT-X-KEY")] == \
            [f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{site.url(f"keys/{name}.key")}"'], playlist
        segment = uris(body)[1]
        secret = clients.get(site.url(f"vod/saes-cpix.ism/{segment}")).body
        plain = clients.get(site.url(f"vod/clear.ism/{twin(segment, 'saes-cpix.ism', 'clear.ism')}")).body
        nals, frames = check_segment(secret, plain, (2).to_bytes(16, "big"), VIDEO_KEY if name == "video" else AUDIO_KEY)
        assert (nals > 0) == (name == "video") and (frames > 0) == (name == "audio"), (playlist, nals, frames)
        with pytest.raises(AssertionError):      # the other track's key gives other bytes
            check_segment(secret, plain, (2).to_bytes(16, "big"), AUDIO_KEY if name == "video" else VIDEO_KEY)


def test_playlists_name_the_key_and_subtitles_stay_clear(site):
    master = clients.get(site.url("vod/saes.ism/.m3u8")).body.decode()
    key_url = site.url("keys/abr.key")
    assert f'#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="{key_url}"\n' in master
    assert "#EXT-X-VERSION:5" in master and KEY not in master.lower()
    for playlist in media_playlists(site, "saes.ism"):
        text = clients.get(site.url(f"vod/saes.ism/{playlist}")).body.decode()
        assert [line for line in lines(text.encode()) if line.startswith("#EXT-X-KEY")] == \
            [f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{key_url}"'], playlist
        assert "#EXT-X-VERSION:5" in text
    # A fixed IV goes into every key line, the session key's too.
    text = clients.get(site.url("vod/saes-iv.ism/.m3u8")).body.decode()
    assert f'#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="{key_url}",IV=0x{IV.upper()}\n' in text
    # FairPlay signalling: the same encryption, the key format and the skd:// URI.
    fps = clients.get(site.url("vod/saes-fps.ism/.m3u8")).body.decode()
    attributes = 'METHOD=SAMPLE-AES,URI="skd://keys.example/abr",KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"'
    assert f"#EXT-X-SESSION-KEY:{attributes}\n" in fps
    assert f"#EXT-X-KEY:{attributes}\n" in clients.get(site.url(f"vod/saes-fps.ism/{uris(fps.encode())[0]}")).body.decode()
    assert clients.get(site.url("vod/saes-fps-https.ism/.m3u8")).status == 400
    # WebVTT has no sample encryption: subtitle playlists carry no key and segments are clear.
    master = clients.get(site.url("vod/saes-subs.ism/.m3u8")).body.decode()
    subtitles = re.findall(r'#EXT-X-MEDIA:TYPE=SUBTITLES[^\n]*URI="([^"]+)"', master)
    assert subtitles, master
    for playlist in subtitles:
        text = clients.get(site.url(f"vod/saes-subs.ism/{playlist}")).body.decode()
        assert "#EXT-X-KEY" not in text, text
        segment = clients.get(site.url(f"vod/saes-subs.ism/{uris(text.encode())[0]}"))
        assert segment.status == 200 and segment.body.startswith(b"WEBVTT"), segment.body[:40]


def test_codecs_without_sample_encryption_are_refused_and_fmp4_is_cbcs(site):
    log = site.log_size()
    master = clients.get(site.url("vod/saes-hevc.ism/.m3u8"))
    assert master.status == 200
    video = next(p for p in uris(master.body) if "video" in p)
    assert clients.get(site.url(f"vod/saes-hevc.ism/{video}")).status == 501
    segment = video.replace(".m3u8", "-1.ts")
    assert clients.get(site.url(f"vod/saes-hevc.ism/{segment}")).status == 501
    # fMP4 under hls.playout=sample_aes is Common Encryption cbcs (test_cbcs.py decrypts it).
    fmp4 = clients.get(site.url("vod/saes.ism/.m3u8?hls.fmp4=true"))
    assert fmp4.status == 200 and 'METHOD=SAMPLE-AES' in fmp4.body.decode() and 'KEYFORMAT="identity"' in fmp4.body.decode()
    assert clients.get(site.url("vod/saes.ism/.mpd")).status == 403          # the DRM rule
    text = site.log_since(log)
    assert "SAMPLE-AES" in text and KEY not in text.lower()
