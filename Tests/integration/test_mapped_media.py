"""A media file truncated and rewritten in place while Apache builds TS segments from its mapping:
no child dies (the engine's SIGBUS guard), and every segment answered 200 has exactly the bytes it
has when the file is left alone; the others fail with a status and a line in the error log."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

import clients
import playlists as pl
from conftest import PrivateServer


def test_a_file_truncated_under_ts_requests_costs_requests_not_children(media):
    root = tempfile.mkdtemp(prefix="origo-mapped-", dir="/tmp")
    os.chmod(root, 0o755)
    path = os.path.join(root, "f.mp4")
    # Noise makes big frames: segments of megabytes take long enough to build that a truncation
    # falls inside one on any machine (with the small test clips it took thousands of requests).
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=480x270:r=25:d=10",
                    "-vf", "noise=alls=40:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-g", "50",
                    "-movflags", "+faststart", path], check=True, timeout=120)
    os.chmod(path, 0o644)
    original = open(path, "rb").read()
    site = PrivateServer(root, "StartServers 1\nServerLimit 1\nThreadsPerChild 25\nMaxRequestWorkers 25\n"
                               "MinSpareThreads 1\nMaxSpareThreads 25\n"
                               "<Location /origo-status>\n  SetHandler origo-status\n</Location>\n")
    try:
        _, children = pl.master_children(site.url("f.mp4/.m3u8"))
        urls = pl.media_playlist(children[0]).segment_urls
        assert len(urls) >= 3
        reference = {u: clients.get(u, timeout=60).body for u in urls}
        assert all(len(b) > 2_000_000 for b in reference.values())

        stop = threading.Event()

        def churn():
            # Cut the file to a third (same inode: pages past the new end raise SIGBUS in a
            # mapping), put the bytes back, and leave it whole a little longer than a segment
            # takes to build, again and again.
            third = len(original) // 3
            while not stop.is_set():
                os.truncate(path, third)
                with open(path, "r+b") as f:
                    f.seek(third)
                    f.write(original[third:])
                time.sleep(0.004)

        churner = threading.Thread(target=churn)
        churner.start()
        statuses: dict[int, int] = {}

        def caught() -> int:
            # Faults the SIGBUS guard answered. The log line of such a request names what the
            # engine found when it loaded the presentation again to retry (usually the truncated
            # file), not the fault, so the status endpoint's counter is what tells.
            text = clients.get(site.url("origo-status"), timeout=30).body.decode()
            match = re.search(r"^origo_mapped_file_faults_total (\d+)$", text, re.M)
            assert match, text[:2000]
            return int(match.group(1))

        try:
            # Until the guard has caught a few truncations in the middle of a segment (dozens per
            # second here), for at least 4 s and at most 40 s.
            start = time.monotonic()
            k = 0
            while time.monotonic() - start < 4 or (caught() < 3 and time.monotonic() - start < 40):
                url = urls[k % len(urls)]
                k += 1
                r = clients.get(url, timeout=60)
                statuses[r.status] = statuses.get(r.status, 0) + 1
                if r.status == 200:
                    assert r.body == reference[url], f"{url}: a 200 with other bytes than the file's"
        finally:
            stop.set()
            churner.join(timeout=30)
        with open(path, "wb") as f:
            f.write(original)
        # Left alone again, the file is served as before.
        assert clients.get(urls[1], timeout=60).body == reference[urls[1]]
        assert set(statuses) <= {200, 500, 503}, statuses
        assert statuses.get(200, 0) > 0, statuses
        assert caught() >= 1, f"no truncation fell inside a segment build: {statuses}"
        print(f"statuses {statuses}; guard caught {caught()} truncations")
    finally:
        crashes = site.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert not crashes, "\n".join(crashes[:20])
