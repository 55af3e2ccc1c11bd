"""Session fixtures for Origo's integration tests: the test media (scripts/make-media.sh, made once),
a private Apache with mod_origo serving it (scripts/origo-httpd) and a private nginx with the nginx
module serving it (scripts/origo-nginx). Tests take `server`: Apache, or, in modules (or tests)
marked `servers("apache", "nginx")`, each server in turn (test ids show which). After every test
the error logs of the servers it used are scanned for crashed children or workers, which fail it."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import clients  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# ORIGO_LAUNCHER points at another build's launcher (it serves the module of the tree it lives in).
LAUNCHER = Path(os.environ.get("ORIGO_LAUNCHER") or REPO / "scripts" / "origo-httpd")
NGINX_LAUNCHER = REPO / "scripts" / "origo-nginx"
NGINX_MODULE = REPO / "out" / "modules" / "ngx_http_origo_module.so"
MAKE_MEDIA = REPO / "scripts" / "make-media.sh"

# A child that died: Apache's parent logs "exit signal Segmentation fault (11)" (AH00052), nginx's
# master "worker process 123 exited on signal 11".
CRASH_PATTERN = re.compile(r"exit signal|exited on signal|Segmentation fault|AH00052")

# One Apache child with 25 threads, for private servers whose tests need every request to see the
# same caches (an include file's first lines).
ONE_CHILD = """ServerLimit 1
StartServers 1
ThreadsPerChild 25
MaxRequestWorkers 25
MinSpareThreads 1
MaxSpareThreads 25
LogLevel warn
"""


@dataclass
class Media:
    """The test media directory and what make-media.sh measured (media.json)."""
    root: str
    info: dict

    @property
    def clip_seconds(self) -> float:
        return float(self.info["clip_seconds"])

    def file(self, name: str) -> dict:
        return self.info["files"][name]

    def frames(self, name: str) -> int:
        return int(self.file(name)["video_frames"])

    def duration(self, name: str) -> float:
        return float(self.file(name)["duration"])


class ErrorLog:
    """Reading an Apache error log (`self.error_log`) from an offset."""
    error_log: str

    def log_size(self) -> int:
        try:
            return os.path.getsize(self.error_log)
        except OSError:
            return 0

    def log_since(self, offset: int, settle: float = 0.2) -> str:
        """Error-log text written after `offset` (waits briefly: children write asynchronously)."""
        time.sleep(settle)
        try:
            with open(self.error_log, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def crash_lines(self, offset: int = 0, settle: float = 0.2) -> list[str]:
        """Lines written after `offset` that report a server process that died."""
        return [line for line in self.log_since(offset, settle).splitlines() if CRASH_PATTERN.search(line)]


@dataclass
class Server(ErrorLog):
    """A running private Apache or nginx (`kind`) serving `root` at `base`."""
    base: str
    root: str
    listen: str
    error_log: str
    kind: str = "apache"

    def url(self, path: str) -> str:
        return self.base + "/" + path.lstrip("/")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def media() -> Media:
    """Test media made once per session in a world-readable directory under /tmp.
    ORIGO_TEST_MEDIA=<dir> reuses a directory that make-media.sh already filled."""
    reuse = os.environ.get("ORIGO_TEST_MEDIA")
    if reuse and os.path.exists(os.path.join(reuse, "media.json")):
        root, owned = reuse, False
    else:
        root, owned = tempfile.mkdtemp(prefix="origo-media-", dir="/tmp"), True
        os.chmod(root, 0o755)
        proc = subprocess.run([str(MAKE_MEDIA), root], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"make-media.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    clients.install_player(root)
    with open(os.path.join(root, "media.json")) as f:
        info = json.load(f)
    yield Media(root, info)
    if owned and not os.environ.get("ORIGO_KEEP_MEDIA"):
        shutil.rmtree(root, ignore_errors=True)


def _find_error_log(stdout: str, port: int) -> str | None:
    for token in re.findall(r"(/\S+)", stdout):
        if "error" in os.path.basename(token).lower():
            return token.rstrip(".,;:")
    found = sorted(glob.glob(f"/tmp/origo-httpd/{port}/**/*error*", recursive=True))
    return found[0] if found else None


class PrivateServer(ErrorLog):
    """Another Apache with mod_origo, or (`kind="nginx"`) nginx with the nginx module, on a free
    loopback port, serving `root` with an extra configuration file included (Apache: server
    configuration; nginx: the server block's, with `http_text` in the http block). `@DIR@` in
    them: a private directory for the site's own files, `@LISTEN@`: the address. nginx runs one
    worker, so that every request sees the same caches (Apache's ONE_CHILD). ``stop()`` returns
    the crash lines of its error logs."""

    def __init__(self, root: str, include_text: str, kind: str = "apache", http_text: str = "",
                 mpm: str | None = None):
        self.kind = kind
        self.launcher = NGINX_LAUNCHER if kind == "nginx" else LAUNCHER
        self.port = _free_port()
        self.listen = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.listen}"
        name = "nginx" if kind == "nginx" else "httpd"
        self.error_log = f"/tmp/origo-{name}/{self.port}/logs/error.log"
        self.pid_file = f"/tmp/origo-{name}/{self.port}/run/{name}.pid"
        self.dir = tempfile.mkdtemp(prefix="origo-site-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        args = ["--include", self._write("site.conf", include_text)]
        if kind == "nginx":
            args += ["--workers", "1"]
            if http_text:
                args += ["--http-include", self._write("http.conf", http_text)]
        elif mpm:
            args += ["--mpm", mpm]
        proc = subprocess.run([str(self.launcher), "start", "--root", root, "--listen", self.listen, *args],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            self.stop()         # a server that started but never answered is still running
            pytest.fail(f"{self.launcher.name} start failed:\n{proc.stdout}\n{proc.stderr}")

    def _write(self, name: str, text: str) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text.replace("@DIR@", self.dir).replace("@LISTEN@", self.listen))
        os.chmod(path, 0o644)
        return path

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def stop(self) -> list[str]:
        subprocess.run([str(self.launcher), "stop", "--listen", self.listen], capture_output=True, timeout=120)
        logs = [os.path.join(self.dir, "error.log"), self.error_log]
        crashes = []
        for log in logs:
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    crashes += [line for line in f if CRASH_PATTERN.search(line)]
        shutil.rmtree(self.dir, ignore_errors=True)
        return crashes


@dataclass
class Remote:
    """A location of a private site whose media is read from `url` (Apache's IsmProxyPass, nginx's
    ism_proxy_pass), with the settings the tests vary; `apache` and `nginx` hold lines only that
    server has (UspEnableSubreq, S3 keys, ...)."""
    url: str
    allow: str = ""         # OrigoProxyAllowHost / origo_proxy_allow_host
    timeout: int = 0        # seconds, OrigoUpstreamTimeout / origo_upstream_timeout (0: the default)
    deadline: int = 0       # seconds, OrigoUpstreamDeadline / origo_upstream_deadline
    s3_key: str = ""        # S3AccessKey / s3_access_key, and so on
    s3_secret: str = ""
    s3_region: str = ""
    s3_headers: str = ""    # "on": S3UseHeaders / s3_use_headers
    apache: str = ""
    nginx: str = ""


# nginx reads upstream through this internal location (ngx_glue/README.md); origo_upstream_timeout
# and origo_upstream_deadline bound the reads, so nginx's own read timeout stays out of their way.
NGINX_UPSTREAM_LOCATION = """location = /origo-upstream {
    internal;
    proxy_pass $origo_upstream_url;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_max_temp_file_size 0;
    proxy_read_timeout 120s;
}
"""


# How each server spells the settings of a Remote (the field's value goes into `{}`).
DIRECTIVES = {
    "apache": {"url": 'IsmProxyPass "{}"', "allow": "OrigoProxyAllowHost {}",
               "timeout": "OrigoUpstreamTimeout {}", "deadline": "OrigoUpstreamDeadline {}",
               "s3_key": "S3AccessKey {}", "s3_secret": "S3SecretKey {}", "s3_region": "S3Region {}",
               "s3_headers": "S3UseHeaders {}"},
    "nginx": {"url": "ism_proxy_pass {};", "allow": "origo_proxy_allow_host {};",
              "timeout": "origo_upstream_timeout {}s;", "deadline": "origo_upstream_deadline {}s;",
              "s3_key": "s3_access_key {};", "s3_secret": "s3_secret_key {};", "s3_region": "s3_region {};",
              "s3_headers": "s3_use_headers {};"},
}


def remote_site(kind: str, locations: dict[str, Remote]) -> str:
    """PrivateServer include text for `kind` with each of `locations` at /<name>/."""
    out = []
    for name, loc in locations.items():
        lines = [form.format(getattr(loc, field)) for field, form in DIRECTIVES[kind].items() if getattr(loc, field)]
        body = "".join(f"    {line}\n" for line in lines + getattr(loc, kind).splitlines())
        out.append(f"location /{name}/ {{\n{body}}}\n" if kind == "nginx" else f'<Location "/{name}">\n{body}</Location>\n')
    return "".join(out) + NGINX_UPSTREAM_LOCATION if kind == "nginx" else ONE_CHILD + "".join(out)


def _start(launcher: Path, root: str, listen: str, extra: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(launcher), "start", "--root", root, "--listen", listen, *extra],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        subprocess.run([str(launcher), "stop", "--listen", listen], capture_output=True, timeout=120)
        pytest.fail(f"{launcher.name} start failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _stop(launcher: Path, srv: Server) -> None:
    stop = subprocess.run([str(launcher), "stop", "--listen", srv.listen], capture_output=True, text=True, timeout=120)
    crashes = srv.crash_lines(settle=0)
    if os.environ.get("ORIGO_KEEP_LOG"):
        print(f"error log kept at {srv.error_log}")
    assert stop.returncode == 0, f"{launcher.name} stop failed:\n{stop.stdout}\n{stop.stderr}"
    assert not crashes, f"{srv.kind} children or workers crashed during the session:\n" + "\n".join(crashes[:20])


@pytest.fixture(scope="session")
def apache(media: Media) -> Server:
    """Apache with mod_origo on a free loopback port, serving the test media (MPM from ORIGO_MPM)."""
    if not os.access(LAUNCHER, os.X_OK):
        pytest.fail(f"{LAUNCHER} is missing: the Apache launcher has not landed on this branch")
    port = _free_port()
    listen = f"127.0.0.1:{port}"
    proc = _start(LAUNCHER, media.root, listen, ["--mpm", os.environ["ORIGO_MPM"]] if os.environ.get("ORIGO_MPM") else [])
    error_log = _find_error_log(proc.stdout + "\n" + proc.stderr, port)
    if not error_log:
        subprocess.run([str(LAUNCHER), "stop", "--listen", listen], capture_output=True, timeout=60)
        pytest.fail(f"origo-httpd start printed no error log path:\n{proc.stdout}\n{proc.stderr}")
    srv = Server(f"http://{listen}", media.root, listen, error_log)
    yield srv
    _stop(LAUNCHER, srv)


@pytest.fixture(scope="session")
def nginx(media: Media) -> Server:
    """nginx with the nginx module on a free loopback port, serving the test media."""
    if not NGINX_MODULE.exists():
        pytest.fail(f"{NGINX_MODULE} is missing: run ./apxs-build.sh --skip-cli and ./ngx-build.sh")
    port = _free_port()
    listen = f"127.0.0.1:{port}"
    _start(NGINX_LAUNCHER, media.root, listen, [])
    srv = Server(f"http://{listen}", media.root, listen, f"/tmp/origo-nginx/{port}/logs/error.log", "nginx")
    yield srv
    _stop(NGINX_LAUNCHER, srv)


@pytest.fixture(scope="module")
def server_kind(request) -> str:
    """"apache", or the server a test was generated for (see pytest_generate_tests)."""
    return getattr(request, "param", "apache")


@pytest.fixture(scope="module")
def server(request, server_kind: str) -> Server:
    """The session's Apache, or its nginx in the nginx runs of tests marked `servers`."""
    return request.getfixturevalue(server_kind)


def pytest_configure(config):
    config.addinivalue_line("markers", "servers(*kinds): run the test once per server kind ('apache', "
                                       "'nginx', or a pytest.param of one, e.g. with a strict xfail for "
                                       "a module gap), as the fixture `server_kind`")


def pytest_generate_tests(metafunc):
    """Tests under a `servers` mark run once per server it names, module-scoped (so that a module's
    fixtures are made once per server), unless the test parametrizes `server_kind` itself."""
    mark = metafunc.definition.get_closest_marker("servers")
    own = any("server_kind" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize"))
    if mark and "server_kind" in metafunc.fixturenames and not own:
        metafunc.parametrize("server_kind", mark.args, indirect=True, scope="module")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Within each module, every Apache run before every nginx run (pytest groups module-scoped
    params itself, but tests that pair the server with another module-scoped param would switch
    back and forth), so that a module's per-server sites start once per server."""
    first: dict = {}
    for i, item in enumerate(items):
        first.setdefault(item.path, i)

    def on_nginx(item) -> bool:
        return getattr(getattr(item, "callspec", None), "params", {}).get("server_kind") == "nginx"
    items.sort(key=lambda item: (first[item.path], on_nginx(item)))


# The running-server fixtures whose error logs every test using them is checked against.
WATCHED_SERVERS = ("server", "apache", "nginx")


@pytest.fixture(autouse=True)
def no_child_crash(request):
    """Fails any test during which an Apache child or an nginx worker crashed (scans the error logs
    written meanwhile)."""
    watched: list[ErrorLog] = []
    for name in WATCHED_SERVERS:
        srv = request.getfixturevalue(name) if name in request.fixturenames else None
        if srv is not None and all(srv.error_log != w.error_log for w in watched):
            watched.append(srv)
    starts = [srv.log_size() for srv in watched]
    yield
    for srv, start in zip(watched, starts):
        crashes = srv.crash_lines(start)
        if crashes:
            pytest.fail(f"a server process crashed during this test ({srv.error_log}):\n"
                        + "\n".join(crashes[:20]), pytrace=False)
