"""Resource limits through Apache: OrigoMaxIndexSize bounds the index bytes read into memory and,
derived from it, the samples a file may claim (a quarter of the index bytes), so a tiny moov that
claims millions of samples is refused before anything is allocated for them.

Runs its own Apache (scripts/origo-httpd --include) with two directories under smaller limits."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import clients
import conftest
import mp4mutate


def child_pids(parent: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    status = f.read()
            except OSError:
                continue
            if f"\nPPid:\t{parent}\n" in status:
                out.append(int(entry))
    return out


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


@pytest.fixture(scope="module")
def limited(media, tmp_path_factory):
    """Apache serving the media root, with <root>/limit-4k (OrigoMaxIndexSize 4K) and
    <root>/limit-64k (OrigoMaxIndexSize 64K) holding copies of good and amplified files."""
    small, medium = os.path.join(media.root, "limit-4k"), os.path.join(media.root, "limit-64k")
    for d in (small, medium):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
    for name in ("faststart.mp4", "audio-eng.mp4", "cmaf.mp4"):
        shutil.copyfile(os.path.join(media.root, name), os.path.join(small, name))
        shutil.copyfile(os.path.join(media.root, name), os.path.join(medium, name))
    with open(os.path.join(media.root, "moov-at-end.mp4"), "rb") as f:
        source = f.read()
    variants = {
        "samples-8m.mp4": mp4mutate.amplified_sample_count(7_999_999)(source),
        "tracks-6x8m.mp4": mp4mutate.amplified_tracks(7_999_999, 6)(source),
        "stsz-huge.mp4": mp4mutate.field32(b"vide", "mdia/minf/stbl/stsz", 8, 0xFFFFFFFF)(source),
    }
    for name, data in variants.items():
        with open(os.path.join(medium, name), "wb") as f:
            f.write(data)
    for d in (small, medium):
        for name in os.listdir(d):
            os.chmod(os.path.join(d, name), 0o644)

    conf = tmp_path_factory.mktemp("limits") / "limits.conf"
    conf.write_text(f'<Directory "{small}">\n  OrigoMaxIndexSize 4K\n</Directory>\n'
                    f'<Directory "{medium}">\n  OrigoMaxIndexSize 64K\n</Directory>\n')
    os.chmod(conf.parent, 0o755)
    os.chmod(conf, 0o644)
    port = conftest._free_port()
    listen = f"127.0.0.1:{port}"
    proc = subprocess.run([str(conftest.LAUNCHER), "start", "--root", media.root, "--listen", listen,
                           "--include", str(conf)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    error_log = conftest._find_error_log(proc.stdout, port)
    srv = conftest.Server(f"http://{listen}", media.root, listen, error_log)
    yield srv
    subprocess.run([str(conftest.LAUNCHER), "stop", "--listen", listen], capture_output=True, timeout=120)
    crashes = [l for l in srv.log_since(0, settle=0).splitlines() if conftest.CRASH_PATTERN.search(l)]
    assert not crashes, "\n".join(crashes)


def get_logged(srv, path: str) -> tuple[int, list[str]]:
    start = srv.log_size()
    resp = clients.get(srv.url(path), timeout=30)
    return resp.status, [line for line in srv.log_since(start, settle=0.02).splitlines() if path in line]


def test_index_size_limit(limited):
    # Under 4K: faststart's moov (8.5 KB) and cmaf's moov + moofs (6.4 KB) are refused ...
    for path in ["limit-4k/faststart.mp4/.m3u8", "limit-4k/cmaf.mp4/.mpd"]:
        status, lines = get_logged(limited, "/" + path)
        assert status == 500, f"{path} -> {status}"
        assert len(lines) == 1 and "index limit exceeded" in lines[0] and "4096 bytes" in lines[0], lines
    # ... the 2.6 KB audio index is served, and the same files outside the directory are served.
    assert clients.get(limited.url("limit-4k/audio-eng.mp4/.m3u8")).status == 200
    assert clients.get(limited.url("faststart.mp4/.m3u8")).status == 200
    assert clients.get(limited.url("limit-64k/faststart.mp4/.m3u8")).status == 200
    assert clients.get(limited.url("limit-64k/cmaf.mp4/.mpd")).status == 200


def test_claimed_samples_are_refused_before_allocation(limited):
    """64K of index allows 16,384 samples per file: the amplified files (8 million samples from a
    100-byte stbl; six such tracks) are refused at the first count, and no child grows."""
    for _ in range(5):
        for name in ["samples-8m.mp4", "tracks-6x8m.mp4", "stsz-huge.mp4"]:
            for virtual in [".m3u8", ".mpd"]:
                path = f"/limit-64k/{name}/{virtual}"
                status, lines = get_logged(limited, path)
                assert status == 500, f"{path} -> {status}"
                assert len(lines) == 1 and "limit" in lines[0], lines
    with open(f"/tmp/origo-httpd/{limited.listen.rsplit(':', 1)[1]}/run/httpd.pid") as f:
        parent = int(f.read().strip())
    peaks = {pid: peak_rss_kib(pid) for pid in child_pids(parent)}
    assert peaks, "no Apache children found"
    # 8 million samples would take ~200 MB per track; a child serving Origo needs well under 100 MB.
    assert max(peaks.values()) < 100 * 1024, f"peak RSS of children (KiB): {peaks}"
