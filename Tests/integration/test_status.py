"""The status endpoint (`SetHandler origo-status`): Prometheus text whose counters are the sum over
every child of the server. A known sequence of requests goes to a private Apache whose children
are several and retire after a few connections (prefork) or are several and threaded (event); every
request is a new connection, so the sequence spreads over children that come and go. The scrape
must then agree exactly with what the client saw, with the access log's record of which child
(%P) answered what, and with the storage's own log of the reads it served. A graceful restart
keeps the counters and empties the gauges."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import CRASH_PATTERN, LAUNCHER, _free_port
from test_remote import Storage

# Prefork children retire after a few connections (their counters must stay in the sums); event
# children do not (a retiring event child resets connections it accepted but had not read, which is
# Apache's and would make the client's tally wrong), they leave at the graceful restart. No idle
# child is killed while a test looks at which children are alive.
POOLS = {
    "prefork": """StartServers 3
MinSpareServers 3
MaxSpareServers 12
MaxRequestWorkers 12
MaxConnectionsPerChild 9
""",
    "event": """StartServers 2
ServerLimit 4
ThreadsPerChild 4
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
MaxConnectionsPerChild 0
""",
}

SITE = """{pool}
LogFormat "%P %>s %m %U" origo_pids
CustomLog "{pid_log}" origo_pids
<Location /origo-status>
    SetHandler origo-status
</Location>
<Location /remote>
    IsmProxyPass {storage}/
    UspEnableSubreq {subreq}
</Location>
"""

SAMPLE = re.compile(r'^([a-z_]+)(?:\{([^}]*)\})? (\S+)$')


def scrape(base: str) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(f"{base}/origo-status", timeout=30) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert r.headers["Cache-Control"] == "no-store"
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def get(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers={"Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def names(body: bytes) -> list[str]:
    return [line for line in body.decode().splitlines() if line and not line.startswith("#")]


class Site:
    def __init__(self, media_root: str, mpm: str, storage: Storage, subreq: str):
        self.port = _free_port()
        self.listen = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.listen}"
        self.dir = f"/tmp/origo-status-{self.port}"
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.pid_log = f"{self.dir}/pids.log"
        self.include = f"{self.dir}/site.conf"
        with open(self.include, "w") as f:
            f.write(SITE.format(pool=POOLS[mpm], pid_log=self.pid_log, storage=storage.url("").rstrip("/"),
                                subreq=subreq))
        start = subprocess.run([str(LAUNCHER), "start", "--root", media_root, "--listen", self.listen, "--mpm", mpm,
                                "--include", self.include], capture_output=True, text=True, timeout=120)
        assert start.returncode == 0, f"origo-httpd start failed:\n{start.stdout}\n{start.stderr}"
        self.error_log = f"/tmp/origo-httpd/{self.port}/logs/error.log"

    def parent_pid(self) -> int:
        with open(f"/tmp/origo-httpd/{self.port}/run/httpd.pid") as f:
            return int(f.read().strip())

    def answered(self) -> list[tuple[int, int, str, str]]:
        """(pid, status, method, path) of every request logged so far."""
        time.sleep(0.5)  # the log line is written after the response
        with open(self.pid_log) as f:
            return [(int(p), int(s), m, u) for p, s, m, u in (line.split(" ", 3) for line in f.read().splitlines())]

    def stop(self) -> list[str]:
        subprocess.run([str(LAUNCHER), "stop", "--listen", self.listen], capture_output=True, timeout=120)
        with open(self.error_log, errors="replace") as f:
            return [line for line in f if CRASH_PATTERN.search(line)]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("mpm,subreq", [("prefork", "on"), ("event", "off")])
def test_counters_add_up_over_all_children(media, mpm, subreq):
    storage = Storage(media.root)
    site = Site(media.root, mpm, storage, subreq)
    try:
        base = site.base
        expected: Counter = Counter()       # (format, status) -> requests, as the client saw them
        engine: Counter = Counter()         # format -> requests the engine answered

        def run(urls: list[tuple[str, str, str, bool]]) -> None:
            """(format, path, method, reaches the engine) requests, 8 at a time."""
            with ThreadPoolExecutor(max_workers=8) as pool:
                results = list(pool.map(lambda u: get(f"{base}/{u[1]}", u[2]), urls))
            for (fmt, _, _, to_engine), (status, _) in zip(urls, results):
                expected[fmt, str(status)] += 1
                if to_engine:
                    engine[fmt] += 1

        # Phase 1: only successful requests of the local presentation.
        status, master = get(f"{base}/abr.ism/.m3u8")
        assert status == 200
        expected["hls", "200"] += 1
        engine["hls"] += 1
        playlist = names(master)[0]
        status, body = get(f"{base}/abr.ism/{playlist}")
        assert status == 200
        expected["hls", "200"] += 1
        engine["hls"] += 1
        segments = names(body)
        phase1 = [("hls", f"abr.ism/{s}", "GET", True) for s in segments] * 3
        phase1 += [("dash", "abr.ism/.mpd", "GET", True)] * 6
        phase1 += [("smooth", "abr.ism/Manifest", "GET", True)] * 5
        phase1 += [("hds", "abr.ism/.f4m", "GET", True)] * 4
        run(phase1)
        assert all(status == "200" for (_, status) in expected), expected

        # Which child answered what: every child that answered loaded the presentation (a miss,
        # and one index lookup per media file); every other lookup was a hit.
        time.sleep(0.5)
        answered = [a for a in site.answered() if a[3].startswith("/abr.ism/")]
        assert len(answered) == sum(expected.values())
        children = {pid for pid, *_ in answered}
        # Several children: prefork starts 3 and replaces them every 9 connections, event runs 2.
        assert len(children) >= (3 if mpm == "prefork" else 2), f"the sequence reached only children {children}"
        media_files = len(set(re.findall(r'src="([^"]+)"', open(os.path.join(media.root, "abr.ism")).read())))
        live = {pid for pid in children if alive(pid)}
        s = scrape(base)
        misses = value(s, "origo_presentation_cache_misses_total")
        assert misses + value(s, "origo_presentation_cache_hits_total") == len(answered)
        assert value(s, "origo_index_cache_misses_total") + value(s, "origo_index_cache_hits_total") == media_files * misses
        if mpm == "prefork":
            # One request at a time per child: exactly one load per child.
            assert misses == len(children)
            assert value(s, "origo_index_cache_misses_total") == media_files * len(children)
        else:
            # Threads of one child that ask at once may each load it before the first is cached.
            assert misses >= len(children)
            assert value(s, "origo_index_cache_misses_total") >= media_files * len(children)
        # Gauges: what live children hold (retired children took theirs away).
        assert value(s, "origo_presentation_cache_entries") == len(live)
        assert value(s, "origo_index_cache_entries") == media_files * len(live)
        assert (value(s, "origo_presentation_cache_bytes") > 0) == (len(live) > 0)

        # Phase 2: errors (from the engine and from the module), requests that are not Origo's,
        # and the same presentation over remote storage.
        storage_mark = storage.mark()
        run([("hls", "abr.ism/nosuchtrack=1-1.ts", "GET", True)] * 3       # 404 from the engine
            + [("hls", "missing.ism/.m3u8", "GET", False)] * 2             # 404 from the module
            + [("dash", "abr.ism/.mpd", "POST", False)] * 2                 # 405 from the module
            + [("other", "abr.ism/whatever.xyz", "GET", True)] * 2          # a path of no format
            + [("hls", "remote/abr.ism/.m3u8", "GET", True)] * 4
            + [("dash", "remote/abr.ism/.mpd", "GET", True)] * 2
            + [("hls", "remote/nothere.ism/.m3u8", "GET", True)] * 2)      # storage says 404
        for path in ["abr.ism", "abr-416x234.mp4"]:                          # Apache's, not ours
            assert get(f"{base}/{path}")[0] == 200
        s = scrape(base)
        reads = storage.since(storage_mark)
        assert reads, "the remote presentation was not read from the storage"

        requests = {(dict(labels)["format"], dict(labels)["status"]): v
                    for (name, labels), v in s.items() if name == "origo_requests_total"}
        assert requests == dict(expected), f"scraped {sorted(requests.items())}, sent {sorted(expected.items())}"
        for fmt in ["hls", "dash", "smooth", "hds", "other"]:
            assert value(s, "origo_engine_seconds_count", format=fmt) == engine[fmt], fmt
            assert value(s, "origo_engine_seconds_bucket", format=fmt, le="+Inf") == engine[fmt], fmt
            assert (value(s, "origo_engine_seconds_sum", format=fmt) > 0) == (engine[fmt] > 0), fmt

        # Upstream: exactly the reads the storage logged, and the body bytes it sent.
        assert value(s, "origo_upstream_requests_total") == len(reads)
        assert value(s, "origo_upstream_seconds_count") == len(reads)
        by_class = Counter(f"{r['status'][0]}xx" for r in reads)
        for code in ["2xx", "4xx"]:
            assert value(s, "origo_upstream_responses_total", code=code) == by_class[code], code
        assert value(s, "origo_upstream_received_bytes_total") == sum(
            int(r["bytes"]) for r in reads if r["bytes"] != "-" and r["status"].startswith("2"))
        for reason in ["timeout", "not_allowed", "failed"]:
            assert value(s, "origo_upstream_errors_total", reason=reason) == 0

        # A graceful restart: new children, counters kept, gauges empty until they load again.
        before = s
        os.kill(site.parent_pid(), signal.SIGUSR1)
        deadline = time.time() + 30
        while time.time() < deadline:
            after = scrape(base)
            if value(after, "origo_presentation_cache_entries") == 0 and value(after, "origo_index_cache_bytes") == 0:
                break
            time.sleep(0.3)
        assert value(after, "origo_presentation_cache_entries") == 0
        assert value(after, "origo_index_cache_entries") == 0
        assert value(after, "origo_presentation_cache_bytes") == 0
        assert value(after, "origo_index_cache_bytes") == 0
        assert value(after, "origo_counters_start_time_seconds") == value(before, "origo_counters_start_time_seconds")
        for key, v in before.items():
            if key[0].endswith("_total"):
                assert after.get(key) == v, key
        assert get(f"{base}/abr.ism/.mpd")[0] == 200
        last = site.answered()[-1][0]
        holders = 1 if alive(last) else 0  # the child may have retired after this request
        again = scrape(base)
        assert value(again, "origo_requests_total", format="dash", status="200") == expected["dash", "200"] + 1
        assert value(again, "origo_presentation_cache_entries") == holders
    finally:
        crashes = site.stop()
        storage.stop()
    assert not crashes, "".join(crashes[:10])


def test_status_endpoint_answers_get_only_and_can_be_turned_off(media):
    storage = Storage(media.root)
    site = Site(media.root, "event", storage, "on")
    try:
        assert get(f"{site.base}/origo-status", "POST")[0] == 405
        req = urllib.request.Request(f"{site.base}/origo-status", method="HEAD")
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200 and r.read() == b""
    finally:
        site.stop()
    with open(site.include, "a") as f:
        f.write("OrigoMetrics Off\n")
    subprocess.run([str(LAUNCHER), "start", "--root", media.root, "--listen", site.listen, "--mpm", "event",
                    "--include", site.include], check=True, capture_output=True, timeout=120)
    try:
        assert get(f"{site.base}/abr.ism/.mpd")[0] == 200
        assert get(f"{site.base}/origo-status")[0] == 503
        time.sleep(0.3)
        with open(site.error_log, errors="replace") as f:
            assert "ORIGO10012" in f.read()
    finally:
        crashes = site.stop()
        storage.stop()
    assert not crashes, "".join(crashes[:10])
