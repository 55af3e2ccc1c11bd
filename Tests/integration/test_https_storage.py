"""https storage in both upstream modes (issue #19 point 8).

A test CA made with openssl at test time (testca.py) signs the certificate of a TLS storage: the
plain storage Apache of test_remote.py with mod_ssl, for IP:127.0.0.1 and DNS:localhost. Two more
storages present a certificate the origin must refuse: one signed by another CA, one signed by the
test CA for another host name. S3 over https is moto (test_s3.py) behind the same kind of Apache,
as a TLS reverse proxy; query-signed reads go through test_s3's verifying gate behind a second one.

Each test runs against two private Origo Apaches, one per mode:
- `subreq`: `UspEnableSubreq on` (mod_proxy subrequests) with mod_ssl loaded, `SSLProxyEngine on`,
  `SSLProxyVerify require`, and `SSLProxyCACertificateFile <test CA>` in a `<Proxy>` section per
  storage (Origo's subrequests get the matching sections, like mod_proxy's own requests);
- `libcurl`: `UspEnableSubreq off` with `OrigoUpstreamCAFile <test CA>`."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import ssl
import tempfile

import pytest

pytest.importorskip("boto3")

import clients  # noqa: E402
from conftest import CRASH_PATTERN, ONE_CHILD  # noqa: E402
from test_decode import check_decode, expected_audio_frames  # noqa: E402
from test_remote import MODULES, Origo, Storage, Threaded  # noqa: E402
from test_s3 import REGION, Moto, query_gate_handler  # noqa: E402
from testca import TestCA  # noqa: E402

MODES = ["subreq", "libcurl"]
# What an operator should read in the error-log line about a refused certificate.
TLS_HINT = re.compile(r"certificate|SSL|TLS|handshake", re.IGNORECASE)
# (virtual path, source whose frames every video rendition has, renditions, audio sources)
HLS_ABR = ("abr.ism/.m3u8", "abr-640x360.mp4", 3, ["audio-eng.mp4", "audio-fra.mp4"])


@pytest.fixture(scope="module")
def pki():
    """The test CA with a good storage certificate and one for the wrong host; another CA with a
    certificate for the right host."""
    directory = tempfile.mkdtemp(prefix="origo-pki-", dir="/tmp")
    os.chmod(directory, 0o755)  # www-data reads the CA file in libcurl mode
    ca = TestCA(os.path.join(directory, "ca"))
    other = TestCA(os.path.join(directory, "other"), name="Other CA")
    yield type("PKI", (), {
        "ca": ca,
        "good": ca.issue("storage"),
        "wrong_host": ca.issue("wrong-host", ("DNS:storage.example",)),
        "foreign": other.issue("foreign"),
    })
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def upstreams(media, pki):
    """TLS storages (good, wrong host, foreign CA) and moto behind TLS (header-signed reads straight
    to moto, query-signed ones through the gate)."""
    good = Storage(media.root, tls=pki.good)
    wrong_host = Storage(media.root, tls=pki.wrong_host)
    foreign = Storage(media.root, tls=pki.foreign)
    moto = Moto(media.root)
    seen = {"verified": 0, "denied": []}
    gate = Threaded(query_gate_handler(moto, seen))
    s3 = Storage(None, tls=pki.good, backend=moto.endpoint)
    s3_gate = Storage(None, tls=pki.good, backend=f"http://127.0.0.1:{gate.port}")
    yield type("Upstreams", (), {"good": good, "wrong_host": wrong_host, "foreign": foreign, "moto": moto,
                                 "gate_seen": seen, "s3": s3, "s3_gate": s3_gate})
    for storage in (good, wrong_host, foreign, s3, s3_gate):
        storage.stop()
    gate.stop()
    moto.stop()


def origo_conf(mode: str, ca: str, up) -> str:
    """The Origo include for `mode`: the same locations in both modes, only the TLS settings differ.
    In libcurl mode `/defaultca` reads the good storage without OrigoUpstreamCAFile (the system's
    CAs, which do not include the test CA)."""
    credentials = f"S3AccessKey {up.moto.key}\n  S3SecretKey {up.moto.secret}\n  S3Region {REGION}"
    locations = {
        "tls": (up.good.url(""), ""),
        "wronghost": (up.wrong_host.url(""), ""),
        "foreign": (up.foreign.url(""), ""),
        "s3h": (up.s3.url("media/"), credentials + "\n  S3UseHeaders on"),
        "s3q": (up.s3_gate.url("media/"), credentials),
        "s3none": (up.s3.url("media/"), ""),
    }
    text = ONE_CHILD
    if mode == "subreq":
        # Trust per storage, in <Proxy> sections (merged into Origo's subrequests as into
        # mod_proxy's own requests); `/defaultca` names the good storage as localhost, which no
        # section matches: the system's CAs.
        text += f"""<IfModule !ssl_module>
  LoadModule ssl_module {MODULES}/mod_ssl.so
</IfModule>
SSLProxyEngine on
SSLProxyVerify require
"""
        for storage in (up.good, up.wrong_host, up.foreign, up.s3, up.s3_gate):
            text += f'<Proxy "{storage.url("")}">\n  SSLProxyCACertificateFile "{ca}"\n</Proxy>\n'
        localhost = up.good.url("").replace("127.0.0.1", "localhost")
        text += f'<Location "/defaultca">\n  IsmProxyPass "{localhost}"\n</Location>\n'
        per_location = "UspEnableSubreq on"
    else:
        text += f'<Location "/defaultca">\n  IsmProxyPass "{up.good.url("")}"\n  UspEnableSubreq off\n</Location>\n'
        per_location = f'UspEnableSubreq off\n  OrigoUpstreamCAFile "{ca}"'
    for name, (url, extra) in locations.items():
        text += f'<Location "/{name}">\n  IsmProxyPass "{url}"\n  {per_location}\n  {extra}\n</Location>\n'
    return text


@pytest.fixture(scope="module", params=MODES)
def origo(request, upstreams, pki):
    root = tempfile.mkdtemp(prefix=f"origo-https-{request.param}-")
    os.chmod(root, 0o755)
    include = os.path.join(root, "https.conf")
    with open(include, "w") as f:
        f.write(origo_conf(request.param, pki.ca.cert, upstreams))
    server = Origo(include, root)
    server.mode = request.param
    yield server
    log = server.stop()
    shutil.rmtree(root, ignore_errors=True)
    crashes = [line for line in log.splitlines() if CRASH_PATTERN.search(line)]
    assert not crashes, "Apache children crashed:\n" + "\n".join(crashes[:20])
    assert upstreams.moto.secret not in log, "the S3 secret reached the error log"


def https_get(url: str, ca: str) -> clients.Response:
    """GET over https trusting only `ca` (clients.get speaks plain http)."""
    host_port, _, path = url.removeprefix("https://").partition("/")
    host, _, port = host_port.partition(":")
    conn = http.client.HTTPSConnection(host, int(port), timeout=30, context=ssl.create_default_context(cafile=ca))
    try:
        conn.request("GET", "/" + path)
        resp = conn.getresponse()
        return clients.Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------ tests

def test_storages_speak_https_with_the_test_ca(upstreams, pki):
    """The fixtures themselves: the good storage is trusted with the test CA, the others are not."""
    assert https_get(upstreams.good.url("abr.ism"), pki.ca.cert).status == 200
    for storage in (upstreams.wrong_host, upstreams.foreign):
        with pytest.raises(ssl.SSLCertVerificationError):
            https_get(storage.url("abr.ism"), pki.ca.cert)


def decode(origo, media, location: str, case: tuple) -> None:
    path, frames_of, renditions, audio = case
    check_decode(origo.url(f"{location}/{path}"), media.frames(frames_of), renditions,
                 expected_audio_frames(media, audio))


@pytest.mark.parametrize("case", [HLS_ABR, ("moov-at-end.mp4/.mpd", "moov-at-end.mp4", 1, ["moov-at-end.mp4"])],
                         ids=["hls", "dash"])
def test_decode_from_https_storage(origo, upstreams, media, case):
    mark = upstreams.good.mark()
    decode(origo, media, "tls", case)
    assert upstreams.good.since(mark), "the https storage was never asked"


@pytest.mark.parametrize("location,storage", [("foreign", "foreign"), ("wronghost", "wrong_host")])
def test_untrusted_certificate_is_refused(origo, upstreams, location, storage):
    """A certificate from another CA, or from the test CA for another host: 502, one error-log line,
    and not a single HTTP request reached that storage."""
    refused = getattr(upstreams, storage)
    mark, offset = refused.mark(), origo.log_size()
    r = clients.get(origo.url(f"{location}/abr.ism/.m3u8"))
    assert r.status == 502, f"{location}: {r.status} {r.body[:200]!r}"
    log = origo.log_since(offset)
    lines = [line for line in log.splitlines() if "ORIGO10110" in line]
    assert len(lines) == 1, f"one ORIGO10110 line expected:\n{log}"
    assert f"127.0.0.1:{refused.port}" in lines[0], lines[0]
    assert TLS_HINT.search(lines[0]), f"the line should say that TLS verification failed:\n{lines[0]}"
    assert refused.since(mark) == [], "a request went through the untrusted TLS connection"
    # The child keeps serving the trusted storage.
    assert clients.get(origo.url("tls/abr.ism/.m3u8")).status == 200


def test_without_the_ca_the_system_cas_refuse_the_test_ca(origo, upstreams):
    """libcurl without OrigoUpstreamCAFile, mod_proxy without a matching <Proxy> section: the
    system's CAs, which refuse the test CA. ntsc.mp4 is read by no other test here: nothing cached under the same URL answers instead."""
    offset = origo.log_size()
    assert clients.get(origo.url("defaultca/ntsc.mp4/.m3u8")).status == 502
    lines = [line for line in origo.log_since(offset).splitlines() if "ORIGO10110" in line]
    assert len(lines) == 1 and TLS_HINT.search(lines[0]), lines


def test_a_refused_certificate_is_not_remembered_where_it_is_trusted(origo, upstreams):
    """The same object behind one storage, refused by a location without the test CA: a location that
    trusts the CA reads it at once (a remembered failure is one of the object, not of the TLS
    settings)."""
    assert clients.get(origo.url("defaultca/hevc.mp4/.mpd")).status == 502
    assert clients.get(origo.url("tls/hevc.mp4/.mpd")).status == 200


@pytest.mark.parametrize("case", [HLS_ABR, ("faststart.mp4/.mpd", "faststart.mp4", 1, ["faststart.mp4"])],
                         ids=["hls", "dash"])
@pytest.mark.parametrize("where", ["s3h", "s3q"])
def test_decode_from_a_private_bucket_over_https(origo, upstreams, media, where, case):
    before, denied = upstreams.gate_seen["verified"], len(upstreams.gate_seen["denied"])
    mark = upstreams.s3.mark()
    decode(origo, media, where, case)
    if where == "s3q":
        assert upstreams.gate_seen["verified"] > before, "the query-signed reads never reached the gate"
    else:
        assert upstreams.s3.since(mark), "the header-signed reads never reached the TLS front"
    assert upstreams.gate_seen["denied"][denied:] == []


def test_bucket_stays_private_over_https(origo, upstreams, pki):
    assert https_get(upstreams.s3.url("media/abr.ism"), pki.ca.cert).status == 403
    assert https_get(upstreams.s3_gate.url("media/abr.ism"), pki.ca.cert).status == 403
    assert clients.get(origo.url("s3none/abr.ism/.m3u8")).status == 403
    assert clients.get(origo.url("s3none/faststart.mp4/.mpd")).status == 403
