#!/usr/bin/env python3
"""A misbehaving HTTP/1.1 upstream for Tests/glue/origo_curl_test.c (mod_glue/origo_curl.c).

Listens on free ports of 127.0.0.1 (plain, and TLS with a throw-away self-signed certificate for
127.0.0.1 when the openssl command exists), prints one line

    port=<n> tls_port=<n or 0> ca=<certificate file or ->

and serves until its stdin closes (the test program ended) or after 300 s. Object bytes are
i % 251 for offset i. Paths, with query parameters:

  /obj?size=          the object; honours one "Range: bytes=a-b" or "bytes=a-" (206), ETag, Last-Modified
  /ignore-range?size= a 200 of the object ignoring Range (default 10 GiB), 16 KiB every 5 ms
  /endless            a 200 without Content-Length that never ends (16 KiB every 5 ms)
  /huge-length        a 200 announcing 10 GiB, then like /ignore-range
  /status?code=&size= that status with a body of `size` bytes
  /flood?lines=&len=  a 200 after `lines` header lines of `len` value bytes
  /interim?count=     `count` "103 Early Hints" answers, then a 200
  /drip, /drip-head   the body, or the status line, at one byte per second
  /echo               a 200 whose body is the request head as received
  /redirect           a 302 to /obj?size=10
  /close-after        a kept-alive 200, then the connection is closed 100 ms later
  /drop-next          a kept-alive 200; the next request on that connection is read and dropped
  /bad-range          a 206 with "bytes 5-9/100" whatever was asked
  /twice-range        a 206 with "bytes 0-9/100" in two Content-Range headers
  /extra-range?size=  a 206 with 100 bytes more than asked (Content-Range says so)
  /short              a 200 announcing 1000 bytes, sending 10, then closing
  /stats              "name=value" lines: connections accepted, bytes sent by the paced answers and
                      whether their client closed the connection
A request in absolute form (through a proxy) is routed by its path.
"""
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import parse_qs, urlsplit

LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
BLOCK = bytes(range(251)) * 1100
stats = {"connections": 0, "ignore_range_sent": 0, "ignore_range_closed": 0, "endless_closed": 0}
stats_lock = threading.Lock()


def pattern(start, n):
    out = bytearray()
    while n > 0:
        o = start % 251
        take = min(n, len(BLOCK) - o)
        out += BLOCK[o:o + take]
        start += take
        n -= take
    return bytes(out)


def count(name, value=1, add=True):
    with stats_lock:
        stats[name] = stats[name] + value if add else value


def parse_range(value, size):
    """(first, last) of one satisfiable "bytes=a-b" / "bytes=a-" range, else None."""
    if not value or not value.startswith("bytes="):
        return None
    a, _, b = value[6:].partition("-")
    if not a.isdigit() or (b and not b.isdigit()):
        return None
    first, last = int(a), int(b) if b else size - 1
    if first >= size or last < first:
        return None
    return first, min(last, size - 1)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        count("connections")
        if self.server.tls is not None:
            try:
                self.request = self.server.tls.wrap_socket(self.request, server_side=True)
            except (OSError, ssl.SSLError):
                return          # the client refused our certificate
        self.pending = b""
        self.drop_next = False
        try:
            while True:
                head = self.read_head()
                if head is None or self.drop_next:
                    return
                if not self.route(*head):
                    return
        except OSError:
            return

    def read_head(self):
        while b"\r\n\r\n" not in self.pending:
            data = self.request.recv(65536)
            if not data or len(self.pending) > 1 << 20:
                return None
            self.pending += data
        raw, _, self.pending = self.pending.partition(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return method, target, headers, raw + b"\r\n\r\n"

    def send(self, data):
        self.request.sendall(data if isinstance(data, bytes) else data.encode("latin-1"))

    def answer(self, status, body=b"", headers=(), keep=True):
        head = "HTTP/1.1 %s\r\nContent-Length: %d\r\n" % (status, len(body))
        head += "".join("%s: %s\r\n" % h for h in headers)
        head += "" if keep else "Connection: close\r\n"
        self.send(head.encode("latin-1") + b"\r\n" + body)
        return keep

    def paced(self, start, size, sent_stat=None):
        """Sends object bytes from `start` to `size`, 16 KiB every 5 ms; notes a client that left."""
        sent = 0
        try:
            while start + sent < size:
                n = min(16384, size - start - sent)
                self.send(pattern(start + sent, n))
                sent += n
                if sent_stat:
                    count(sent_stat, sent, add=False)
                time.sleep(0.005)
        except OSError:
            if sent_stat:
                count(sent_stat.replace("_sent", "_closed"), 1, add=False)
        return False

    def route(self, method, target, headers, raw):
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        size = int(query.get("size", "1000"))
        path = url.path
        if path == "/obj":
            tags = [("ETag", '"obj-%d"' % size), ("Last-Modified", LAST_MODIFIED)]
            r = parse_range(headers.get("range"), size)
            if r is None:
                return self.answer("200 OK", pattern(0, size), tags)
            first, last = r
            tags.append(("Content-Range", "bytes %d-%d/%d" % (first, last, size)))
            return self.answer("206 Partial Content", pattern(first, last - first + 1), tags)
        if path == "/ignore-range":
            size = int(query.get("size", str(10 << 30)))
            self.send("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            return self.paced(0, size, "ignore_range_sent")
        if path == "/endless":
            self.send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            self.paced(0, 1 << 62)
            count("endless_closed", 1, add=False)
            return False
        if path == "/huge-length":
            self.send("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (10 << 30))
            return self.paced(0, 10 << 30)
        if path == "/status":
            return self.answer("%s Whatever" % query.get("code", "404"), b"x" * size)
        if path == "/flood":
            lines, value = int(query.get("lines", "2000")), "a" * int(query.get("len", "100"))
            self.send("HTTP/1.1 200 OK\r\n")
            for i in range(0, lines, 100):
                self.send("".join("X-Flood-%d: %s\r\n" % (j, value) for j in range(i, min(i + 100, lines))))
            self.send("Content-Length: 2\r\n\r\nok")
            return True
        if path == "/interim":
            for _ in range(int(query.get("count", "1"))):
                self.send("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
            return self.answer("200 OK", b"ok")
        if path == "/drip":
            self.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            for _ in range(100):
                self.send(b"x")
                time.sleep(1)
            return False
        if path == "/drip-head":
            for c in "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                self.send(c)
                time.sleep(1)
            return False
        if path == "/echo":
            return self.answer("200 OK", raw)
        if path == "/redirect":
            return self.answer("302 Found", b"", [("Location", "/obj?size=10")])
        if path == "/close-after":
            self.answer("200 OK", b"ok")
            time.sleep(0.1)
            return False
        if path == "/drop-next":
            self.drop_next = True
            return self.answer("200 OK", b"ok")
        if path == "/bad-range":
            return self.answer("206 Partial Content", pattern(5, 5), [("Content-Range", "bytes 5-9/100")])
        if path == "/twice-range":
            return self.answer("206 Partial Content", pattern(0, 10),
                               [("Content-Range", "bytes 0-9/100"), ("Content-Range", "bytes 0-9/100")])
        if path == "/extra-range":
            first, last = parse_range(headers.get("range"), size) or (0, 0)
            last = min(last + 100, size - 1)
            return self.answer("206 Partial Content", pattern(first, last - first + 1),
                               [("Content-Range", "bytes %d-%d/%d" % (first, last, size))])
        if path == "/short":
            self.send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
            return False
        if path == "/stats":
            with stats_lock:
                body = "".join("%s=%d\n" % kv for kv in stats.items())
            return self.answer("200 OK", body.encode())
        return self.answer("404 Not Found", b"no such test path\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls=None):
        self.tls = tls
        super().__init__(("127.0.0.1", 0), Handler)


def make_tls(directory):
    """A server TLS context with a new self-signed certificate for 127.0.0.1, or None."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    if shutil.which("openssl") is None:
        return None, None
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert


def main():
    directory = tempfile.mkdtemp(prefix="origo-curl-test-")

    def stop():
        shutil.rmtree(directory, ignore_errors=True)
        os._exit(0)

    plain = Server()
    context, cert = make_tls(directory)
    secure = Server(context) if context is not None else None
    for server in (plain, secure):
        if server is not None:
            threading.Thread(target=server.serve_forever, daemon=True).start()
    print("port=%d tls_port=%d ca=%s" % (plain.server_address[1], secure.server_address[1] if secure else 0,
                                         cert or "-"), flush=True)
    threading.Timer(300, stop).start()
    while sys.stdin.buffer.read(4096):
        pass
    stop()


if __name__ == "__main__":
    main()
