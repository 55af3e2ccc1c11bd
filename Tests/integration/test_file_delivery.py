"""Media file ranges leave Apache the way static files do, under the request's own directives:
with `EnableSendfile On` (what the launcher sets) the core sends them with sendfile; with
`EnableSendfile Off` and `EnableMMAP Off` (storage where files may change under a request) it
neither calls sendfile nor maps a media file, and the bytes are the same. The system calls are
watched with strace on the Apache processes of each server."""

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


def _traced(listen: str, urls: list[str]) -> tuple[list[bytes], str]:
    """The bodies of `urls`, fetched while strace watches every process of the server on `listen`
    (sendfile, mmap), and what strace saw."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as trace:
        args = ["strace", "-f", "-e", "trace=sendfile,mmap", "-o", trace.name]
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


@pytest.fixture(scope="module")
def plain_server(media):
    """A second Apache on the same media with sendfile and mapping turned off for it."""
    site = PrivateServer(media.root, f'<Directory "{media.root}">\n  EnableSendfile Off\n  EnableMMAP Off\n</Directory>\n')
    yield site.listen
    crashes = site.stop()
    assert not crashes, "\n".join(crashes[:20])


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
