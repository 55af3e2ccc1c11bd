"""Remote MP4s addressed directly, `/<location>/<name>.mp4/<virtual path>` (issue #19 points 2 and 5).

- A ~44 MB H.264/AAC MP4, made at test time (noisy testsrc2 at 40 Mbit/s, ultrafast), with its
  `moov` at the end and a `+faststart` copy, plays HLS and DASH with every frame decoded through
  `IsmProxyPass` to a plain storage Apache and to S3 (moto, header and query signing). The
  storage's access log shows ranged reads only (a bounded `Range` smaller than the object, answered
  206), and asking for the manifest again reads nothing (the index cache).
- The client's query is never put on an S3-signed read: with a versioned bucket,
  `deleted.mp4/.m3u8?versionId=<the deleted version>` answers 404 and an overwritten object plays
  its current version; no `versionId` (nor `acl`) reaches S3.

S3 reads are logged by a plain Apache reverse proxy (test_remote.Storage with `backend`) in front
of moto, and in front of test_s3's verifying gate for query-signed reads. Every test runs on
Apache in both upstream modes (`UspEnableSubreq on` and `off`) and on nginx (`ism_proxy_pass`
with `s3_*`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass

import pytest

pytest.importorskip("boto3")

import clients  # noqa: E402
from conftest import PrivateServer, Remote, remote_site  # noqa: E402
from test_decode import FORMATS, check_decode  # noqa: E402
from test_remote import Storage, Threaded  # noqa: E402
from test_s3 import REGION, Moto, query_gate_handler  # noqa: E402

MODES = {"subreq": "on", "libcurl": "off"}  # Apache's upstream modes: UspEnableSubreq
# The sites: Apache in each mode, nginx.
SITES = [("apache", "subreq"), ("apache", "libcurl"), ("nginx", "")]
SECONDS, FPS, SAMPLE_RATE = 8, 25, 48000
BOUNDED_RANGE = re.compile(r"bytes=(\d+)-(\d+)$")


@dataclass
class BigMedia:
    dir: str
    sizes: dict[str, int]   # bytes of each file by name
    frames: int             # video frames of each
    min_audio_frames: int


@pytest.fixture(scope="module")
def big() -> BigMedia:
    """big.mp4 (moov after mdat, as ffmpeg writes it) and big-faststart.mp4 (moov first), ~44 MB
    each, in a world-readable directory; a few seconds on 2 cores."""
    directory = tempfile.mkdtemp(prefix="origo-big-", dir="/tmp")
    os.chmod(directory, 0o755)
    ff = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    subprocess.run(ff + [
        "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={FPS}:duration={SECONDS},noise=alls=40:allf=t",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={SAMPLE_RATE}:duration={SECONDS}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(2 * FPS),
        "-keyint_min", str(2 * FPS), "-sc_threshold", "0", "-b:v", "40M", "-maxrate", "40M", "-bufsize", "80M",
        "-c:a", "aac", "-b:a", "128k", "-map_metadata", "-1", "-fflags", "+bitexact",
        os.path.join(directory, "big.mp4")], check=True)
    subprocess.run(ff + ["-i", os.path.join(directory, "big.mp4"), "-c", "copy", "-movflags", "+faststart",
                         os.path.join(directory, "big-faststart.mp4")], check=True)
    sizes = {name: os.path.getsize(os.path.join(directory, name)) for name in ("big.mp4", "big-faststart.mp4")}
    assert min(sizes.values()) > 40_000_000, sizes
    frames = clients.ffprobe_video_frames(os.path.join(directory, "big.mp4"))
    assert frames == [SECONDS * FPS], frames
    yield BigMedia(directory, sizes, frames[0], int(0.95 * SECONDS * SAMPLE_RATE / 1024))
    shutil.rmtree(directory, ignore_errors=True)


def fill_buckets(big: BigMedia, media_root: str, versions: dict[str, str]):
    """moto setup beyond test_s3's: the big files in `media`, and a versioned bucket `versioned`
    with deleted.mp4 (one version, then deleted) and overwritten.mp4 (faststart.mp4, then ntsc.mp4).
    `versions` receives the first version id of each."""
    def prepare(s3) -> None:
        for name in ("big.mp4", "big-faststart.mp4"):
            s3.upload_file(os.path.join(big.dir, name), "media", name)
        s3.create_bucket(Bucket="versioned", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
        for key, sources in (("deleted.mp4", ["faststart.mp4"]), ("overwritten.mp4", ["faststart.mp4", "ntsc.mp4"])):
            for source in sources:
                with open(os.path.join(media_root, source), "rb") as f:
                    put = s3.put_object(Bucket="versioned", Key=key, Body=f.read())
                versions.setdefault(key, put["VersionId"])
        s3.delete_object(Bucket="versioned", Key="deleted.mp4")
    return prepare


@pytest.fixture(scope="module")
def upstreams(media, big):
    storage = Storage(big.dir)
    versions: dict[str, str] = {}
    moto = Moto(media.root, prepare=fill_buckets(big, media.root, versions))
    gate_seen = {"verified": 0, "denied": []}
    gate = Threaded(query_gate_handler(moto, gate_seen))
    s3 = Storage(None, backend=moto.endpoint)
    s3_gate = Storage(None, backend=f"http://127.0.0.1:{gate.port}")
    yield type("Upstreams", (), {"storage": storage, "moto": moto, "versions": versions, "gate_seen": gate_seen,
                                 "s3": s3, "s3_gate": s3_gate})
    for server in (storage, s3, s3_gate):
        server.stop()
    gate.stop()
    moto.stop()


@pytest.fixture(scope="module", params=SITES, ids=[f"{kind}-{mode}" if mode else kind for kind, mode in SITES])
def origo(request, upstreams):
    up = upstreams
    kind, mode = request.param
    subreq = f"UspEnableSubreq {MODES[mode]}" if mode else ""

    def s3(url: str, headers: str = "") -> Remote:
        return Remote(url, s3_key=up.moto.key, s3_secret=up.moto.secret, s3_region=REGION, s3_headers=headers,
                      apache=subreq)
    locations = {
        "proxy": Remote(up.storage.url(""), apache=subreq),
        "s3h": s3(up.s3.url("media/"), "on"),
        "s3q": s3(up.s3_gate.url("media/")),
        "s3hv": s3(up.s3.url("versioned/"), "on"),
        "s3qv": s3(up.s3_gate.url("versioned/")),
    }
    root = tempfile.mkdtemp(prefix=f"origo-direct-{kind}{mode}-")
    os.chmod(root, 0o755)
    server = PrivateServer(root, remote_site(kind, locations), kind)
    try:
        yield server
    finally:
        crashes = server.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert not crashes, f"{kind} children or workers crashed:\n" + "".join(crashes[:20])


def upstream_log(upstreams, where: str) -> Storage:
    """The access-logging Apache that a location's reads pass through."""
    return {"proxy": upstreams.storage, "s3h": upstreams.s3, "s3hv": upstreams.s3,
            "s3q": upstreams.s3_gate, "s3qv": upstreams.s3_gate}[where]


def reads_of(lines: list[dict], name: str) -> list[dict]:
    return [line for line in lines if urllib.parse.urlsplit(line["path"]).path.endswith("/" + name)]


# ------------------------------------------------------------------------------------------ tests

@pytest.mark.parametrize("fmt", ["hls-ts", "dash-time"])
@pytest.mark.parametrize("where,name", [("proxy", "big.mp4"), ("proxy", "big-faststart.mp4"),
                                        ("s3h", "big.mp4"), ("s3q", "big.mp4")])
def test_big_mp4_plays_with_ranged_reads_only(origo, upstreams, big, where, name, fmt):
    log = upstream_log(upstreams, where)
    manifest = origo.url(f"{where}/{name}/{FORMATS[fmt]}")
    mark = log.mark()
    check_decode(manifest, big.frames, 1, big.min_audio_frames)
    reads = reads_of(log.since(mark), name)
    assert reads, f"no read of {name} reached the storage"
    whole = [line for line in reads if line["status"] != "206" or not (m := BOUNDED_RANGE.match(line["range"]))
             or int(m[2]) - int(m[1]) + 1 >= big.sizes[name]]
    assert whole == [], f"reads of {name} that were not bounded ranges smaller than the object:\n{whole}"

    mark = log.mark()
    assert clients.get(manifest).status == 200
    assert log.since(mark) == [], "the manifest was asked for again and the storage read again"


@pytest.mark.parametrize("where", ["s3hv", "s3qv"])
def test_version_id_of_a_deleted_object_is_not_served(origo, upstreams, where):
    log = upstream_log(upstreams, where)
    mark = log.mark()
    r = clients.get(origo.url(f"{where}/deleted.mp4/.m3u8?versionId={upstreams.versions['deleted.mp4']}"))
    reads = log.since(mark)
    assert reads, "S3 was never asked"
    assert not [line for line in reads if "versionid" in line["path"].lower()], reads
    assert r.status == 404, f"{r.status}: the deleted object's old version was served"


@pytest.mark.parametrize("where", ["s3hv", "s3qv"])
def test_version_id_of_an_overwritten_object_plays_the_current_version(origo, upstreams, where):
    """overwritten.mp4 was faststart.mp4 (25 fps) in its first version and is ntsc.mp4 (30000/1001) now."""
    log = upstream_log(upstreams, where)
    mark = log.mark()
    r = clients.get(origo.url(f"{where}/overwritten.mp4/.mpd?versionId={upstreams.versions['overwritten.mp4']}"))
    assert not [line for line in log.since(mark) if "versionid" in line["path"].lower()]
    assert r.status == 200, r.body[:300]
    assert b'frameRate="30000/1001"' in r.body, r.body[:1500]


@pytest.mark.parametrize("query", ["versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "acl", "torrent"])
@pytest.mark.parametrize("where", ["s3h", "s3q"])
def test_s3_subresources_from_clients_are_never_signed(origo, upstreams, where, query):
    """A server manifest's fetch gets the client's query, except on S3: there it would be signed
    with the origin's credentials (`?acl` would read the object's ACL instead of the object)."""
    log = upstream_log(upstreams, where)
    mark = log.mark()
    r = clients.get(origo.url(f"{where}/abr.ism/.m3u8?{query}"))
    reads = log.since(mark)
    name = query.split("=")[0].lower()
    sent = [line["path"] for line in reads
            if name in (k.lower() for k in urllib.parse.parse_qs(urllib.parse.urlsplit(line["path"]).query,
                                                                  keep_blank_values=True))]
    assert sent == [], f"`{name}` reached S3:\n{sent}"
    assert r.status == 200, r.body[:300]
