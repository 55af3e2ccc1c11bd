"""OrigoIndexCacheSize bounds the per-process caches of parsed indexes and presentations.

Observed from the storage side: with a cache too small to keep anything, every segment request
reads the index again from upstream; with room, a warm segment costs one ranged media read."""

from __future__ import annotations

import os
import tempfile

import pytest

import clients

from conftest import CRASH_PATTERN
from test_remote import Origo, Storage, _ts_segments


def _origo(storage: Storage, directive: str, location_directive: str = "") -> Origo:
    root = tempfile.mkdtemp(prefix="origo-cache-root-")
    os.chmod(root, 0o755)
    include = os.path.join(root, "cache.conf")
    with open(include, "w") as f:
        f.write(f"""# One child process: every request sees the same caches.
ServerLimit 1
StartServers 1
ThreadsPerChild 5
MaxRequestWorkers 5
MinSpareThreads 1
MaxSpareThreads 5
{directive}
<Location "/proxy">
  IsmProxyPass "http://127.0.0.1:{storage.port}/"
  {location_directive}
</Location>
""")
    return Origo(include, root)


@pytest.fixture(scope="module")
def storage(media):
    s = Storage(media.root)
    yield s
    s.stop()


def _second_segment_reads(storage: Storage, origo: Origo) -> list[dict]:
    segments = _ts_segments(origo, "faststart.mp4")
    assert len(segments) >= 2
    assert clients.get(origo.url(f"proxy/faststart.mp4/{segments[0]}")).status == 200
    mark = storage.mark()
    r = clients.get(origo.url(f"proxy/faststart.mp4/{segments[1]}"))
    assert r.status == 200, r.body[:300]
    return storage.since(mark)


@pytest.mark.parametrize("size,cached", [("1K", False), ("64M", True), ("0", True)])
def test_index_cache_size_decides_what_stays_parsed(storage, size, cached):
    origo = _origo(storage, f"OrigoIndexCacheSize {size}")
    try:
        reads = _second_segment_reads(storage, origo)
    finally:
        log = origo.stop()
    assert not [line for line in log.splitlines() if CRASH_PATTERN.search(line)]
    if cached:
        # Index and presentation stayed in memory: only the segment's media bytes are read.
        assert len(reads) == 1 and reads[0]["status"] == "206", reads
    else:
        # Nothing fits in 1 KiB: the file is probed and its moov read again for this segment.
        assert len(reads) > 1, reads


@pytest.mark.parametrize("directive,location,message", [
    ("OrigoIndexCacheSize 12Q", "", "unknown size suffix"),
    ("OrigoIndexCacheSize -5", "", "not a byte count"),
    ("", "OrigoIndexCacheSize 64M", "not allowed"),
])
def test_bad_cache_size_configuration_is_refused(storage, directive, location, message):
    with pytest.raises(RuntimeError) as failed:
        _origo(storage, directive, location).stop()
    assert "OrigoIndexCacheSize" in str(failed.value) and message in str(failed.value)
