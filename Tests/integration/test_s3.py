"""S3 signing of upstream reads (issue #4 point 4): S3AccessKey, S3SecretKey, S3Region,
S3SecurityToken, S3UseHeaders.

Unit level: the C signer (mod_glue/origo_s3.c, driven through out/test/origo_s3_test --sign) gives
the same signatures as botocore's signer on fixed inputs.

Integration, on Apache and on nginx (`s3_*`, issue #16): moto's S3 server (PyPI `moto[server]`)
with IAM authentication enforced (switched on through /moto-api/reset-auth after the setup calls)
holds the test media in private buckets. moto checks header signatures itself but does not
understand presigned (query-string) requests, so query signing goes through `QueryGate`, a small
front that verifies X-Amz-Signature with botocore (and the expiry), then forwards the read to moto
signed in headers."""

from __future__ import annotations

import datetime
import http.client
import http.server
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

import pytest

botocore = pytest.importorskip("botocore")
boto3 = pytest.importorskip("boto3")
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

import clients  # noqa: E402
from conftest import ONE_CHILD, REPO, PrivateServer, Remote, _free_port, remote_site  # noqa: E402
from test_decode import ABR_RENDITIONS, FORMATS, check_decode, expected_audio_frames  # noqa: E402
from test_remote import Threaded, _wait_for  # noqa: E402

REGION = "eu-west-1"
# The origin tests run on both servers; the signer's own tests need no server.
pytestmark = pytest.mark.servers("apache", "nginx")
SIGNER = REPO / "out" / "test" / "origo_s3_test"
AMZ = "%Y%m%dT%H%M%SZ"


# ------------------------------------------------------------------------- the C signer vs botocore

@pytest.fixture(scope="module")
def signer() -> Path:
    subprocess.run([str(REPO / "scripts" / "test-glue.sh"), "--build-only"], check=True)
    return SIGNER


def c_sign(signer: Path, **fields) -> dict[str, str]:
    lines = []
    for key, value in fields.items():
        for v in (value if isinstance(value, list) else [value]):
            lines.append(f"{key}={v}")
    proc = subprocess.run([str(signer), "--sign"], input="\n".join(lines) + "\n", capture_output=True,
                          text=True, check=True)
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def _when(ts: str) -> int:
    return int(datetime.datetime.strptime(ts, AMZ).replace(tzinfo=datetime.timezone.utc).timestamp())


def botocore_header_signature(url, key, secret, token, region, ts, payload, extra_headers, host=None):
    """botocore's SigV4 (S3 flavour) over the same headers the C signer signs."""
    headers = {"host": host or urllib.parse.urlsplit(url).netloc, "X-Amz-Date": ts,
               "X-Amz-Content-SHA256": payload, **extra_headers}
    if token:
        headers["X-Amz-Security-Token"] = token
    req = AWSRequest(method="GET", url=url, headers=headers)
    req.context["timestamp"] = ts
    auth = S3SigV4Auth(Credentials(key, secret, token), "s3", region)
    canonical = auth.canonical_request(req)
    return auth.signature(auth.string_to_sign(req, canonical), req), canonical


def botocore_query_signature(url, key, secret, token, region, ts, expires):
    req = AWSRequest(method="GET", url=url, headers={"host": urllib.parse.urlsplit(url).netloc})
    req.context["timestamp"] = ts
    auth = S3SigV4QueryAuth(Credentials(key, secret, token), "s3", region, expires=expires)
    auth._modify_request_before_signing(req)
    canonical = auth.canonical_request(req)
    return auth.signature(auth.string_to_sign(req, canonical), req), canonical


CASES = [
    # url, token, extra signed headers
    ("http://127.0.0.1:9000/media/abr.ism", None, {}),
    ("https://bucket.s3.eu-west-1.amazonaws.com/videos/a%20b/c%2Bd%3D%C3%A9.mp4", None, {"Range": "bytes=0-1023"}),
    ("http://storage.example:8080/b/k%3Ax/~tilde_x-y.z", "FQoGZXIvYXdzE//token+with=chars", {}),
    ("http://storage.example/b/list?prefix=a%2Fb&max-keys=10&a-b=1&a=2", None, {}),
]


@pytest.mark.parametrize("url,token,extra", CASES)
def test_header_signature_matches_botocore(signer, url, token, extra):
    ts = "20260315T101112Z"
    key, secret = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    got = c_sign(signer, access_key=key, secret_key=secret, region=REGION, token=token or "", url=url,
                 mode="headers", when=_when(ts), payload_hash="UNSIGNED-PAYLOAD",
                 header=[f"{k}:{v}" for k, v in extra.items()])
    assert got["rc"] == "0", got
    want, canonical = botocore_header_signature(url, key, secret, token, REGION, ts, "UNSIGNED-PAYLOAD", extra)
    assert got["canonical_request"].replace("\\n", "\n") == canonical
    assert got["signature"] == want
    assert got["authorization"].endswith("Signature=" + want)
    assert secret not in "".join(got.values())


@pytest.mark.parametrize("url,token,extra", [c for c in CASES if not c[2]])
def test_query_signature_matches_botocore(signer, url, token, extra):
    ts = "20260315T101112Z"
    key, secret = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    got = c_sign(signer, access_key=key, secret_key=secret, region=REGION, token=token or "", url=url,
                 mode="query", expires=600, when=_when(ts))
    assert got["rc"] == "0", got
    want, canonical = botocore_query_signature(url, key, secret, token, REGION, ts, 600)
    assert got["canonical_request"].replace("\\n", "\n") == canonical
    assert got["signature"] == want
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(got["url"]).query))
    assert params["X-Amz-Signature"] == want
    assert params["X-Amz-Credential"] == f"{key}/{ts[:8]}/{REGION}/s3/aws4_request"
    assert params.get("X-Amz-Security-Token") == token


# ------------------------------------------------------------------------------------ moto + origin

class Moto:
    """moto_server with a user allowed s3:* and private buckets `media` and `media2` holding the
    test media; `prepare(s3)` (a boto3 client) adds more before authentication is enforced."""

    def __init__(self, media_root: str, prepare: Callable[[Any], None] | None = None):
        self.port = _free_port()
        exe = Path(sys.executable).parent / "moto_server"
        self.log = tempfile.NamedTemporaryFile(prefix="origo-moto-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        _wait_for(self.port, timeout=30)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        setup = dict(endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="setup",
                     aws_secret_access_key="setup")
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="origo")
        created = iam.create_access_key(UserName="origo")["AccessKey"]
        self.key, self.secret = created["AccessKeyId"], created["SecretAccessKey"]
        iam.put_user_policy(UserName="origo", PolicyName="read", PolicyDocument=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'))
        s3 = boto3.client("s3", **setup)
        for bucket in ("media", "media2"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
            for name in os.listdir(media_root):
                path = os.path.join(media_root, name)
                if os.path.isfile(path) and name.endswith((".mp4", ".ism")):
                    s3.upload_file(path, bucket, name)
        if prepare:
            prepare(s3)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("POST", "/moto-api/reset-auth", body=b"0", headers={"Content-Type": "text/plain"})
        assert conn.getresponse().status == 200
        conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def query_gate_handler(moto: Moto, seen: dict):
    class Gate(http.server.BaseHTTPRequestHandler):
        """Verifies a presigned GET with botocore, then forwards it to moto signed in headers."""
        protocol_version = "HTTP/1.1"

        def deny(self, why: str) -> None:
            seen["denied"].append(why)
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            seen.setdefault("headers", []).append(dict(self.headers.items()))
            parts = urllib.parse.urlsplit(self.path)
            pairs = [p for p in parts.query.split("&") if p]
            params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
            signature = params.get("X-Amz-Signature")
            if not signature or params.get("X-Amz-SignedHeaders") != "host":
                return self.deny("unsigned")
            ts = params.get("X-Amz-Date", "")
            try:
                signed_at = datetime.datetime.strptime(ts, AMZ).replace(tzinfo=datetime.timezone.utc)
                expires = int(params.get("X-Amz-Expires", "0"))
            except ValueError:
                return self.deny("bad date")
            age = (datetime.datetime.now(datetime.timezone.utc) - signed_at).total_seconds()
            if age > expires or age < -900:
                return self.deny("expired")
            if params.get("X-Amz-Credential") != f"{moto.key}/{ts[:8]}/{REGION}/s3/aws4_request":
                return self.deny("credential")
            unsigned = "&".join(p for p in pairs if not p.startswith("X-Amz-Signature="))
            req = AWSRequest(method="GET", url=f"http://{self.headers['Host']}{parts.path}?{unsigned}",
                             headers={"host": self.headers["Host"]})
            req.context["timestamp"] = ts
            auth = S3SigV4QueryAuth(Credentials(moto.key, moto.secret), "s3", REGION, expires=expires)
            want = auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req)
            if want != signature:
                return self.deny("signature")
            seen["verified"] += 1
            # Forward, signed in headers with the same credentials (moto checks those itself).
            rest = "&".join(p for p in pairs if not p.startswith("X-Amz-"))
            target = parts.path + ("?" + rest if rest else "")
            fwd = AWSRequest(method="GET", url=moto.endpoint + target,
                             headers={k: v for k, v in [("Range", self.headers.get("Range"))] if v})
            S3SigV4Auth(Credentials(moto.key, moto.secret), "s3", REGION).add_auth(fwd)
            conn = http.client.HTTPConnection("127.0.0.1", moto.port, timeout=30)
            conn.request("GET", target, headers=dict(fwd.headers.items()))
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            self.send_response(resp.status)
            for name in ("Content-Type", "Content-Range", "ETag", "Last-Modified", "Accept-Ranges"):
                if resp.getheader(name):
                    self.send_header(name, resp.getheader(name))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    return Gate


WRONG_SECRET = "Th1sIsN0tTheS3cretKeyAtAllXXXXXXXXXXXXXX"


@pytest.fixture(scope="module")
def bucket(media):
    moto = Moto(media.root)
    seen = {"verified": 0, "denied": [], "headers": []}
    try:
        gate = Threaded(query_gate_handler(moto, seen))
    except BaseException:
        moto.stop()
        raise
    try:
        yield type("Bucket", (), {"moto": moto, "gate": gate, "seen": seen})
    finally:
        gate.stop()
        moto.stop()


def apache_site(base: str, gate: Threaded, moto: Moto) -> str:
    return ONE_CHILD + f"""# Header signing, credentials in the <Location>.
<Location "/s3h">
  IsmProxyPass "{base}/media/"
  S3AccessKey {moto.key}
  S3SecretKey {moto.secret}
  S3Region {REGION}
  S3UseHeaders on
</Location>
# Query-string signing (the default), through the verifying gate.
<Location "/s3q">
  IsmProxyPass "http://127.0.0.1:{gate.port}/media/"
  S3AccessKey {moto.key}
  S3SecretKey {moto.secret}
  S3Region {REGION}
</Location>
# The same with libcurl.
<Location "/s3qcurl">
  IsmProxyPass "http://127.0.0.1:{gate.port}/media/"
  UspEnableSubreq off
  S3AccessKey {moto.key}
  S3SecretKey {moto.secret}
  S3Region {REGION}
</Location>
# Credentials in a <Proxy> section for the bucket URL.
<Location "/s3p">
  IsmProxyPass "{base}/media2/"
</Location>
<Proxy "{base}/media2/">
  S3AccessKey {moto.key}
  S3SecretKey {moto.secret}
  S3Region {REGION}
  S3UseHeaders on
</Proxy>
# A plain reverse proxy to the same bucket, signed by the <Proxy> section above.
<Location "/raw/">
  ProxyPass "{base}/media2/"
</Location>
<Location "/s3wrong">
  IsmProxyPass "{base}/media/"
  S3AccessKey {moto.key}
  S3SecretKey {WRONG_SECRET}
  S3Region {REGION}
  S3UseHeaders on
</Location>
<Location "/s3none">
  IsmProxyPass "{base}/media/"
</Location>
"""


def nginx_site(base: str, gate: Threaded, moto: Moto) -> str:
    """Apache's locations that nginx has: credentials live in the location only (no <Proxy>)."""
    def signed(url: str, secret: str = moto.secret, headers: str = "") -> Remote:
        return Remote(url, s3_key=moto.key, s3_secret=secret, s3_region=REGION, s3_headers=headers)
    return remote_site("nginx", {
        "s3h": signed(f"{base}/media/", headers="on"),
        "s3q": signed(f"http://127.0.0.1:{gate.port}/media/"),
        "s3wrong": signed(f"{base}/media/", secret=WRONG_SECRET, headers="on"),
        "s3none": Remote(f"{base}/media/"),
    })


@pytest.fixture(scope="module")
def s3(bucket, server_kind):
    moto, gate = bucket.moto, bucket.gate
    root = tempfile.mkdtemp(prefix="origo-s3-root-")
    os.chmod(root, 0o755)
    base = f"http://127.0.0.1:{moto.port}"
    site = nginx_site if server_kind == "nginx" else apache_site
    origo = PrivateServer(root, site(base, gate, moto), server_kind)
    try:
        yield type("S3", (), {"moto": moto, "gate": gate, "seen": bucket.seen, "origo": origo})
    finally:
        crashes = origo.stop()
    log = origo.log_since(0, settle=0)
    assert not crashes, f"{server_kind} children or workers crashed:\n" + "".join(crashes[:20])
    assert moto.secret not in log and WRONG_SECRET not in log, "a secret reached the error log"


def test_bucket_is_private(s3):
    assert clients.get(f"{s3.moto.endpoint}/media/abr.ism").status == 403
    assert clients.get(f"http://127.0.0.1:{s3.gate.port}/media/abr.ism").status == 403
    # Without credentials the origin is refused too.
    assert clients.get(s3.origo.url("s3none/abr.ism/.m3u8")).status == 403


@pytest.mark.parametrize("fmt", ["hls-ts", "dash-time"])
@pytest.mark.parametrize("server_kind,where", [("apache", "s3h"), ("apache", "s3q"), ("apache", "s3p"),
                                               ("nginx", "s3h"), ("nginx", "s3q")],   # s3p: a <Proxy> section
                         indirect=["server_kind"], scope="module")
def test_decode_from_a_private_bucket(s3, media, where, fmt):
    frames = {media.frames(r) for r in ABR_RENDITIONS}
    before, denied = s3.seen["verified"], len(s3.seen["denied"])
    check_decode(s3.origo.url(f"{where}/abr.ism/" + FORMATS[fmt]), frames.pop(), len(ABR_RENDITIONS),
                 expected_audio_frames(media, ["audio-eng.mp4", "audio-fra.mp4"]))
    if where == "s3q":
        assert s3.seen["verified"] > before, "the query-signed reads never reached the gate"
    assert s3.seen["denied"][denied:] == [], s3.seen["denied"]


def test_single_file_with_query_signing(s3, media):
    check_decode(s3.origo.url("s3q/faststart.mp4/.m3u8"), media.frames("faststart.mp4"), 1,
                 expected_audio_frames(media, ["faststart.mp4"]))


@pytest.mark.servers("apache")    # S3 settings of a <Proxy> section, for mod_proxy's ProxyPass
def test_plain_proxypass_is_signed(s3, media):
    with open(os.path.join(media.root, "faststart.mp4"), "rb") as f:
        data = f.read()
    whole = clients.get(s3.origo.url("raw/faststart.mp4"))
    assert whole.status == 200 and whole.body == data
    part = clients.get(s3.origo.url("raw/faststart.mp4"), headers={"Range": "bytes=100-199"})
    assert part.status == 206 and part.body == data[100:200]


def test_wrong_secret_gives_403_and_one_clean_log_line(s3):
    offset = s3.origo.log_size()
    r = clients.get(s3.origo.url("s3wrong/abr.ism/.m3u8"))
    assert r.status == 403
    assert WRONG_SECRET.encode() not in r.body and s3.moto.secret.encode() not in r.body
    log = s3.origo.log_since(offset)
    lines = [line for line in log.splitlines() if "ORIGO10110" in line]
    assert len(lines) == 1, log
    assert WRONG_SECRET not in log and s3.moto.secret not in log
    # The right credentials still work afterwards.
    assert clients.get(s3.origo.url("s3h/abr.ism/.m3u8")).status == 200


def test_cached_presentations_are_not_shared_across_credentials(s3):
    assert clients.get(s3.origo.url("s3h/abr.ism/.m3u8")).status == 200   # warm the engine's cache
    assert clients.get(s3.origo.url("s3none/abr.ism/.m3u8")).status == 403
    assert clients.get(s3.origo.url("s3wrong/abr.ism/.mpd")).status == 403


@pytest.mark.parametrize("server_kind,where", [("apache", "s3q"), ("apache", "s3qcurl"), ("nginx", "s3q")],
                         indirect=["server_kind"], scope="module")
def test_client_headers_do_not_reach_s3(s3, where):
    """What reaches the bucket is the signed read and Origo's own headers: none of the client's."""
    client = {"Authorization": "Basic Y2xpZW50OnRva2Vu", "Cookie": "session=c00kie", "X-Api-Key": "k3y",
              "Proxy-Authorization": "Basic cHJveHk6dG9rZW4=", "X-Forwarded-For": "203.0.113.9",
              "User-Agent": "EvilClient/1.0"}
    mark = len(s3.seen["headers"])
    r = clients.get(s3.origo.url(f"{where}/abr.ism/.m3u8?fresh={where}"), headers=client)
    assert r.status == 200, r.body[:300]
    received = s3.seen["headers"][mark:]
    assert received, "the bucket was not asked"
    for headers in received:
        lower = {k.lower(): v for k, v in headers.items()}
        leaked = {"authorization", "cookie", "x-api-key", "proxy-authorization", "x-forwarded-for"} & set(lower)
        assert not leaked, f"{where}: {leaked} reached S3: {headers}"
        assert lower.get("user-agent", "").startswith("Origo/"), headers
        assert "origo" in lower.get("cdn-loop", ""), headers
