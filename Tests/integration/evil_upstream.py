"""A storage server that misbehaves on purpose, for the remote-storage safety tests (issue #19).

It serves the files of a directory over HTTP/1.1 on 127.0.0.1 like ordinary storage (keep-alive,
single `Range` requests answered 206, `ETag` and `Last-Modified`) and records every request it
receives: method, path as sent, query, all headers, client port, and what it sent back. The first
path segment picks a misbehaviour (the client's query never does: Origo does not forward it to
media reads):

  /drip/<any>           the whole response, status line first, one byte per second, without end
  /drip-body/<any>      headers at once (200, 1 MB), then the body one byte per second
  /flood-headers/<any>  "HTTP/1.1 200 OK", then `ETag:` lines without end (stops at 2 GB)
  /huge/<file>          200 claiming 10 GB whatever the Range: the file's bytes (if it exists), then
                        zeros (to an MP4 reader: a last box of size 0, reaching to the end)
  /ignore-range/<file>  200 with the whole file, also to ranged requests
  /wrong-range/<file>   the file, but a 206 says in its Content-Range one byte more than it sends
                        (Content-Length and body agree: only Content-Range is wrong)
  /no-range/<file>      the file, but a 206 comes without Content-Range
  /etag-flip/<file>     the file, its ETag alternating between two values from one request to the
                        next (two storage nodes behind one name)
  /close-after/<file>   the file; the connection stays open, but the next request on it is read and
                        the connection closed unanswered: a kept-alive connection gone stale as the
                        request arrived (what an idle timeout or a restart does)
  /slow/<file>          the file after 2 s

Everything endless stops when the peer hangs up (noticed at once, also while dripping) or when the
server stops. The server binds 127.0.0.1, answers nothing outside 127.0.0.0/8 and never connects
anywhere itself.

    with EvilUpstream(directory) as upstream:
        mark = upstream.mark()
        ...                                   # requests through Origo
        for seen in upstream.since(mark): ... # Received records

`python3 evil_upstream.py DIR` serves DIR until interrupted (to try it with curl).
"""

from __future__ import annotations

import email.utils
import http.server
import itertools
import os
import re
import select
import socket
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

FAKE_SIZE = 10 * 1024 ** 3       # what /huge/ claims
FLOOD_LIMIT = 2 * 1024 ** 3      # where /flood-headers/ gives up
DRIP_INTERVAL = 1.0              # seconds between two dripped bytes
DRIP_LENGTH = 1_000_000          # the Content-Length /drip-body/ announces
SLOW_DELAY = 2.0                 # seconds /slow/ waits before answering
CHUNK = 256 * 1024               # write size of bodies and floods

BEHAVIOURS = ("drip", "drip-body", "flood-headers", "huge", "ignore-range", "wrong-range", "no-range",
              "etag-flip", "close-after", "slow")


@dataclass
class Received:
    """One request as the upstream saw it, and what it answered."""
    method: str
    path: str                       # as sent: percent-escapes kept, non-ASCII bytes as Latin-1
    query: str
    headers: list[tuple[str, str]]  # every header line, in order
    client_port: int
    behaviour: str                  # "file", one of BEHAVIOURS, or "unparsable" (answered 400)
    at: float = field(default_factory=time.monotonic)
    status: int = 0                 # 0: nothing answered
    bytes_sent: int = 0             # response bytes (headers included) the socket took
    complete: bool = False          # the whole response was sent
    dropped: bool = False           # read, then the connection closed unanswered (close-after)
    peer_gone_at: float | None = None  # time.monotonic() when the peer was seen to hang up

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class EvilUpstream:
    """The server, running in daemon threads from construction until `stop()`."""

    def __init__(self, root: str):
        self.root = root
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._connections: set[socket.socket] = set()
        self._etag_flips: dict[str, int] = {}
        self._httpd = _Server(self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"evil-upstream-{self.port}", daemon=True)
        self._thread.start()

    def __enter__(self) -> EvilUpstream:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def stop(self) -> None:
        """Stops accepting, ends every misbehaviour in progress and hangs up every connection."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------------------ what it saw

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def mark(self) -> int:
        """A position in the request record, for `since`."""
        with self._lock:
            return len(self._received)

    def since(self, mark: int) -> list[Received]:
        with self._lock:
            return self._received[mark:]

    def wait_until(self, predicate, timeout: float) -> bool:
        """Polls `predicate()` until it is true (True) or `timeout` seconds have passed (False)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.05)
        return bool(predicate())

    # ------------------------------------------------------------------------- handler support

    def _record(self, seen: Received) -> None:
        with self._lock:
            self._received.append(seen)

    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _next_etag_flip(self, path: str) -> int:
        with self._lock:
            count = self._etag_flips.get(path, 0)
            self._etag_flips[path] = count + 1
            return count


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, upstream: EvilUpstream):
        self.upstream = upstream
        super().__init__(("127.0.0.1", 0), _Handler)

    def verify_request(self, request, client_address) -> bool:
        return client_address[0].startswith("127.")


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds a kept-alive connection may stay idle
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.upstream = self.server.upstream
        self.upstream._opened(self.connection)
        self.drop_next = False  # set by close-after: the next request on this connection goes unanswered
        self.seen: Received | None = None

    def finish(self) -> None:
        self.upstream._closed(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, *args) -> None:
        pass

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if not ok:  # BaseHTTPRequestHandler has answered 400 (e.g. a blank in the path)
            line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
            self.upstream._record(Received("", line, "", [], self.client_address[1], "unparsable", status=400))
        return ok

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    # ---------------------------------------------------------------------------- dispatching

    def _serve(self, head: bool) -> None:
        path, _, query = self.path.partition("?")
        first, _, rest = path.lstrip("/").partition("/")
        behaviour = first if first in BEHAVIOURS else "file"
        if behaviour == "file":
            rest = path.lstrip("/")
        self.seen = Received(self.command, path, query, list(self.headers.items()), self.client_address[1],
                             behaviour)
        self.upstream._record(self.seen)
        if self.drop_next:
            self.seen.dropped = True
            self.close_connection = True
            return
        if behaviour == "drip":
            self._drip(itertools.chain([self._head(200, [("Content-Length", str(FAKE_SIZE))])],
                                       self._filler(FAKE_SIZE)))
        elif behaviour == "drip-body":
            if self._send(self._head(200, [("Content-Length", str(DRIP_LENGTH))])):
                self._drip(self._filler(DRIP_LENGTH))
        elif behaviour == "flood-headers":
            self._flood_headers()
        elif behaviour == "huge":
            self._huge(rest, head)
        elif behaviour == "slow":
            if not self._peer_hung_up(within=SLOW_DELAY):
                self._file(rest, head)
        elif behaviour == "etag-flip":
            node = "ab"[self.upstream._next_etag_flip(rest) % 2]
            self._file(rest, head, etag=f'"node-{node}-{rest}"')
        elif behaviour == "close-after":
            self._file(rest, head)
            self.drop_next = True
        else:
            self._file(rest, head, honour_range=behaviour != "ignore-range", range_header=behaviour)

    # -------------------------------------------------------------------------------- answers

    def _file(self, rest: str, head: bool, etag: str | None = None, honour_range: bool = True,
              range_header: str = "file") -> None:
        """The file `rest` (percent-decoded, inside the root), with a single Range honoured; the
        Content-Range of a 206 is right, or as `range_header` ("wrong-range", "no-range") says."""
        name = self._local_path(rest)
        if name is None or not os.path.isfile(name):
            body = b"not found\n"
            self._send(self._head(404, [("Content-Length", str(len(body)))]) + (b"" if head else body))
            self.seen.complete = True
            return
        with open(name, "rb") as f:
            stat = os.fstat(f.fileno())
            size = stat.st_size
            headers = [("ETag", etag or f'"{size:x}-{int(stat.st_mtime):x}"'),
                       ("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True)),
                       ("Accept-Ranges", "bytes")]
            wanted = _parse_range(self.headers.get("Range"), size) if honour_range else None
            if wanted == "unsatisfiable":
                self._send(self._head(416, headers + [("Content-Range", f"bytes */{size}"),
                                                      ("Content-Length", "0")]))
                self.seen.complete = True
                return
            if wanted is None:
                status, first, last = 200, 0, size - 1
            else:
                (first, last), status = wanted, 206
                if range_header == "wrong-range":
                    headers.append(("Content-Range", f"bytes {first}-{last + 1}/{size + 1}"))
                elif range_header != "no-range":
                    headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
            headers.append(("Content-Length", str(last - first + 1)))
            if not self._send(self._head(status, headers)):
                return
            if not head:
                f.seek(first)
                left = last - first + 1
                while left > 0:
                    data = f.read(min(CHUNK, left))
                    if not data or not self._send(data):
                        return
                    left -= len(data)
        self.seen.complete = True

    def _huge(self, rest: str, head: bool) -> None:
        """200 claiming FAKE_SIZE bytes: the file named by `rest`, if any, then zeros."""
        self.close_connection = True
        if not self._send(self._head(200, [("Content-Length", str(FAKE_SIZE))])) or head:
            return
        sent = 0
        name = self._local_path(rest)
        if name is not None and os.path.isfile(name):
            with open(name, "rb") as f:
                while data := f.read(CHUNK):
                    if not self._send(data):
                        return
                    sent += len(data)
        for data in self._filler(FAKE_SIZE - sent):
            if not self._send(data):
                return
        self.seen.complete = True

    def _flood_headers(self) -> None:
        self.close_connection = True
        self.seen.status = 200
        line = b'ETag: "' + b"f" * 90 + b'"\r\n'
        block = line * (CHUNK // len(line))
        if not self._send(b"HTTP/1.1 200 OK\r\n"):
            return
        while self.seen.bytes_sent < FLOOD_LIMIT:
            if not self._send(block):
                return
        if self._send(b"Content-Length: 0\r\n\r\n"):
            self.seen.complete = True

    def _drip(self, chunks) -> None:
        """Sends the bytes of `chunks` one at a time, DRIP_INTERVAL seconds apart."""
        self.close_connection = True
        for chunk in chunks:
            for i in range(len(chunk)):
                if not self._send(chunk[i:i + 1]) or self._peer_hung_up(within=DRIP_INTERVAL):
                    return
        self.seen.complete = True

    # ------------------------------------------------------------------------------- plumbing

    def _head(self, status: int, headers: list[tuple[str, str]]) -> bytes:
        self.seen.status = status
        reason = self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}", f"Date: {self.date_time_string()}",
                 "Content-Type: application/octet-stream"]
        lines += [f"{name}: {value}" for name, value in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _local_path(self, rest: str) -> str | None:
        """The file `rest` names under the root (percent-decoded as UTF-8), or None if it leaves it."""
        try:
            parts = urllib.parse.unquote(rest, encoding="utf-8", errors="strict").split("/")
        except UnicodeDecodeError:
            return None
        if any(part in ("", ".", "..") for part in parts):
            return None
        return os.path.join(self.upstream.root, *parts)

    def _send(self, data: bytes) -> bool:
        """Writes `data`, counting what the socket took. False once the peer has gone or the
        server stops (a peer that stops reading blocks here until one of the two)."""
        sock = self.connection
        view = memoryview(data)
        sock.settimeout(0.5)
        try:
            while view:
                if self.upstream.stopping.is_set():
                    return False
                try:
                    sent = sock.send(view)
                except TimeoutError:
                    continue
                except OSError:
                    self._note_peer_gone()
                    return False
                self.seen.bytes_sent += sent
                view = view[sent:]
            return True
        finally:
            sock.settimeout(self.timeout)

    def _peer_hung_up(self, within: float) -> bool:
        """Waits `within` seconds; True as soon as the peer hangs up or the server stops."""
        sock = self.connection
        end = time.monotonic() + within
        while True:
            if self.upstream.stopping.is_set():
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([sock], [], [], min(left, 0.2))
            if not readable:
                continue
            try:
                peeked = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                peeked = b""
            if peeked == b"":
                self._note_peer_gone()
                return True
            time.sleep(min(left, 0.2))  # a pipelined request waits; it is no hang-up

    def _note_peer_gone(self) -> None:
        if self.seen is not None and self.seen.peer_gone_at is None:
            self.seen.peer_gone_at = time.monotonic()
        self.close_connection = True

    @staticmethod
    def _filler(length: int):
        """`length` zero bytes, in chunks of CHUNK."""
        block = bytes(CHUNK)
        while length > 0:
            yield block[:length] if length < CHUNK else block
            length -= CHUNK


def _parse_range(value: str | None, size: int):
    """(first, last) of a single `bytes=` range, None to ignore it (absent, several, malformed),
    or "unsatisfiable"."""
    match = _RANGE.match(value.strip()) if value else None
    if match is None or match.group(1) == match.group(2) == "":
        return None
    if match.group(1) == "":  # bytes=-N: the last N bytes
        suffix = int(match.group(2))
        return (max(size - suffix, 0), size - 1) if suffix > 0 and size > 0 else "unsatisfiable"
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else size - 1
    if match.group(2) and last < first:
        return None
    if first >= size:
        return "unsatisfiable"
    return first, min(last, size - 1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: evil_upstream.py DIR")
    upstream = EvilUpstream(sys.argv[1])
    print(f"serving {sys.argv[1]} on {upstream.url('')} (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        upstream.stop()
