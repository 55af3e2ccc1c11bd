"""Smooth Streaming PIFF 1.1 encryption and PlayReady signalling (Smooth and DASH), driven by
`iss.key` / `playready.key` in the server manifest.

Checked with tools that are not ours: Python's `uuid` (GUID byte order) and `openssl enc
-aes-128-ecb` (the key checksum) for the PlayReady header; Shaka Packager v3.8, which writes the
same PlayReady `pssh` byte for byte for the same key; ffmpeg 8.1 (`-decryption_key`) and Shaka
Packager (raw-key decryption) give back every clear sample of Smooth and DASH output; Debian's
ffmpeg decodes every frame of what Shaka Packager decrypted.

Neither decrypter reads PIFF's `uuid` sample encryption box (ffmpeg 8.1 ignores it and decrypts
whole samples with a zero IV; Shaka Packager finds no IVs), so the test renames it: PIFF 1.1
§5.3.2.1 and ISO/IEC 23001-7 `senc` have the same body when flag 1 (override) is not set, which
the test checks, so the box becomes a `senc` of the same body plus a `free` box that keeps every
offset in place. The IVs and subsamples the decrypters use are then exactly the bytes Origo wrote,
in the init segment of the same track (its DASH init segment: `encv`, `tenc` with the key ID)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import struct
import subprocess
import tempfile
import uuid
import xml.etree.ElementTree as ET

import pytest

import clients
from conftest import PrivateServer
from test_encryption import KEY, KID, decrypts_to, framemd5, ism_with, representation_file, samples, streamer_binary
from test_smooth import boxes, chunks

OTHER_KEY = KEY[::-1]
LA_URL = "https://pr.example/rightsmanager.asmx?cid=7&x=1"
PLAYREADY = bytes.fromhex("9a04f07998404286ab92e65be0885f95")
PIFF_SENC = bytes.fromhex("A2394F525A9B4F14A2446C427C648DF4")
WRM_NS = "{http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader}"


def xml_attr(text: str) -> str:
    return text.replace("&", "&amp;")


@pytest.fixture(scope="module")
def site(media):
    root = tempfile.mkdtemp(prefix="origo-playready-", dir="/tmp")
    vod = os.path.join(root, "vod")
    os.makedirs(vod)
    for name in os.listdir(media.root):
        if name.endswith(".mp4"):
            os.symlink(os.path.join(media.root, name), os.path.join(vod, name))
    presentations = {
        "clear.ism": {},
        "playready.ism": {"playready.key": f"{KID}:{KEY}", "playready.license_server_url": xml_attr(LA_URL),
                          "hls.playout": "clear"},
        "iss.ism": {"iss.key": f"{KID}:{KEY}", "iss.license_server_url": xml_attr(LA_URL), "iss.playout": "playready"},
        "mismatch.ism": {"cenc.key": f"{KID}:{KEY}", "playready.key": f"{KID}:{OTHER_KEY}"},
        "relative-url.ism": {"playready.key": f"{KID}:{KEY}", "playready.license_server_url": "/rightsmanager.asmx"},
    }
    for name, meta in presentations.items():
        with open(os.path.join(vod, name), "w") as f:
            f.write(ism_with(media.root, meta))
    for path, dirs, files in os.walk(root):
        os.chmod(path, 0o755)
        for f in files:
            os.chmod(os.path.join(path, f), 0o644)
    server = PrivateServer(root, "")
    yield server
    crashes = server.stop()
    shutil.rmtree(root, ignore_errors=True)
    assert not crashes, "\n".join(crashes[:20])


def parse_pro(pro: bytes) -> ET.Element:
    """The WRMHEADER of a PlayReady Object (little-endian length, record count, records of type
    1 in UTF-16LE), checking every length."""
    length, count = struct.unpack_from("<IH", pro, 0)
    assert length == len(pro) and count == 1, (length, len(pro), count)
    kind, size = struct.unpack_from("<HH", pro, 6)
    assert kind == 1 and 10 + size == len(pro), (kind, size)
    return ET.fromstring(pro[10:].decode("utf-16-le"))


def expected_kid_and_checksum() -> tuple[str, str]:
    """The KID in GUID byte order (Python's uuid.bytes_le) and the first 8 bytes of its AES-128-ECB
    encryption with the key (openssl), both base64, as the PlayReady header specification says."""
    guid = uuid.UUID(hex=KID).bytes_le
    proc = subprocess.run(["openssl", "enc", "-aes-128-ecb", "-nopad", "-K", KEY], input=guid,
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return base64.b64encode(guid).decode(), base64.b64encode(proc.stdout[:8]).decode()


def check_wrm_header(header: ET.Element, url: str | None) -> None:
    assert header.tag == WRM_NS + "WRMHEADER" and header.get("version") == "4.0.0.0"
    data = header.find(WRM_NS + "DATA")
    assert data.findtext(f"{WRM_NS}PROTECTINFO/{WRM_NS}ALGID") == "AESCTR"
    assert data.findtext(f"{WRM_NS}PROTECTINFO/{WRM_NS}KEYLEN") == "16"
    kid, checksum = expected_kid_and_checksum()
    assert data.findtext(WRM_NS + "KID") == kid
    assert data.findtext(WRM_NS + "CHECKSUM") == checksum
    assert data.findtext(WRM_NS + "LA_URL") == url


def pssh_boxes(data: bytes) -> dict[bytes, bytes]:
    """System ID → data of each `pssh` in the `moov` of an init segment."""
    out = {}
    for kind, s, e in boxes(data):
        if kind == "moov":
            for k2, s2, e2 in boxes(data, s, e):
                if k2 == "pssh":
                    out[data[s2 + 4:s2 + 20]] = pssh_data(data[s2 - 8:e2])
    return out


def pssh_data(box: bytes) -> bytes:
    size, kind, version = struct.unpack_from(">I4sB", box, 0)
    assert size == len(box) and kind == b"pssh"
    at = 28
    if version > 0:
        at += 4 + 16 * struct.unpack_from(">I", box, at)[0]
    (length,) = struct.unpack_from(">I", box, at)
    assert at + 4 + length == len(box)
    return box[at + 4:]


def test_the_smooth_manifest_carries_the_playready_header(site):
    for ism in ["playready.ism", "iss.ism"]:
        r = clients.get(site.url(f"vod/{ism}/Manifest"))
        assert r.status == 200, r.body[:300]
        assert KEY not in r.body.decode().lower()
        root = ET.fromstring(r.body)
        assert root[0].tag == "Protection", [c.tag for c in root]
        headers = root[0].findall("ProtectionHeader")
        assert [h.get("SystemID") for h in headers] == ["9A04F079-9840-4286-AB92-E65BE0885F95"]
        check_wrm_header(parse_pro(base64.b64decode(headers[0].text)), LA_URL)
    clear = ET.fromstring(clients.get(site.url("vod/clear.ism/Manifest")).body)
    assert clear.find("Protection") is None


def test_the_playready_pssh_is_shaka_packagers_byte_for_byte(site, media, tmp_path):
    """Shaka Packager, given the same key and license URL, writes the same PlayReady `pssh`."""
    init = str(tmp_path / "init.mp4")
    proc = subprocess.run([streamer_binary("packager-linux-x64"),
                           f"in={os.path.join(media.root, 'abr-416x234.mp4')},stream=video,init_segment={init},"
                           f"segment_template={tmp_path}/$Number$.m4s",
                           "--enable_raw_key_encryption", "--keys", f"label=:key_id={KID}:key={KEY}",
                           "--protection_systems", "PlayReady", "--protection_scheme", "cenc", "--clear_lead", "0",
                           "--playready_extra_header_data", f"<LA_URL>{xml_attr(LA_URL)}</LA_URL>",
                           "--mpd_output", str(tmp_path / "shaka.mpd")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = pssh_boxes(open(init, "rb").read())[PLAYREADY]
    ours = pssh_boxes(clients.get(site.url("vod/playready.ism/video=300000.dash")).body)[PLAYREADY]
    assert ours == theirs
    check_wrm_header(parse_pro(ours), LA_URL)


def test_the_mpd_signals_playready(site):
    mpd = clients.get(site.url("vod/playready.ism/.mpd"))
    assert mpd.status == 200
    text = mpd.body.decode()
    assert KEY not in text.lower()
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013", "mspr": "urn:microsoft:playready",
          "dashif": "https://dashif.org/CPS"}
    root = ET.fromstring(mpd.body)
    sets = root.findall("d:Period/d:AdaptationSet", ns)
    assert len(sets) == 3
    for adaptation in sets:
        systems = {cp.get("schemeIdUri"): cp for cp in adaptation.findall("d:ContentProtection", ns)}
        default = systems["urn:mpeg:dash:mp4protection:2011"]
        assert default.get("{urn:mpeg:cenc:2013}default_KID").replace("-", "") == KID
        playready = systems["urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95"]
        assert playready.get("value") == "MSPR 2.0"
        box = base64.b64decode(playready.findtext("cenc:pssh", namespaces=ns))
        assert box[12:28] == PLAYREADY
        pro = pssh_data(box)
        assert base64.b64decode(playready.findtext("mspr:pro", namespaces=ns)) == pro
        check_wrm_header(parse_pro(pro), LA_URL)
        assert playready.findtext("dashif:Laurl", namespaces=ns) == LA_URL
        # ClearKey stays, for EME's org.w3.clearkey.
        assert "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" in systems


def test_dash_with_playready_key_decrypts_to_the_clear_samples(site, tmp_path):
    for token in ["video=600000", "audio_eng=128000"]:
        secret, plain = str(tmp_path / f"{token}.enc.mp4"), str(tmp_path / f"{token}.mp4")
        representation_file(site, "playready.ism", token, secret)
        representation_file(site, "clear.ism", token, plain)
        assert PLAYREADY in pssh_boxes(open(secret, "rb").read())
        assert framemd5(secret, KEY) == framemd5(plain), token
        decrypts_to(secret, plain, "video" if token.startswith("video") else "audio")


def smooth_streams(site, ism: str) -> list[tuple[str, str, list[int]]]:
    """(track token, fragment URL template, fragment start times) of every quality level."""
    root = ET.fromstring(clients.get(site.url(f"vod/{ism}/Manifest")).body)
    out = []
    for stream in root.findall("StreamIndex"):
        name = re.search(r"Fragments\(([^=]+)=", stream.get("Url")).group(1)
        for quality in stream.findall("QualityLevel"):
            template = stream.get("Url").replace("{bitrate}", quality.get("Bitrate"))
            out.append((f"{name}={quality.get('Bitrate')}", template, [t for t, _ in chunks(stream)]))
    return out


def piff_box_as_senc(fragment: bytes, video: bool) -> bytes:
    """The fragment with its PIFF sample encryption box turned into `senc` + `free` (same bytes in
    the same places otherwise), after checking the box: in `traf`, version 0, flags 2 for video
    (subsamples) and 0 for audio, never 1 (override), one IV of 8 bytes per sample of `trun`,
    subsample runs that cover each sample; no `senc`/`saiz`/`saio` of its own."""
    out = bytearray(fragment)
    found = 0
    for kind, s, e in boxes(fragment):
        if kind != "moof":
            continue
        for k2, s2, e2 in boxes(fragment, s, e):
            if k2 != "traf":
                continue
            children = list(boxes(fragment, s2, e2))
            assert not {"senc", "saiz", "saio"} & {k for k, _, _ in children}, children
            trun = next((s3, e3) for k3, s3, e3 in children if k3 == "trun")
            trun_flags = struct.unpack(">I", fragment[trun[0]:trun[0] + 4])[0] & 0xFFFFFF
            samples = struct.unpack(">I", fragment[trun[0] + 4:trun[0] + 8])[0]
            assert trun_flags & 0x300 == 0x300, hex(trun_flags)     # durations and sizes per sample
            fields = bin(trun_flags & 0xF00).count("1")
            first = trun[0] + 8 + (4 if trun_flags & 1 else 0) + (4 if trun_flags & 4 else 0)
            sizes = [struct.unpack(">I", fragment[first + i * 4 * fields + 4:first + i * 4 * fields + 8])[0]
                     for i in range(samples)]
            for k3, s3, e3 in children:
                if k3 != "uuid" or fragment[s3:s3 + 16] != PIFF_SENC:
                    continue
                found += 1
                version, flags, count = struct.unpack(">B3sI", fragment[s3 + 16:s3 + 24])
                flags = int.from_bytes(flags, "big")
                assert (version, flags, count) == (0, 2 if video else 0, samples), (version, flags, count, samples)
                at = s3 + 24
                for size in sizes:
                    at += 8
                    if video:
                        (n,) = struct.unpack(">H", fragment[at:at + 2])
                        runs = [struct.unpack(">HI", fragment[at + 2 + 6 * j:at + 8 + 6 * j]) for j in range(n)]
                        assert sum(c + p for c, p in runs) == size and all(p % 16 == 0 for _, p in runs), runs
                        at += 2 + 6 * n
                assert at == e3, "PIFF box size does not match its samples"
                box_start = s3 - 8
                out[box_start:e3] = (struct.pack(">I4s", e3 - box_start - 16, b"senc") + fragment[s3 + 16:e3]
                                     + struct.pack(">I4s", 16, b"free") + bytes(8))
    assert found == 1, found
    return bytes(out)


def smooth_file(site, ism: str, token: str, template: str, times: list[int], path: str, convert: bool) -> None:
    """The track's DASH init segment (of `ism`: encrypted when it is), then every Smooth fragment."""
    with open(path, "wb") as out:
        init = clients.get(site.url(f"vod/{ism}/{token}.dash"))
        assert init.status == 200
        out.write(init.body)
        for t in times:
            r = clients.get(site.url(f"vod/{ism}/" + template.replace("{start time}", str(t))))
            assert r.status == 200, (token, t, r.status)
            out.write(piff_box_as_senc(r.body, token.startswith("video")) if convert else r.body)


def test_smooth_piff_decrypts_to_the_clear_samples_and_every_frame_decodes(site, media, tmp_path):
    streams = smooth_streams(site, "playready.ism")
    assert len(streams) == 5 and streams == smooth_streams(site, "clear.ism")
    for token, template, times in streams:
        secret, plain = str(tmp_path / f"{token}.enc.mp4"), str(tmp_path / f"{token}.mp4")
        smooth_file(site, "playready.ism", token, template, times, secret, convert=True)
        smooth_file(site, "clear.ism", token, template, times, plain, convert=False)
        # The init segment's timescale is not the fragments' 10 MHz: compare samples, not times.
        kind = "video" if token.startswith("video") else "audio"
        decrypted = decrypts_to(secret, plain, kind)
        assert samples(framemd5(secret, OTHER_KEY)) != samples(framemd5(plain)), token
        # Every frame of what Shaka Packager decrypted decodes (Debian's ffmpeg), as many as in the clear.
        played, reference = clients.ffmpeg_decode(decrypted), clients.ffmpeg_decode(plain)
        assert played.errors == [] and reference.errors == [], played.summary()
        if kind == "video":
            source = {"video=300000": "abr-416x234.mp4", "video=600000": "abr-640x360.mp4",
                      "video=1200000": "abr-960x540.mp4"}[token]
            assert played.video_frames == reference.video_frames == [media.frames(source)], played.summary()
        else:
            assert played.audio_frames == reference.audio_frames and played.audio_frames[0] > 0, played.summary()


def test_encrypted_smooth_fragments_differ_from_clear_ones(site):
    token, template, times = smooth_streams(site, "iss.ism")[0]
    url = template.replace("{start time}", str(times[1]))
    secret = clients.get(site.url(f"vod/iss.ism/{url}"))
    plain = clients.get(site.url(f"vod/clear.ism/{url}"))
    assert secret.status == plain.status == 200
    assert secret.header("etag") != plain.header("etag")
    assert PIFF_SENC in secret.body and PIFF_SENC not in plain.body
    assert len(secret.body) > len(plain.body)


def test_the_drm_rule_and_bad_options(site):
    log = site.log_size()
    # iss.key protects Smooth only: DASH, HLS and HDS are refused (DRM rule).
    for path in [".mpd", ".m3u8", ".f4m"]:
        assert clients.get(site.url(f"vod/iss.ism/{path}")).status == 403, path
    # playready.key protects Smooth and DASH; HLS has hls.playout=clear.
    for path in ["Manifest", ".mpd", ".m3u8"]:
        assert clients.get(site.url(f"vod/playready.ism/{path}")).status == 200, path
    for path in [".mpd", "Manifest"]:
        assert clients.get(site.url(f"vod/mismatch.ism/{path}")).status == 400
        assert clients.get(site.url(f"vod/relative-url.ism/{path}")).status == 400
    text = site.log_since(log)
    assert "server manifest options cenc.key and playready.key name different keys" in text
    assert "server manifest option playready.license_server_url must be an absolute URL" in text
    assert KEY not in text.lower() and OTHER_KEY not in text.lower()
