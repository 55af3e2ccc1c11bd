"""Remote storage that misbehaves, and clients that try their luck (issue #19), on both servers.

A misbehaving storage server (evil_upstream.py) serves the test media on 127.0.0.1 and records
every request it gets. Private Origo sites (conftest's PrivateServer, one Apache child or nginx
worker) read from it: Apache through `IsmProxyPass` in both upstream modes, `sub` (UspEnableSubreq
on: mod_proxy subrequests) and `curl` (UspEnableSubreq off: the module's own client); nginx
through `ism_proxy_pass` (`ngx`: subrequests to its internal proxy_pass location). Their upstream
reads are bounded by an upstream timeout of 3 s and a deadline of 6 s, so a broken bound fails in
seconds. The tests check what reaches the storage (no client credentials, the query only on
server-manifest fetches, percent-encoded paths), the allow-list, loop protection, the bounds on
bytes, header blocks and time, and recovery from ETag flips and stale kept-alive connections.

Three sites per server: `site` (most tests), `allow_site` (the allow-list) and `loop_site` (loops,
which exhaust its workers where loop protection is missing).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import pytest

import clients
from conftest import CRASH_PATTERN, PrivateServer, Remote, remote_site
from evil_upstream import EvilUpstream, Received

MODES = {"sub": "on", "curl": "off"}  # Apache's location prefix -> UspEnableSubreq
# The ways the servers read storage (location prefixes): each test runs once per way.
WAYS = {"apache": ["sub", "curl"], "nginx": ["ngx"]}


def by_way(*kinds: str):
    """Parametrizes a test by (server kind, mode) over the ways of `kinds`."""
    cases = [(kind, mode) for kind in kinds for mode in WAYS[kind]]
    return pytest.mark.parametrize("server_kind,mode", cases, indirect=["server_kind"], scope="module",
                                   ids=[f"{kind}-{mode}" for kind, mode in cases])


BY_WAY = by_way("apache", "nginx")

TIMEOUT = 3                  # the sites' upstream timeout (one upstream read)
DEADLINE = 6                 # the sites' upstream deadline (all reads of one client request)
SLACK = 3                    # allowed beyond the deadline
CLIENT_TIMEOUT = DEADLINE + SLACK + 5  # no test client waits longer than this for an answer
MAX_RSS_MB = 200             # an Apache child's or nginx worker's resident memory, sampled during a request
MAX_UPSTREAM_BYTES = 100 * 1024 * 1024  # what storage may push into one read before the origin hangs up
GONE_WITHIN = 3              # seconds until the origin drops a read whose client has gone

# Client request headers with values the storage must never see. Nor does it see mod_proxy's own
# X-Forwarded-* (the client's address), which Origo switches off for its reads.
CLIENT_HEADERS = {
    "Authorization": "Basic Y2xpZW50OmF1dGh6LXRva2VuLTkx",
    "Cookie": "session=cookie-token-7f3a",
    "Proxy-Authorization": "Basic cHJveHktYXV0aHotdG9rZW4tNTI=",
    "X-Api-Key": "api-key-token-55c1",
    "User-Agent": "EvilClient/6.6 (ua-token-31)",
    "X-Forwarded-For": "203.0.113.77",
    "X-Client-Note": "note-token-0e8",
}
NEVER_UPSTREAM = ("Authorization", "Cookie", "Proxy-Authorization", "X-Api-Key", "X-Client-Note")



# ---------------------------------------------------------------------------------- fixtures

class Shelf:
    """The storage's directory: every test stages its own subdirectory, so that no cache of the
    origin holds anything of another test."""

    def __init__(self, media_root: str):
        self.media_root = media_root
        self.root = tempfile.mkdtemp(prefix="origo-evil-")

    def stage(self, directory: str, src: str = "faststart.mp4", files: tuple[str, ...] = ("faststart.mp4",)) -> None:
        """`directory` with links to the test media `files` and a `clip.ism` whose video and audio
        come from `src` (relative to the manifest, or a URL)."""
        for name in files:
            self.link(directory, name, name)
        with open(os.path.join(self.root, directory, "clip.ism"), "w", encoding="utf-8") as f:
            f.write('<?xml version="1.0" encoding="utf-8"?>\n'
                    '<smil xmlns="http://www.w3.org/2001/SMIL20/Language">\n'
                    "  <head></head>\n  <body>\n    <switch>\n"
                    f'      <video src={quoteattr(src)} systemBitrate="600000"/>\n'
                    f'      <audio src={quoteattr(src)} systemBitrate="128000"/>\n'
                    "    </switch>\n  </body>\n</smil>\n")

    def link(self, directory: str, name: str, media_file: str) -> None:
        """`directory/name` on the shelf is the test media file `media_file`."""
        os.makedirs(os.path.join(self.root, directory), exist_ok=True)
        link = os.path.join(self.root, directory, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join(self.media_root, media_file), link)


@pytest.fixture(scope="module")
def shelf(media):
    shelf = Shelf(media.root)
    shelf.stage("normal")
    yield shelf
    shutil.rmtree(shelf.root, ignore_errors=True)


@pytest.fixture(scope="module")
def evil(shelf, server_kind):
    """The storage, one per server (a site's teardown stops it)."""
    with EvilUpstream(shelf.root) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def other_evil(shelf, server_kind):
    """A second storage on another port of 127.0.0.1, serving the same files."""
    with EvilUpstream(shelf.root) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def site(media, evil, server_kind):
    locations = {}
    for mode in WAYS[server_kind]:
        locations[mode] = remote_location(evil.port, mode)
        if server_kind == "apache":     # nginx has no OrigoUpstreamPassHeader
            locations[f"{mode}-pass"] = remote_location(evil.port, mode, apache="OrigoUpstreamPassHeader X-Api-Key")
        # Upstream bounds far away: only noticing that the client has gone can end a read early.
        locations[f"{mode}-patient"] = remote_location(evil.port, mode, 30, 60)
    # Connections kept alive: a pool for subrequests (mod_proxy's default worker keeps no connection
    # open); on nginx an `upstream` block with `keepalive`, which its reads use by name (`-pooled`).
    pool = f'<Proxy "http://127.0.0.1:{evil.port}/">\n  ProxySet enablereuse=on keepalive=on retry=0\n</Proxy>\n'
    if server_kind == "nginx":
        locations["ngx-pooled"] = remote_location(None, "ngx", base="http://evil/")
        upstream = f"upstream evil {{\n    server 127.0.0.1:{evil.port};\n    keepalive 4;\n}}\n"
        server = PrivateServer(media.root, remote_site("nginx", locations), "nginx", upstream)
    else:
        server = PrivateServer(media.root, remote_site("apache", locations) + pool)
    yield from running(server, evil)


@pytest.fixture(scope="module")
def allow_site(media, evil, other_evil, server_kind):
    locations = {}
    for mode in WAYS[server_kind]:
        locations[f"{mode}-own"] = remote_location(evil.port, mode)
        locations[f"{mode}-exact"] = remote_location(evil.port, mode, allow=f"http://127.0.0.1:{other_evil.port}")
        locations[f"{mode}-bare"] = remote_location(evil.port, mode, allow="127.0.0.1")
    yield from running(PrivateServer(media.root, remote_site(server_kind, locations), server_kind), evil)


@pytest.fixture(scope="module")
def loop_site(media, evil, shelf, server_kind):
    """`/<mode>-self` reads from itself (IsmProxyPass names its own location); `/<mode>-back` reads
    from storage whose manifests (written once the port is known) name the site itself."""
    locations = {}
    for mode in WAYS[server_kind]:
        locations[f"{mode}-self"] = remote_location(None, mode, base=f"http://@LISTEN@/{mode}-self/self.ism/")
        # @LISTEN@ bare is host:port, meaning http: the operator allowed the site itself.
        locations[f"{mode}-back"] = remote_location(evil.port, mode, allow="@LISTEN@")
    server = PrivateServer(media.root, remote_site(server_kind, locations), server_kind)
    for mode in WAYS[server_kind]:
        # The media of this presentation is a playlist of the presentation itself, on this site.
        shelf.stage(f"echo-{mode}", src=f"http://{server.listen}/{mode}-back/echo-{mode}/clip.ism/.m3u8")
    yield from running(server, evil)


def running(server: PrivateServer, evil: EvilUpstream):
    """Yields `server`, then stops the storage first (it ends every drip a stuck worker may still
    be reading) and the server, failing on crashed children or workers."""
    try:
        yield server
    finally:
        evil.stop()
        crashes = server.stop()
        assert not crashes, f"{server.kind} children or workers crashed:\n" + "".join(crashes[:20])


@pytest.fixture(autouse=True)
def no_child_crash_in_sites(request):
    """Fails a test during which a child or worker of one of its sites crashed."""
    sites = [request.getfixturevalue(name) for name in ("site", "allow_site", "loop_site")
             if name in request.fixturenames]
    offsets = [s.log_size() for s in sites]
    yield
    crashes = [line for s, offset in zip(sites, offsets) for line in s.log_since(offset).splitlines()
               if CRASH_PATTERN.search(line)]
    if crashes:
        pytest.fail("a child or worker crashed during this test:\n" + "\n".join(crashes[:20]), pytrace=False)


def remote_location(port: int | None, mode: str, timeout: int = TIMEOUT, deadline: int = DEADLINE,
                    base: str | None = None, allow: str = "", apache: str = "") -> Remote:
    """A location reading from storage on `port` (or at `base`) in `mode`."""
    subreq = f"UspEnableSubreq {MODES[mode]}\n" if mode in MODES else ""
    return Remote(base or f"http://127.0.0.1:{port}/", allow=allow, timeout=timeout, deadline=deadline,
                  apache=subreq + apache)


# ----------------------------------------------------------------------------------- helpers

@dataclass
class Answer:
    url: str
    status: int         # 0: no answer (see error)
    body: bytes
    seconds: float
    error: str = ""

    def __str__(self) -> str:
        what = f"{self.status}" if self.status else f"no answer ({self.error})"
        return f"{self.url} -> {what} after {self.seconds:.1f} s {self.body[:120]!r}"


def fetch(url: str, headers: dict[str, str] | None = None, timeout: float = CLIENT_TIMEOUT) -> Answer:
    start = time.monotonic()
    try:
        r = clients.get(url, headers=headers, timeout=timeout)
        return Answer(url, r.status, r.body, time.monotonic() - start)
    except OSError as e:  # timeouts, resets
        return Answer(url, 0, b"", time.monotonic() - start, f"{type(e).__name__}: {e}")


def _uris(playlist: bytes) -> list[str]:
    return [line for line in playlist.decode("utf-8", "replace").splitlines() if line and not line.startswith("#")]


def play_hls(master_url: str, headers: dict[str, str] | None = None, all_segments: bool = False) -> list[Answer]:
    """GETs the HLS master playlist, its first variant playlist and that variant's first segment
    (or every segment) like a player (URIs as the playlists give them, so with the query the
    origin carries over), each with `headers`; stops at the first answer that is not 200."""
    answers = [fetch(master_url, headers)]
    if answers[-1].status == 200:
        variant = urllib.parse.urljoin(master_url, _uris(answers[-1].body)[0])
        answers.append(fetch(variant, headers))
        if answers[-1].status == 200:
            segments = _uris(answers[-1].body)
            for segment in segments if all_segments else segments[:1]:
                answers.append(fetch(urllib.parse.urljoin(variant, segment), headers))
                if answers[-1].status != 200:
                    break
    return answers


def assert_all_ok(answers: list[Answer]) -> None:
    assert answers and all(a.status == 200 for a in answers), "\n".join(map(str, answers))


def assert_still_serves(site: PrivateServer, mode: str) -> None:
    """The next ordinary request is served."""
    answer = fetch(site.url(f"{mode}/normal/clip.ism/.m3u8"))
    assert answer.status == 200, f"the origin no longer serves: {answer}"


def origo_lines(site: PrivateServer, offset: int) -> list[str]:
    # Apache tags the module's lines `[origo:<level>]`; nginx has no module tag, the ORIGO number.
    tag = "ORIGO1" if site.kind == "nginx" else "[origo:"
    return [line for line in site.log_since(offset).splitlines() if tag in line]


class ChildMemory:
    """Largest resident memory (MB) of a site's Apache children or nginx workers while inside the
    `with` block, sampled every 50 ms (/proc/<pid>/status VmRSS of the children of the parent in
    the pid file)."""

    def __init__(self, site: PrivateServer):
        with open(site.pid_file) as f:
            self.parent = f.read().strip()
        self.peak_mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ChildMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            self.peak_mb = max([self.peak_mb] + [self._rss_mb(pid) for pid in self._children()])
            if self._done.wait(0.05):
                return

    def _children(self) -> list[str]:
        out = subprocess.run(["pgrep", "-P", self.parent], capture_output=True, text=True).stdout
        return out.split()

    @staticmethod
    def _rss_mb(pid: str) -> float:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0


def upstream_leaks(seen: Received, evil: EvilUpstream, passed: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with the headers of one upstream request: client headers that got through
    (except those named in `passed`), and the origin's own headers that are missing."""
    problems = []
    for name in NEVER_UPSTREAM + ("X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Server"):
        if name not in passed and seen.header(name) is not None:
            problems.append(f"{name}: {seen.header(name)}")
    for key, value in seen.headers:
        for name, secret in CLIENT_HEADERS.items():
            if secret in value and not (name in passed and key.lower() == name.lower()):
                problems.append(f"client {name} value in {key}: {value}")
    if not (seen.header("User-Agent") or "").startswith("Origo/"):
        problems.append(f"User-Agent: {seen.header('User-Agent')}")
    if "origo" not in (seen.header("CDN-Loop") or "").lower():
        problems.append(f"CDN-Loop: {seen.header('CDN-Loop')}")
    if seen.header("Host") != f"127.0.0.1:{evil.port}":
        problems.append(f"Host: {seen.header('Host')}")
    return [f"{seen.method} {seen.path}: {p}" for p in problems]


def assert_storage_let_go(evil: EvilUpstream, answer: Answer, records: list[Received]) -> None:
    """The origin hung up on every misbehaving answer among `records`, having taken little of it."""
    misbehaving = [s for s in records if s.behaviour != "file"]
    assert misbehaving, f"the storage never got the request: {answer}"
    hung_up = evil.wait_until(lambda: all(s.complete or s.peer_gone_at for s in misbehaving), timeout=2)
    greedy = max(misbehaving, key=lambda s: s.bytes_sent)
    assert greedy.bytes_sent < MAX_UPSTREAM_BYTES, (f"the origin read {greedy.bytes_sent / 2**20:.0f} MB of "
                                                    f"{greedy.path} (Range: {greedy.header('Range')})")
    assert hung_up, f"the origin still holds a storage connection after {answer}"


def bounded_request(site: PrivateServer, evil: EvilUpstream, mode: str, path: str) -> Answer:
    """GETs `path` from `site` while watching its children's memory, and checks what every bounded
    case must meet: an answer within the deadline (+ slack), children under MAX_RSS_MB, the storage
    let go, and the next request served."""
    mark = evil.mark()
    with ChildMemory(site) as memory:
        answer = fetch(site.url(path))
    assert answer.seconds <= DEADLINE + SLACK, f"not bounded by the deadline: {answer}"
    assert memory.peak_mb < MAX_RSS_MB, f"a child or worker reached {memory.peak_mb:.0f} MB RSS ({answer})"
    assert_storage_let_go(evil, answer, evil.since(mark))
    assert_still_serves(site, mode)
    return answer


# --------------------------------------------------------------------- what reaches the storage

@BY_WAY
def test_client_credentials_do_not_reach_the_storage(site, evil, shelf, mode):
    shelf.stage(f"creds-{mode}")
    mark = evil.mark()
    assert_all_ok(play_hls(site.url(f"{mode}/creds-{mode}/clip.ism/.m3u8"), headers=CLIENT_HEADERS))
    seen = evil.since(mark)
    assert len(seen) >= 3, f"expected manifest, index and media reads: {[s.path for s in seen]}"
    problems = [p for s in seen for p in upstream_leaks(s, evil)]
    assert not problems, "\n".join(problems)


@BY_WAY
def test_a_request_body_is_refused_and_never_forwarded(site, evil, shelf, mode):
    """Upstream reads would carry a client's request body (a subrequest reads the main request's
    input): a GET with one is refused before anything is read upstream."""
    shelf.stage(f"body-{mode}")
    mark = evil.mark()
    r = clients.request("GET", site.url(f"{mode}/body-{mode}/clip.ism/.m3u8"), body=b"x" * 1000,
                        headers={"Content-Type": "application/octet-stream"})
    assert r.status == 413, r.status
    assert evil.since(mark) == [], "the storage was asked"


@by_way("apache")      # nginx has no OrigoUpstreamPassHeader yet
def test_named_client_header_is_passed(site, evil, shelf, mode):
    shelf.stage(f"pass-{mode}")
    mark = evil.mark()
    assert_all_ok(play_hls(site.url(f"{mode}-pass/pass-{mode}/clip.ism/.m3u8"), headers=CLIENT_HEADERS))
    seen = evil.since(mark)
    assert seen
    missing = [s.path for s in seen if s.header("X-Api-Key") != CLIENT_HEADERS["X-Api-Key"]]
    assert not missing, f"OrigoUpstreamPassHeader X-Api-Key: not passed on {missing}"
    problems = [p for s in seen for p in upstream_leaks(s, evil, passed=("X-Api-Key",))]
    assert not problems, "\n".join(problems)


@BY_WAY
def test_query_reaches_the_manifest_fetch_only(site, evil, shelf, mode):
    shelf.stage(f"query-{mode}")
    mark = evil.mark()
    assert_all_ok(play_hls(site.url(f"{mode}/query-{mode}/clip.ism/.m3u8?foo=bar")))
    seen = evil.since(mark)
    manifests = [s for s in seen if s.path.endswith(".ism")]
    media = [s for s in seen if not s.path.endswith(".ism")]
    assert manifests and all(s.query == "foo=bar" for s in manifests), [(s.path, s.query) for s in manifests]
    assert media and all(s.query == "" for s in media), [(s.path, s.query) for s in media]


@BY_WAY
def test_query_never_reaches_a_directly_addressed_mp4(site, evil, shelf, mode):
    shelf.stage(f"query-mp4-{mode}")
    mark = evil.mark()
    assert_all_ok(play_hls(site.url(f"{mode}/query-mp4-{mode}/faststart.mp4/.m3u8?foo=bar")))
    seen = evil.since(mark)
    assert seen and all(s.query == "" for s in seen), [(s.path, s.query) for s in seen]


@BY_WAY
def test_src_with_a_blank_and_non_ascii_is_percent_encoded(site, evil, shelf, mode):
    name = "my clip é.mp4"
    shelf.stage(f"utf8-{mode}", src=name)
    shelf.link(f"utf8-{mode}", name, "faststart.mp4")
    mark = evil.mark()
    answers = play_hls(site.url(f"{mode}/utf8-{mode}/clip.ism/.m3u8"))
    seen = evil.since(mark)
    unparsable = [s.path for s in seen if s.behaviour == "unparsable"]
    assert not unparsable, f"request lines the storage could not parse: {unparsable}"
    media = [s for s in seen if not s.path.endswith(".ism")]
    assert media
    for s in media:
        assert s.path.isascii() and " " not in s.path, f"sent unencoded: {s.path!r}"
        assert urllib.parse.unquote(s.path) == f"/utf8-{mode}/{name}", s.path
    assert_all_ok(answers)


# ------------------------------------------------------------------------------ the allow-list

def assert_refused(allow_site: PrivateServer, path: str) -> None:
    """403, and one error-log line saying why."""
    offset = allow_site.log_size()
    answer = fetch(allow_site.url(path))
    assert answer.status == 403, str(answer)
    lines = origo_lines(allow_site, offset)
    assert len(lines) == 1 and "not allowed" in lines[0], "one log line expected:\n" + "\n".join(lines)


@BY_WAY
def test_src_on_another_port_is_refused(allow_site, shelf, other_evil, mode):
    shelf.stage(f"port-{mode}", src=other_evil.url(f"port-{mode}/faststart.mp4"))
    mark = other_evil.mark()
    assert_refused(allow_site, f"{mode}-own/port-{mode}/clip.ism/.m3u8")
    assert not other_evil.since(mark), "the other port was asked"


@BY_WAY
def test_src_with_another_scheme_is_refused(allow_site, evil, shelf, mode):
    shelf.stage(f"scheme-{mode}", src=f"https://127.0.0.1:{evil.port}/scheme-{mode}/faststart.mp4")
    assert_refused(allow_site, f"{mode}-own/scheme-{mode}/clip.ism/.m3u8")


@BY_WAY
def test_src_naming_localhost_is_refused(allow_site, evil, shelf, mode):
    shelf.stage(f"localhost-{mode}", src=f"http://localhost:{evil.port}/localhost-{mode}/faststart.mp4")
    mark = evil.mark()
    assert_refused(allow_site, f"{mode}-own/localhost-{mode}/clip.ism/.m3u8")
    assert all(s.path.endswith(".ism") for s in evil.since(mark)), "the media was read through localhost"


@BY_WAY
def test_allowed_origin_admits_exactly_that_origin(allow_site, shelf, other_evil, mode):
    shelf.stage(f"exact-{mode}", src=other_evil.url(f"exact-{mode}/faststart.mp4"))
    mark = other_evil.mark()
    assert_all_ok(play_hls(allow_site.url(f"{mode}-exact/exact-{mode}/clip.ism/.m3u8")))
    assert other_evil.since(mark), "the allowed storage was not read"
    # Same host and port, other scheme: another origin.
    shelf.stage(f"exact-tls-{mode}", src=f"https://127.0.0.1:{other_evil.port}/exact-{mode}/faststart.mp4")
    assert_refused(allow_site, f"{mode}-exact/exact-tls-{mode}/clip.ism/.m3u8")


@BY_WAY
def test_allow_entry_without_port_means_port_80(allow_site, shelf, other_evil, mode):
    shelf.stage(f"bare-{mode}", src=other_evil.url(f"bare-{mode}/faststart.mp4"))
    mark = other_evil.mark()
    assert_refused(allow_site, f"{mode}-bare/bare-{mode}/clip.ism/.m3u8")
    assert not other_evil.since(mark), "the other port was asked"


# ------------------------------------------------------------------------------------- loops

def assert_loop_ends(loop_site: PrivateServer, path: str, normal: str) -> None:
    """The looping request ends within the deadline (508, or the 502/504 an outer hop makes of
    it), the error log names the loop, and a request made while it runs is served."""
    offset = loop_site.log_size()
    with ThreadPoolExecutor(max_workers=1) as pool:
        looping = pool.submit(fetch, loop_site.url(path))
        time.sleep(1)
        meanwhile = fetch(loop_site.url(normal), timeout=DEADLINE)
        answer = looping.result()
    assert answer.status in (508, 502, 504), str(answer)
    assert answer.seconds <= DEADLINE + SLACK, f"the loop was not cut short: {answer}"
    log = loop_site.log_since(offset)
    assert "loop" in log.lower(), "no log line names the loop:\n" + log[-3000:]
    assert meanwhile.status == 200, f"the origin stopped serving while the loop ran: {meanwhile}"


@BY_WAY
def test_ismproxypass_naming_the_origin_itself_is_cut_short(loop_site, mode):
    assert_loop_ends(loop_site, f"{mode}-self/self.ism/.m3u8", f"{mode}-back/normal/clip.ism/.m3u8")


@BY_WAY
def test_src_naming_the_origin_itself_is_cut_short(loop_site, mode):
    assert_loop_ends(loop_site, f"{mode}-back/echo-{mode}/clip.ism/.m3u8", f"{mode}-back/normal/clip.ism/.m3u8")


# ------------------------------------------------------------------------------------ bounds

@BY_WAY
def test_10gb_manifest_body_is_refused(site, evil, mode):
    answer = bounded_request(site, evil, mode, f"{mode}/huge/huge-{mode}.ism/.m3u8")
    assert answer.status == 502, str(answer)


@BY_WAY
def test_10gb_200_to_a_ranged_read_is_cut_at_the_range(site, evil, shelf, mode):
    """The storage answers every media read with `200` and 10 GB (the file, then zeros): the
    origin keeps the wanted range and hangs up."""
    shelf.stage(f"huge-range-{mode}", src=evil.url(f"huge/huge-range-{mode}/faststart.mp4"))
    mark = evil.mark()
    with ChildMemory(site) as memory:
        answers = play_hls(site.url(f"{mode}/huge-range-{mode}/clip.ism/.m3u8"))
    assert_storage_let_go(evil, answers[-1], evil.since(mark))
    assert all(a.seconds <= DEADLINE + SLACK for a in answers), "\n".join(map(str, answers))
    assert memory.peak_mb < MAX_RSS_MB, f"a child or worker reached {memory.peak_mb:.0f} MB RSS"
    # Served (the range is cut out of the 200) or refused cleanly, never anything else.
    assert all(a.status in (200, 502) for a in answers), "\n".join(map(str, answers))
    if len(answers) == 3 and answers[-1].status == 200:
        shelf.stage(f"huge-ref-{mode}")
        reference = play_hls(site.url(f"{mode}/huge-ref-{mode}/clip.ism/.m3u8"))
        assert answers[-1].body == reference[-1].body, "the segment differs from the one from ordinary storage"
    assert_still_serves(site, mode)


@BY_WAY
def test_2gb_header_flood_is_refused(site, evil, mode):
    answer = bounded_request(site, evil, mode, f"{mode}/flood-headers/flood-{mode}.ism/.m3u8")
    assert answer.status == 502, str(answer)


@pytest.mark.parametrize("kind", ["drip", "drip-body"])  # from the status line on, or in the body
@BY_WAY
def test_dripping_storage_ends_in_504(site, evil, mode, kind, request):
    if site.kind == "nginx" and kind == "drip-body":
        # Not strict: intermittent. Alone it passed 40 reads in a row; after the module's other
        # cases it failed 1 full run in 3 (issue #16 note).
        request.applymarker(pytest.mark.xfail(strict=False, reason=(
            "nginx module: after the 504 at origo_upstream_timeout, the storage connection of a read "
            "whose body drips is sometimes still open 2 s later")))
    answer = bounded_request(site, evil, mode, f"{mode}/{kind}/{kind}-{mode}.ism/.m3u8")
    assert answer.status == 504, str(answer)


@BY_WAY
def test_reads_each_within_the_timeout_still_end_at_the_deadline(site, evil, shelf, mode):
    """Every read takes 2 s (under OrigoUpstreamTimeout 3); the manifest and five sources' indexes
    take 12 s together: OrigoUpstreamDeadline 6 ends the request with 504."""
    abr = ("abr-416x234.mp4", "abr-640x360.mp4", "abr-960x540.mp4", "audio-eng.mp4", "audio-fra.mp4")
    shelf.stage(f"deadline-{mode}", files=abr + ("abr.ism",))
    answer = fetch(site.url(f"{mode}/slow/deadline-{mode}/abr.ism/.m3u8"))
    assert answer.status == 504, str(answer)
    assert answer.seconds <= DEADLINE + SLACK, str(answer)
    assert_still_serves(site, mode)


@BY_WAY
def test_client_gone_frees_the_storage_connection(site, evil, mode):
    """The client hangs up while the storage drips; the origin hangs up on the storage soon after,
    long before its read timeout (30 s in /<mode>-patient)."""
    mark = evil.mark()
    with socket.create_connection(("127.0.0.1", site.port), timeout=5) as client:
        client.sendall(f"GET /{mode}-patient/drip/gone-{mode}.ism/.m3u8 HTTP/1.1\r\n"
                       f"Host: {site.listen}\r\n\r\n".encode())
        assert evil.wait_until(lambda: any(s.behaviour == "drip" for s in evil.since(mark)), timeout=5), \
            "the storage never got the request"
    drip = next(s for s in evil.since(mark) if s.behaviour == "drip")
    assert evil.wait_until(lambda: drip.peer_gone_at is not None, timeout=GONE_WITHIN), \
        f"the origin kept reading for {GONE_WITHIN} s for a client that had gone"
    assert_still_serves(site, mode)


# ------------------------------------------------------------------- storage that is merely odd

@BY_WAY
def test_storage_ignoring_range_still_plays(site, shelf, mode):
    shelf.stage(f"ignore-{mode}")
    answers = play_hls(site.url(f"{mode}/ignore-range/ignore-{mode}/clip.ism/.m3u8"), all_segments=True)
    assert_all_ok(answers)
    shelf.stage(f"ignore-ref-{mode}")
    reference = play_hls(site.url(f"{mode}/ignore-ref-{mode}/clip.ism/.m3u8"), all_segments=True)
    assert [a.body for a in answers[1:]] == [a.body for a in reference[1:]], "segments differ from ordinary storage"


@pytest.mark.parametrize("kind, reason", [("wrong-range", "206 body does not match its Content-Range"),
                                          ("no-range", "206 with a missing or inconsistent Content-Range")])
@BY_WAY
def test_partial_answer_with_a_bad_content_range_is_refused(site, shelf, mode, kind, reason):
    """A 206 whose Content-Range is missing or names other bytes than it carries: 502, and the
    error log says why (the engine checks answers, whichever way they travelled)."""
    shelf.stage(f"{kind}-{mode}")
    offset = site.log_size()
    answer = fetch(site.url(f"{mode}/{kind}/{kind}-{mode}/clip.ism/.m3u8"))
    assert answer.status == 502, str(answer)
    lines = origo_lines(site, offset)
    assert any(reason in line for line in lines), "no log line says why:\n" + "\n".join(lines)
    assert_still_serves(site, mode)


@BY_WAY
def test_storage_nodes_with_different_etags(site, evil, shelf, mode):
    """Every read gets the other of two ETags (size and Last-Modified agree): still one object."""
    shelf.stage(f"etag-{mode}")
    mark = evil.mark()
    master = site.url(f"{mode}/etag-flip/etag-{mode}/clip.ism/.m3u8")
    assert_all_ok(play_hls(master, all_segments=True))
    assert_all_ok(play_hls(master, all_segments=True))
    media = [s for s in evil.since(mark) if s.path.endswith(".mp4")]
    assert len(media) >= 2, "the flipping ETag was never seen twice"


@BY_WAY
def test_stale_kept_alive_connection_is_retried(site, evil, shelf, mode):
    """The storage reads a request on a kept-alive connection and hangs up without answering:
    the origin retries the read once on a new connection."""
    shelf.stage(f"stale-{mode}")
    mark = evil.mark()
    offset = site.log_size()
    # nginx keeps storage connections alive only in an `upstream` block (its `-pooled` location).
    where = f"{mode}-pooled" if site.kind == "nginx" else mode
    assert_all_ok(play_hls(site.url(f"{where}/close-after/stale-{mode}/clip.ism/.m3u8"), all_segments=True))
    assert any(s.dropped for s in evil.since(mark)), "no kept-alive connection was reused: case not exercised"
    assert not origo_lines(site, offset), "\n".join(origo_lines(site, offset))
