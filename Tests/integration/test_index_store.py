"""The host's shared index store (OrigoIndexCacheDir, docs/INDEX-STORE.md) under a prefork Apache
with several children: one child parses a title's indexes and the others read them from the store
(counted by the status endpoint, and by the child pids of an access log); a changed source is
parsed again; damaged, truncated, foreign and other-version store files are refused and rebuilt;
files evicted and deleted while children load never crash one; a remote title's index is read
from storage once per host, not once per child."""

from __future__ import annotations

import os
import random
import re
import shutil
import struct
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import clients
import playlists as pl
from conftest import PrivateServer
from test_remote import Storage

CHILDREN = 4

STATUS = "<Location /origo-status>\n  SetHandler origo-status\n</Location>\n"


def prefork(store: str, extra: str = "") -> str:
    """A fixed pool of CHILDREN prefork children, one connection per request, the store at
    `store`, and an access log of which child answered what."""
    return (f"StartServers {CHILDREN}\nMinSpareServers {CHILDREN}\nMaxSpareServers {CHILDREN}\n"
            f"ServerLimit {CHILDREN}\nMaxRequestWorkers {CHILDREN}\nKeepAlive Off\n"
            f'OrigoIndexCacheDir "{store}"\n'
            'LogFormat "%P %U %>s" bypid\nCustomLog "@DIR@/pids.log" bypid\n' + STATUS + extra)


def counters(site: PrivateServer) -> dict[str, int]:
    text = clients.get(site.url("origo-status"), timeout=30).body.decode()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(origo_index_\w+) (-?\d+)$", text, re.M)}


def children_that_served(site: PrivateServer, fragment: str) -> set[str]:
    time.sleep(0.3)  # the access log is written after the response
    with open(os.path.join(site.dir, "pids.log")) as f:
        return {line.split()[0] for line in f if fragment in line and line.split()[-1] == "200"}


def burst(urls: list[str], requests: int = 48, workers: int = CHILDREN * 2) -> list[int]:
    """Concurrent requests (new connections each): every child of the pool gets some."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda k: clients.get(urls[k % len(urls)], timeout=60).status, range(requests)))


def private_store() -> str:
    # The parent (root in CI) makes it and gives it to the children's User.
    return tempfile.mkdtemp(prefix="origo-store-", dir="/tmp")


def stored_files(store: str) -> set[str]:
    return {name for name in os.listdir(store) if name.endswith(".oix")}


def test_children_share_one_store_and_only_one_parses(media):
    store = private_store()
    site = PrivateServer(media.root, prefork(store), mpm="prefork")
    try:
        # abr.ism: five media files. One child loads it first, then every child serves it.
        assert clients.get(site.url("abr.ism/.mpd")).status == 200
        first = counters(site)
        assert first["origo_index_parses_total"] == 5, first
        assert len(stored_files(store)) == 5
        statuses = burst([site.url("abr.ism/.mpd"), site.url("abr.ism/.m3u8")])
        assert set(statuses) == {200}, statuses
        served = children_that_served(site, "abr.ism")
        assert len(served) >= 2, served
        after = counters(site)
        # Nothing parsed again: every other child took the five indexes from the store.
        assert after["origo_index_parses_total"] == 5, after
        assert after["origo_index_store_hits_total"] == 5 * (len(served) - 1), (after, served)
        assert after["origo_index_store_writes_total"] == 5 and after["origo_index_store_rejects_total"] == 0
        # And what they serve plays.
        hls = clients.ffmpeg_decode(site.url("abr.ism/.m3u8"))
        assert hls.errors == [] and hls.video_frames == [media.frames("abr-640x360.mp4")] * 3, hls.summary()
    finally:
        crashes = site.stop()
        shutil.rmtree(store, ignore_errors=True)
    assert not crashes, "".join(crashes[:20])


def test_a_changed_source_is_parsed_again_once(media):
    store = private_store()
    root = tempfile.mkdtemp(prefix="origo-store-root-", dir="/tmp")
    os.chmod(root, 0o755)
    path = os.path.join(root, "title.mp4")
    shutil.copyfile(os.path.join(media.root, "faststart.mp4"), path)
    os.chmod(path, 0o644)
    site = PrivateServer(root, prefork(store), mpm="prefork")
    try:
        url = site.url("title.mp4/.mpd")
        assert set(burst([url], requests=1) + burst([url])) == {200}
        assert counters(site)["origo_index_parses_total"] == 1
        before = stored_files(store)
        # The same bytes with another mtime: another version to the store.
        later = time.time() + 100
        os.utime(path, (later, later))
        assert clients.get(url).status == 200
        assert set(burst([url])) == {200}
        c = counters(site)
        assert c["origo_index_parses_total"] == 2, c
        assert len(stored_files(store) - before) == 1
    finally:
        crashes = site.stop()
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    assert not crashes, "".join(crashes[:20])


DAMAGE = {
    # One byte flipped in the body: the checksum.
    "flipped": lambda b: b[:200] + bytes([b[200] ^ 0xFF]) + b[201:],
    # Cut short: the length in the header.
    "truncated": lambda b: b[: len(b) // 2],
    # Another format version, with everything else intact.
    "version": lambda b: b[:8] + struct.pack("<I", 99) + b[12:],
    # Not a store file at all.
    "foreign": lambda b: b"\x00\x00\x00\x18ftypisom" + bytes(len(b)),
}


def test_damaged_truncated_foreign_and_other_version_files_are_refused_and_rebuilt(media):
    titles = ["faststart.mp4", "ntsc.mp4", "moov-at-end.mp4", "hevc.mp4"]
    store = private_store()
    files: dict[str, str] = {}
    site = PrivateServer(media.root, prefork(store), mpm="prefork")
    try:
        for title in titles:
            known = stored_files(store)
            assert clients.get(site.url(f"{title}/.mpd")).status == 200
            (files[title],) = stored_files(store) - known
        reference = {t: clients.get(site.url(f"{t}/.mpd")).body for t in titles}
    finally:
        crashes = site.stop()
    assert not crashes, "".join(crashes[:20])

    for (kind, damage), title in zip(DAMAGE.items(), titles):
        path = os.path.join(store, files[title])
        with open(path, "rb") as f:
            data = f.read()
        # Written in place here only to make the damage: the engine itself only renames.
        with open(path, "wb") as f:
            f.write(damage(data))

    for round_ in ("damaged", "rebuilt"):
        site = PrivateServer(media.root, prefork(store), mpm="prefork")
        try:
            for title in titles:
                r = clients.get(site.url(f"{title}/.mpd"))
                assert r.status == 200 and r.body == reference[title], (round_, title)
            c = counters(site)
            if round_ == "damaged":
                # Each refused, parsed and written anew.
                assert c["origo_index_store_rejects_total"] == 4, c
                assert c["origo_index_parses_total"] == 4 and c["origo_index_store_writes_total"] == 4, c
            else:
                assert c["origo_index_store_rejects_total"] == 0 and c["origo_index_parses_total"] == 0, c
                assert c["origo_index_store_hits_total"] == 4, c
        finally:
            crashes = site.stop()
        assert not crashes, "".join(crashes[:20])
    shutil.rmtree(store, ignore_errors=True)


def test_eviction_and_deletion_under_concurrent_loads_never_crash_a_child(media):
    store = private_store()
    root = tempfile.mkdtemp(prefix="origo-store-root-", dir="/tmp")
    os.chmod(root, 0o755)
    sources = ["faststart.mp4", "ntsc.mp4", "cmaf.mp4", "hevc.mp4"]
    titles = []
    for k in range(40):
        name = f"t{k}.mp4"
        try:
            os.link(os.path.join(media.root, sources[k % len(sources)]), os.path.join(root, name))
        except OSError:
            shutil.copyfile(os.path.join(media.root, sources[k % len(sources)]), os.path.join(root, name))
        titles.append(name)
    # A store of about three files, and per-child caches too small to keep a presentation: every
    # request loads its title again, from the store or by parsing, while files come and go.
    site = PrivateServer(root, prefork(store, "OrigoIndexCacheDirSize 200K\nOrigoIndexCacheSize 64K\n"), mpm="prefork")
    stop = threading.Event()

    def delete():
        while not stop.is_set():
            for name in stored_files(store):
                try:
                    os.unlink(os.path.join(store, name))
                except OSError:
                    pass
            time.sleep(0.01)

    deleter = threading.Thread(target=delete)
    try:
        deleter.start()
        urls = [site.url(f"{t}/.mpd") for t in titles] + [site.url(f"{t}/.m3u8") for t in titles]
        random.Random(20).shuffle(urls)
        statuses = burst(urls, requests=400)
        assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        c = counters(site)
        assert c["origo_index_store_evictions_total"] > 0, c
        assert c["origo_index_store_hits_total"] > 0, c
        # The deleter stops first: a file it removes between listdir and getsize is not an error.
        stop.set()
        deleter.join()
        assert sum(os.path.getsize(os.path.join(store, n)) for n in os.listdir(store)) < 2 << 20
    finally:
        stop.set()
        deleter.join()
        crashes = site.stop()
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    assert not crashes, "children crashed:\n" + "".join(crashes[:20])


def test_a_remote_title_is_read_from_storage_once_per_host(media):
    store = private_store()
    storage = Storage(media.root)
    site = None
    try:
        site = PrivateServer(media.root, prefork(store, f'<Location "/proxy">\n  IsmProxyPass "{storage.url("")}"\n'
                                                       "  UspEnableSubreq off\n</Location>\n"), mpm="prefork")
        url = site.url("proxy/cmaf.mp4/.mpd")

        def index_reads(lines):
            # Reads of the fragmented file past its start: its index (moofs) beyond the first window.
            return [l for l in lines if "cmaf.mp4" in l["path"] and not l["range"].startswith("bytes=0-")]

        mark = storage.mark()
        assert clients.get(url).status == 200
        first = index_reads(storage.since(mark))
        assert len(first) >= 2, first
        mark = storage.mark()
        assert set(burst([url])) == {200}
        served = children_that_served(site, "cmaf.mp4")
        assert len(served) >= 2, served
        # The other children read one byte (the object's version) and the store; no index reads.
        assert index_reads(storage.since(mark)) == []
        c = counters(site)
        assert c["origo_index_parses_total"] == 1 and c["origo_index_store_hits_total"] == len(served) - 1, (c, served)
        dash = clients.ffmpeg_decode(url)
        assert dash.errors == [] and dash.video_frames == [media.frames("cmaf.mp4")], dash.summary()
    finally:
        crashes = site.stop() if site else []
        storage.stop()
        shutil.rmtree(store, ignore_errors=True)
    assert not crashes, "".join(crashes[:20])
