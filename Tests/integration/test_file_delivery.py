"""Media file ranges leave Apache the way static files do, under the request's own directives:
with `EnableSendfile On` (what the launcher sets) the core sends them with sendfile; with
`EnableSendfile Off` and `EnableMMAP Off` (storage where files may change under a request) it
neither calls sendfile nor maps a media file, and the bytes are the same. TS segments, whose media
bytes the engine must copy into packets anyway, are copied from a shared mapping of the media file
where `EnableMMAP` allows it, and read with pread where it is Off. The system calls are watched with
strace on the Apache processes of each server."""

from __future__ import annotations

import re
import signal
import subprocess
import tempfile
import time

import pytest

import clients
import playlists as pl
from conftest import PrivateServer


def _pids(listen: str) -> list[str]:
    port = listen.rsplit(":", 1)[1]
    out = subprocess.run(["pgrep", "-f", f"/tmp/origo-httpd/{port}/conf/httpd.conf"],
                         capture_output=True, text=True, timeout=30).stdout.split()
    assert out, f"no Apache process found for {listen}"
    return out


def _get(url: str) -> bytes:
    r = clients.get(url, timeout=60)
    assert r.status == 200, url
    return r.body


def _traced(listen: str, urls: list[str], calls: str = "sendfile,mmap") -> tuple[list[bytes], str]:
    """The bodies of `urls`, fetched while strace watches `calls` in every process of the server
    on `listen`, and what strace saw."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as trace:
        args = ["strace", "-f", "-e", f"trace={calls}", "-o", trace.name]
        for pid in _pids(listen):
            args += ["-p", pid]
        tracer = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            # strace reports each process it attached to; requests before that would go unseen.
            deadline = time.monotonic() + 20
            attached = ""
            while time.monotonic() < deadline and len(re.findall(r"attached", attached)) < len(_pids(listen)):
                line = tracer.stderr.readline() if tracer.stderr else ""
                if not line and tracer.poll() is not None:
                    break
                attached += line
            assert tracer.poll() is None, f"strace could not attach:\n{attached}"
            bodies = [_get(u) for u in urls]
            time.sleep(0.3)
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=30)
        return bodies, open(trace.name).read()


def _one_child_server(root: str, directives: str):
    """Another Apache on `root` with `directives` for it, run as one process: what that process has
    loaded and mapped is what the next request sees. Yields its address; crash-free at the end."""
    site = PrivateServer(root, "StartServers 1\nServerLimit 1\nThreadsPerChild 25\nMaxRequestWorkers 25\n"
                               "MinSpareThreads 1\nMaxSpareThreads 25\n"
                               f'<Directory "{root}">\n{directives}</Directory>\n')
    yield site.listen
    crashes = site.stop()
    assert not crashes, "\n".join(crashes[:20])


@pytest.fixture(scope="module")
def plain_server(media):
    """A second Apache on the same media with sendfile and mapping turned off for it."""
    yield from _one_child_server(media.root, "  EnableSendfile Off\n  EnableMMAP Off\n")


def _segment_urls(base: str) -> list[str]:
    """A DASH video and audio segment of the ABR presentation (both are file ranges of the MP4s)."""
    mpd_url = f"{base}/abr.ism/.mpd"
    _, reps = pl.dash(mpd_url)
    video = next(r for r in reps if r.kind == "video")
    audio = next(r for r in reps if r.kind == "audio")
    return [pl.dash_segment_urls(mpd_url, video)[1][1], pl.dash_segment_urls(mpd_url, audio)[1][0]]


def test_media_ranges_follow_enable_sendfile_and_enable_mmap(server, plain_server):
    on_urls = _segment_urls(server.base)
    off_urls = _segment_urls(f"http://{plain_server}")
    assert [u.split("/", 3)[3] for u in on_urls] == [u.split("/", 3)[3] for u in off_urls]

    on_bodies, on_trace = _traced(server.listen, on_urls)
    off_bodies, off_trace = _traced(plain_server, off_urls)

    assert on_bodies == off_bodies
    assert all(len(b) > 10_000 for b in on_bodies), [len(b) for b in on_bodies]
    # EnableSendfile On: the media bytes go out with sendfile.
    sent = [int(n) for n in re.findall(r"sendfile\(.*\)\s+=\s+(\d+)", on_trace)]
    assert sum(sent) >= sum(len(b) for b in on_bodies) - 8192, on_trace[-3000:]
    # Off: no sendfile, and no shared (file) mapping: the core reads the file instead.
    assert "sendfile(" not in off_trace, off_trace[-3000:]
    assert not re.search(r"mmap\([^)]*MAP_SHARED", off_trace), off_trace[-3000:]


@pytest.fixture(scope="module")
def mapping_server(media):
    """A third Apache on the same media, fresh (no file mapped yet), with mapping allowed."""
    yield from _one_child_server(media.root, "  EnableMMAP On\n")


def _ts_segment_path(base: str) -> str:
    """The path of a TS segment (video and audio muxed) of the ABR presentation, middle of the list."""
    _, children = pl.master_children(f"{base}/abr.ism/.m3u8")
    segments = pl.media_playlist(children[0]).segment_urls
    return segments[len(segments) // 2].split("/", 3)[3]


def test_ts_segments_copy_from_a_mapping_unless_enable_mmap_is_off(mapping_server, plain_server):
    path = _ts_segment_path(f"http://{mapping_server}")
    assert path == _ts_segment_path(f"http://{plain_server}")
    # The one process of each server has loaded the presentation already (index reads use pread).

    (mapped,), mapped_trace = _traced(mapping_server, [f"http://{mapping_server}/{path}"], "mmap,pread64")
    (read,), read_trace = _traced(plain_server, [f"http://{plain_server}/{path}"], "mmap,pread64")

    assert mapped == read
    assert len(mapped) > 50_000 and len(mapped) % 188 == 0 and mapped[0] == 0x47
    def pread_bytes(trace: str) -> int:
        return sum(int(n) for n in re.findall(r"pread64\(.*\)\s+=\s+(\d+)", trace))
    # EnableMMAP On: the media files are mapped whole and shared; nothing of the samples is pread.
    assert re.search(r"mmap\(NULL, \d+, PROT_READ, MAP_SHARED, \d+, 0\)", mapped_trace), mapped_trace[-3000:]
    assert pread_bytes(mapped_trace) < len(mapped) // 10, mapped_trace[-3000:]
    # EnableMMAP Off: the samples are read (about the segment's size less the TS overhead), unmapped.
    assert pread_bytes(read_trace) > len(mapped) * 8 // 10, read_trace[-3000:]
    assert not re.search(r"mmap\([^)]*MAP_SHARED", read_trace), read_trace[-3000:]
