"""Index MP4s and the storage-cache layout (an origin far from its storage, a cache next to it).

The CLI writes an index MP4 (`--use_dref_no_subs`) next to each media file and a server manifest
over the index files; the origin then serves them from local disk, through IsmProxyPass from a
plain storage Apache, and through the layout of vhost-examples/cache-origin.conf +
cache-storage.conf (an origin vhost reading through a mod_cache_disk vhost in front of the storage)
and of vhost-examples/nginx/storage-cache.conf (nginx + Origo reading through proxy_cache),
where a replayed playback must not ask the storage for the manifest or the index files again."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

import clients
from conftest import CRASH_PATTERN, LAUNCHER, REPO, _free_port
from test_decode import ABR_RENDITIONS, check_decode, expected_audio_frames
from test_nginx import NGINX_LAUNCHER
from test_remote import Origo, Storage

ORIGO = REPO / "out" / "bin" / "origo"
MODULES = "/usr/lib/apache2/modules"
AUDIO = ["audio-eng.mp4", "audio-fra.mp4"]


def _origo(*args: str, cwd: str) -> None:
    proc = subprocess.run([str(ORIGO), *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"origo {' '.join(args)}: {proc.stderr}"


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def make_index_site(media, directory: str) -> None:
    """`directory` gets the ABR renditions and audio as .cfmv/.cfma media, one index MP4 per media
    file, `abr.ism` over the index files; and cmaf.cfmv (fragmented, video + audio) with one index
    for both tracks and `cmaf.ism` over it."""
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    indexes = []
    for name in ABR_RENDITIONS + AUDIO + ["cmaf.mp4"]:
        stem = name[:-4]
        ext = ".cfma" if name in AUDIO else ".cfmv"
        _link(os.path.join(media.root, name), os.path.join(directory, stem + ext))
        _origo("create", "-o", f"{stem}-index.mp4", "--use_dref_no_subs", stem + ext, cwd=directory)
        if name != "cmaf.mp4":
            indexes.append(f"{stem}-index.mp4")
    _origo("create", "-o", "abr.ism", *indexes, cwd=directory)
    _origo("create", "-o", "cmaf.ism", "cmaf-index.mp4", cwd=directory)


@pytest.fixture(scope="module")
def index_site(media):
    directory = os.path.join(media.root, "index-site")
    shutil.rmtree(directory, ignore_errors=True)
    make_index_site(media, directory)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_cli_writes_small_index_files_with_relative_references(index_site):
    for name in ABR_RENDITIONS:
        stem = name[:-4]
        index = os.path.join(index_site, f"{stem}-index.mp4")
        media = os.path.join(index_site, f"{stem}.cfmv")
        assert os.path.getsize(index) < os.path.getsize(media) / 10
        data = open(index, "rb").read()
        assert b"mdat" not in data
        assert f"{stem}.cfmv\0".encode() in data, "the dref names the media file relative to the index"
    info = subprocess.run([str(ORIGO), "info", "abr-640x360-index.mp4"], cwd=index_site,
                          capture_output=True, text=True)
    assert "data in abr-640x360.cfmv" in info.stdout, info.stdout + info.stderr


@pytest.mark.parametrize("fmt", [".m3u8", ".m3u8?hls.fmp4=true", ".mpd"])
def test_local_index_files_play(server, media, index_site, fmt):
    check_decode(server.url("index-site/abr.ism/" + fmt), media.frames(ABR_RENDITIONS[0]), len(ABR_RENDITIONS),
                 expected_audio_frames(media, AUDIO))


def test_local_index_of_a_fragmented_file_plays(server, media, index_site):
    check_decode(server.url("index-site/cmaf.ism/.m3u8"), media.frames("cmaf.mp4"), 1,
                 expected_audio_frames(media, ["cmaf.mp4"]))
    check_decode(server.url("index-site/cmaf-index.mp4/.mpd"), media.frames("cmaf.mp4"), 1,
                 expected_audio_frames(media, ["cmaf.mp4"]))


@pytest.fixture(scope="module")
def proxied(media, index_site):
    """A storage Apache serving the index site, and an origin reading it through IsmProxyPass
    (subrequests on and off)."""
    storage = Storage(index_site)
    root = tempfile.mkdtemp(prefix="origo-index-root-")
    os.chmod(root, 0o755)
    include = os.path.join(root, "index.conf")
    with open(include, "w") as f:
        f.write(f"""ServerLimit 1
StartServers 1
ThreadsPerChild 25
MaxRequestWorkers 25
MinSpareThreads 1
MaxSpareThreads 25
<Location "/sub">
  IsmProxyPass "http://127.0.0.1:{storage.port}/"
  UspEnableSubreq on
</Location>
<Location "/builtin">
  IsmProxyPass "http://127.0.0.1:{storage.port}/"
  UspEnableSubreq off
</Location>
<Proxy "http://127.0.0.1:{storage.port}/">
  ProxySet connectiontimeout=5 enablereuse=on keepalive=on retry=0 timeout=30 ttl=300
</Proxy>
""")
    origo = Origo(include, root)
    yield type("Proxied", (), {"storage": storage, "origo": origo})
    log = origo.stop()
    storage.stop()
    crashes = [line for line in log.splitlines() if CRASH_PATTERN.search(line)]
    assert not crashes, "Apache children crashed:\n" + "\n".join(crashes[:20])


@pytest.mark.parametrize("mode", ["sub", "builtin"])
@pytest.mark.parametrize("fmt", [".m3u8", ".mpd"])
def test_remote_index_files_play(proxied, media, mode, fmt):
    mark = proxied.storage.mark()
    check_decode(proxied.origo.url(f"{mode}/abr.ism/{fmt}"), media.frames(ABR_RENDITIONS[0]), len(ABR_RENDITIONS),
                 expected_audio_frames(media, AUDIO))
    reads = proxied.storage.since(mark)
    # Samples come from the media files the index files refer to, as ranges.
    media_reads = [r for r in reads if r["path"].endswith((".cfmv", ".cfma"))]
    assert media_reads, "no media read from the storage"
    assert all(r["range"].startswith("bytes=") for r in media_reads), media_reads[:5]


def test_remote_index_of_a_fragmented_file_plays(proxied, media):
    check_decode(proxied.origo.url("sub/cmaf.ism/.m3u8"), media.frames("cmaf.mp4"), 1,
                 expected_audio_frames(media, ["cmaf.mp4"]))


# ------------------------------------------------------------------------- storage-cache layout

def _www_data_owns(path: str) -> None:
    if os.getuid() == 0:
        pw = pwd.getpwnam("www-data")
        os.chown(path, pw.pw_uid, pw.pw_gid)


class CacheLayout:
    """One Apache, as in the example layout: the origin vhost (cache-origin.conf) on the launcher's port and
    the storage-cache vhost (cache-storage.conf) on a second port, in front of the storage."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self.port = _free_port()
        self.cache_port = _free_port()
        self.listen = f"127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="origo-cache-layout-")
        os.chmod(self.dir, 0o755)
        self.cache_root = os.path.join(self.dir, "cache")
        os.makedirs(self.cache_root)
        _www_data_owns(self.cache_root)
        self.include = os.path.join(self.dir, "layout.conf")
        with open(self.include, "w") as f:
            f.write(f"""<IfModule !cache_module>
  LoadModule cache_module {MODULES}/mod_cache.so
</IfModule>
<IfModule !cache_disk_module>
  LoadModule cache_disk_module {MODULES}/mod_cache_disk.so
</IfModule>
ServerLimit 1
StartServers 1
ThreadsPerChild 25
MaxRequestWorkers 25
MinSpareThreads 1
MaxSpareThreads 25
Define ORIGO_ORIGIN_VHOST {self.listen}
Define ORIGO_CACHE_URL http://127.0.0.1:{self.cache_port}/
Define ORIGO_CACHE_LISTEN 127.0.0.1:{self.cache_port}
Define ORIGO_STORAGE_URL http://127.0.0.1:{storage.port}/
Define ORIGO_CACHE_ROOT {self.cache_root}
Define ORIGO_INDEX_STORE {self.cache_root}-index-store
Include "{REPO}/vhost-examples/cache-origin.conf"
Include "{REPO}/vhost-examples/cache-storage.conf"
""")
        self.start()

    def start(self) -> None:
        proc = subprocess.run([str(LAUNCHER), "start", "--root", self.dir, "--listen", self.listen,
                               "--include", self.include], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"origo-httpd start failed:\n{proc.stdout}\n{proc.stderr}")

    def stop(self) -> str:
        subprocess.run([str(LAUNCHER), "stop", "--listen", self.listen], capture_output=True, timeout=120)
        with open(f"/tmp/origo-httpd/{self.port}/logs/error.log", errors="replace") as f:
            return f.read()

    def url(self, path: str) -> str:
        return f"http://{self.listen}/{path.lstrip('/')}"


class NginxCacheLayout:
    """vhost-examples/nginx/storage-cache.conf as users copy it, with its port, storage address and
    cache directory filled in: nginx + Origo reading the storage through proxy_cache."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self.port = _free_port()
        self.listen = f"127.0.0.1:{_free_port()}"     # the launcher's own server block, unused
        self.dir = tempfile.mkdtemp(prefix="origo-ngx-cache-layout-")
        os.chmod(self.dir, 0o755)
        self.cache_root = os.path.join(self.dir, "cache")
        os.makedirs(self.cache_root)
        _www_data_owns(self.cache_root)
        text = (REPO / "vhost-examples" / "nginx" / "storage-cache.conf").read_text()
        filled = (text.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
                  .replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{storage.port};")
                  .replace("/var/cache/nginx/origo-storage", self.cache_root))
        assert f":{self.port};" in filled and f":{storage.port};" in filled and self.cache_root in filled, \
            "storage-cache.conf no longer has the expected layout"
        self.include = os.path.join(self.dir, "storage-cache.conf")
        with open(self.include, "w") as f:
            f.write(filled)
        os.chmod(self.include, 0o644)
        self.start()

    def start(self) -> None:
        subprocess.run([str(NGINX_LAUNCHER), "stop", "--listen", self.listen], capture_output=True, timeout=120)
        proc = subprocess.run([str(NGINX_LAUNCHER), "start", "--root", self.dir, "--listen", self.listen,
                               "--http-include", self.include], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"origo-nginx start failed:\n{proc.stdout}\n{proc.stderr}")

    def stop(self) -> str:
        subprocess.run([str(NGINX_LAUNCHER), "stop", "--listen", self.listen], capture_output=True, timeout=120)
        with open(f"/tmp/origo-nginx/{self.listen.rsplit(':', 1)[1]}/logs/error.log", errors="replace") as f:
            return f.read()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/vod/{path.lstrip('/')}"


@pytest.fixture(scope="module", params=["apache", "nginx"])
def layout(request, media, index_site):
    storage = Storage(index_site)
    try:
        layout = CacheLayout(storage) if request.param == "apache" else NginxCacheLayout(storage)
    except BaseException:
        storage.stop()
        raise
    yield layout
    log = layout.stop()
    storage.stop()
    shutil.rmtree(layout.dir, ignore_errors=True)
    crashes = [line for line in log.splitlines() if CRASH_PATTERN.search(line)]
    assert not crashes, "server processes crashed:\n" + "\n".join(crashes[:20])


def _is_index_or_manifest(path: str) -> bool:
    return path.split("?")[0].endswith((".ism", "-index.mp4"))


@pytest.mark.parametrize("fmt", [".m3u8", ".mpd"])
def test_cache_layout_replay_asks_the_storage_for_media_only(layout, media, fmt):
    url = layout.url(f"abr.ism/{fmt}")
    frames = media.frames(ABR_RENDITIONS[0])
    audio = expected_audio_frames(media, AUDIO)

    # Warm-up: the cache fetches the manifest and the index files (whole, Range removed) once.
    layout.start()  # a fresh origin: nothing in the engine's memory
    mark = layout.storage.mark()
    check_decode(url, frames, len(ABR_RENDITIONS), audio)
    warm = layout.storage.since(mark)
    assert any(_is_index_or_manifest(r["path"]) for r in warm) or fmt == ".mpd", warm[:10]
    assert all(r["range"] in ("", "-") for r in warm if _is_index_or_manifest(r["path"])), \
        "the cache vhost must fetch manifests and index files whole"

    # Replay from a restarted origin (its in-memory caches are gone): everything but media ranges
    # comes from the storage cache.
    layout.start()
    mark = layout.storage.mark()
    check_decode(url, frames, len(ABR_RENDITIONS), audio)
    replay = layout.storage.since(mark)
    asked = [r["path"] for r in replay if _is_index_or_manifest(r["path"])]
    assert asked == [], f"the storage was asked again for {asked}"
    media_reads = [r for r in replay if r["path"].endswith((".cfmv", ".cfma"))]
    assert media_reads, "media bytes come from the storage"
    assert all(r["range"].startswith("bytes=") for r in media_reads), f"media is read as ranges: {media_reads[:5]}"
    # What the origin read again came from the disk cache: mod_cache_disk keeps a header and a
    # data file per answer, nginx one file.
    cached = [name for _, _, names in os.walk(layout.cache_root) for name in names]
    per_answer = 2 if isinstance(layout, CacheLayout) else 1
    assert len(cached) >= per_answer * 6, f"manifest and 5 index files should be cached: {cached}"
