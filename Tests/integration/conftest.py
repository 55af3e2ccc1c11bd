"""Session fixtures for Origo's integration tests: the test media (scripts/make-media.sh, made once)
and a private Apache with mod_origo serving it (scripts/origo-httpd). After every test the Apache
error log is scanned for child crashes, which fail the test."""

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
    """A running private Apache serving `root` at `base`."""
    base: str
    root: str
    listen: str
    error_log: str

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
    """Another Apache with mod_origo on a free loopback port, serving `root` with an extra
    configuration file included (`@DIR@` in it: a private directory for the site's own files,
    `@LISTEN@`: the address). ``stop()`` returns the crash lines of its error logs."""

    def __init__(self, root: str, include_text: str, mpm: str | None = None):
        self.port = _free_port()
        self.listen = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.listen}"
        self.error_log = f"/tmp/origo-httpd/{self.port}/logs/error.log"
        self.pid_file = f"/tmp/origo-httpd/{self.port}/run/httpd.pid"
        self.dir = tempfile.mkdtemp(prefix="origo-site-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.include = os.path.join(self.dir, "site.conf")
        with open(self.include, "w") as f:
            f.write(include_text.replace("@DIR@", self.dir).replace("@LISTEN@", self.listen))
        os.chmod(self.include, 0o644)
        proc = subprocess.run([str(LAUNCHER), "start", "--root", root, "--listen", self.listen,
                               "--include", self.include] + (["--mpm", mpm] if mpm else []),
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            pytest.fail(f"origo-httpd start failed:\n{proc.stdout}\n{proc.stderr}")

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def stop(self) -> list[str]:
        subprocess.run([str(LAUNCHER), "stop", "--listen", self.listen], capture_output=True, timeout=120)
        logs = [os.path.join(self.dir, "error.log"), self.error_log]
        crashes = []
        for log in logs:
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    crashes += [line for line in f if CRASH_PATTERN.search(line)]
        shutil.rmtree(self.dir, ignore_errors=True)
        return crashes


@pytest.fixture(scope="session")
def server(media: Media) -> Server:
    """Apache with mod_origo on a free loopback port, serving the test media (MPM from ORIGO_MPM)."""
    if not os.access(LAUNCHER, os.X_OK):
        pytest.fail(f"{LAUNCHER} is missing: the Apache launcher has not landed on this branch")
    port = _free_port()
    listen = f"127.0.0.1:{port}"
    cmd = [str(LAUNCHER), "start", "--root", media.root, "--listen", listen]
    if os.environ.get("ORIGO_MPM"):
        cmd += ["--mpm", os.environ["ORIGO_MPM"]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"origo-httpd start failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    error_log = _find_error_log(proc.stdout + "\n" + proc.stderr, port)
    if not error_log:
        subprocess.run([str(LAUNCHER), "stop", "--listen", listen], capture_output=True, timeout=60)
        pytest.fail(f"origo-httpd start printed no error log path:\n{proc.stdout}\n{proc.stderr}")
    srv = Server(f"http://{listen}", media.root, listen, error_log)
    yield srv
    stop = subprocess.run([str(LAUNCHER), "stop", "--listen", listen], capture_output=True, text=True, timeout=120)
    crashes = srv.crash_lines(settle=0)
    if os.environ.get("ORIGO_KEEP_LOG"):
        print(f"error log kept at {error_log}")
    assert stop.returncode == 0, f"origo-httpd stop failed:\n{stop.stdout}\n{stop.stderr}"
    assert not crashes, "Apache children crashed during the session:\n" + "\n".join(crashes[:20])


# The running-server fixtures whose error logs every test using them is checked against (`nginx`:
# the private nginx of test_nginx.py).
WATCHED_SERVERS = ("server", "nginx")


@pytest.fixture(autouse=True)
def no_child_crash(request):
    """Fails any test during which an Apache child or an nginx worker crashed (scans the error logs
    written meanwhile)."""
    watched: list[ErrorLog] = [request.getfixturevalue(name) for name in WATCHED_SERVERS
                               if name in request.fixturenames]
    starts = [srv.log_size() for srv in watched]
    yield
    for srv, start in zip(watched, starts):
        crashes = srv.crash_lines(start)
        if crashes:
            pytest.fail(f"a server process crashed during this test ({srv.error_log}):\n"
                        + "\n".join(crashes[:20]), pytrace=False)
