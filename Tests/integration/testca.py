"""A throwaway certificate authority for the https tests, made with the `openssl` command line at
test time (nothing is downloaded or kept): a CA certificate and server certificates it signs, by
default for `IP:127.0.0.1` and `DNS:localhost`. Files are world-readable (Apache's children, which
run as www-data, read the CA file in libcurl mode); the directory is the caller's to remove."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

# EC keys: generated in milliseconds, unlike RSA.
KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass
class ServerCert:
    cert: str   # PEM certificate
    key: str    # PEM private key, unencrypted


class TestCA:
    """A CA named `name` in `directory`; `cert` is the file to trust."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: str, name: str = "Origo Test CA"):
        self.dir = directory
        os.makedirs(directory, mode=0o755, exist_ok=True)
        os.chmod(directory, 0o755)
        slug = name.lower().replace(" ", "-")
        self.cert = os.path.join(directory, f"{slug}.pem")
        self._key = os.path.join(directory, f"{slug}.key")
        _openssl("req", "-x509", *KEY, "-keyout", self._key, "-out", self.cert, "-days", "2",
                 "-subj", f"/CN={name}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.chmod(self.cert, 0o644)

    def issue(self, name: str, alt_names: tuple[str, ...] = ("IP:127.0.0.1", "DNS:localhost")) -> ServerCert:
        """A server certificate `<name>.pem` / `<name>.key` for `alt_names` (subjectAltName). Its
        common name is the first alt name's value: mod_ssl's proxy peer-name check
        (SSLProxyCheckPeerName) reads DNS alt names and the common name, never IP alt names, so
        `https://127.0.0.1:…/` through mod_proxy needs 127.0.0.1 as the CN (OpenSSL, libcurl and
        Python check the IP alt name and ignore the CN)."""
        common_name = alt_names[0].split(":", 1)[1]
        base = os.path.join(self.dir, name)
        ext = base + ".ext"
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    f"subjectAltName={','.join(alt_names)}\n")
        _openssl("req", *KEY, "-keyout", base + ".key", "-out", base + ".csr", "-subj", f"/CN={common_name}")
        _openssl("x509", "-req", "-in", base + ".csr", "-CA", self.cert, "-CAkey", self._key,
                 "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", base + ".pem")
        os.chmod(base + ".pem", 0o644)
        return ServerCert(base + ".pem", base + ".key")


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed:\n{proc.stderr}")
