#!/usr/bin/env bash
# Serves Origo's sample presentation: installs the packages, builds the module and engine, writes the
# sample media into /tmp/origo-sample and starts a private Apache (or, with --nginx, nginx with the
# nginx module) on 127.0.0.1:8080.
# Usage: scripts/serve-sample.sh [--nginx]   Environment: ORIGO_SAMPLE_DIR, ORIGO_LISTEN (host:port).
# Stop it with: scripts/origo-httpd stop --listen 127.0.0.1:8080 (scripts/origo-nginx with --nginx)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${ORIGO_SAMPLE_DIR:-/tmp/origo-sample}
listen=${ORIGO_LISTEN:-127.0.0.1:8080}
launcher=scripts/origo-httpd
case "${1:-}" in
  "") ;;
  --nginx) launcher=scripts/origo-nginx ;;
  *) echo "usage: scripts/serve-sample.sh [--nginx]" >&2; exit 2 ;;
esac

scripts/install-deps.sh
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH=/opt/swift/usr/bin:$PATH
fi
./apxs-build.sh
if [ "$launcher" = scripts/origo-nginx ]; then ./ngx-build.sh; fi
if [ ! -f "$dir/media.json" ]; then
  scripts/make-media.sh "$dir"
fi
# The browser page: Video.js from PyPI (js-videojs) in the project's venv, copied next to the media.
[ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check js-videojs
.venv/bin/python Tests/integration/clients.py install-player "$dir"
"$launcher" start --root "$dir" --listen "$listen"

base="http://$listen"
cat <<URLS

Origo is serving $dir at $base ($(basename "$launcher" | sed 's/origo-//'))

  HLS (MPEG-TS)   $base/abr.ism/.m3u8
  HLS (fMP4)      $base/abr.ism/.m3u8?hls.fmp4=true
  DASH            $base/abr.ism/.mpd
  Smooth          $base/abr.ism/Manifest
  HDS             $base/abr.ism/.f4m
  Subtitles       $base/subs.ism/.m3u8          $base/subs.ism/.mpd
  Subclip 2-8 s   $base/abr.ism/.m3u8?vbegin=3&vend=7
  Audio + 360p    $base/abr.ism/.mpd?filter=(type!=%22video%22)||(MaxHeight<=360)
  One MP4 file    $base/faststart.mp4/.m3u8     $base/faststart.mp4/.mpd

In a browser (Video.js):
  HLS             $base/player.html?src=/abr.ism/.m3u8&type=application%2Fx-mpegURL
  DASH            $base/player.html?src=/abr.ism/.mpd&type=application%2Fdash%2Bxml
  HLS + subtitles $base/player.html?src=/subs.ism/.m3u8&type=application%2Fx-mpegURL

Try: ffplay '$base/abr.ism/.m3u8'   or   vlc '$base/abr.ism/.mpd'
Stop: $launcher stop --listen $listen
URLS
if [ "$launcher" = scripts/origo-httpd ]; then
  mkdir -p "$dir/live" && chmod 0777 "$dir/live"   # Apache's workers write the live store
  cat <<LIVE
Live ingest (Apache only; playout is not built yet): push a test channel with
  ffmpeg -re -f lavfi -i testsrc=size=640x360:rate=25 -f lavfi -i sine=sample_rate=48000 \\
    -map 0:v -map 0:v -map 1:a -c:v libx264 -g 50 -keyint_min 50 -sc_threshold 0 \\
    -b:v:0 800k -b:v:1 400k -s:v:1 320x180 -c:a aac -b:a 64k \\
    -f ismv -movflags isml+frag_keyframe '$base/live/channel1.isml/Streams(channel1)'
  and see what is stored in $dir/live/channel1.live/ (docs/LIVE.md).
LIVE
fi
