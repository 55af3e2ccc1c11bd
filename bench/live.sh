#!/usr/bin/env bash
# Live playout while ingest runs (issue #17): ffmpeg pushes a real-time channel (Smooth ingest,
# 640x360 0.8 Mbit/s + 320x180 0.3 Mbit/s H.264, AAC) to a private Apache, and wrk measures the
# live HLS media playlist (32 connections) and the newest segments of its window (16 connections),
# each against the same bytes served as static files by the same Apache. Prints a Markdown table.
#
#   bench/live.sh            Environment: ORIGO_BENCH_SECONDS (per wrk run, default 10),
#                            ORIGO_BENCH_PORT (default 8098). Needs out/modules (./apxs-build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench: wrk is missing (scripts/install-deps.sh --test)" >&2; exit 1; }
seconds=${ORIGO_BENCH_SECONDS:-10}
listen=127.0.0.1:${ORIGO_BENCH_PORT:-8098}
base="http://$listen"
work=$(mktemp -d /tmp/origo-bench-live-XXXXXX)
root=$work/root
mkdir -p "$root/live" "$root/static"
chmod 0755 "$work" "$root" "$root/static"
chmod 0777 "$root/live"   # Apache's workers write the store
cp bench/pool.conf "$work/site.conf"
cat >>"$work/site.conf" <<CONF
<Directory "$root/live">
  OrigoLiveIngest on
  LimitRequestBody 0
</Directory>
CONF
encoder=""
cleanup() {
  [[ -n "$encoder" ]] && kill "$encoder" 2>/dev/null || true
  scripts/origo-httpd stop --listen "$listen" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
scripts/origo-httpd start --root "$root" --listen "$listen" --mpm event --include "$work/site.conf" >/dev/null
# A hand-written publishing point with a DVR window longer than the runs: the segments measured
# stay inside it (ingest adds the tracks).
cat >"$root/live/channel1.isml" <<'ISML'
<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head><meta name="dvr_window_length" content="600"/></head>
  <body><switch></switch></body>
</smil>
ISML
chmod 0666 "$root/live/channel1.isml"

channel=$((seconds * 6 + 60))
ffmpeg -hide_banner -loglevel error -re -t "$channel" -f lavfi -i testsrc=size=640x360:rate=25 \
  -t "$channel" -f lavfi -i sine=sample_rate=48000 -map 0:v -map 0:v -map 1:a \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 50 -keyint_min 50 -sc_threshold 0 \
  -b:v:0 800k -b:v:1 300k -s:v:1 320x180 -c:a aac -b:a 64k \
  -f ismv -movflags isml+frag_keyframe "$base/live/channel1.isml/Streams(channel1)" &
encoder=$!
sleep 30   # fifteen 2 s fragments: a window to rotate over

playlist=/live/channel1.isml/channel1-video=800000.m3u8
curl -sf "$base$playlist" >"$root/static/playlist.m3u8"
echo "$playlist" >"$work/playlist.dyn"
echo "/static/playlist.m3u8" >"$work/playlist.static"
# The newest eight segments of the window.
grep -v '^#' "$root/static/playlist.m3u8" | tail -8 >"$work/names"
: >"$work/segments.dyn"; : >"$work/segments.static"
while read -r name; do
  curl -sf "$base/live/channel1.isml/$name" -o "$root/static/$name"
  echo "/live/channel1.isml/$name" >>"$work/segments.dyn"
  echo "/static/$name" >>"$work/segments.static"
done <"$work/names"
chmod a+r "$root/static"/*

ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /s$/ && v !~ /ms$/) n *= 1000; printf "%.2f", n }'; }
run_wrk() { # pathsfile connections -> "requests/s p50 p99"
  local out
  ORIGO_PATHS=$1 wrk -t2 -c"$2" -d2s -s bench/rotate.lua "$base" >/dev/null 2>&1
  out=$(ORIGO_PATHS=$1 wrk -t2 -c"$2" -d"${seconds}s" --latency -s bench/rotate.lua "$base" 2>&1)
  if grep -q "Non-2xx" <<<"$out"; then echo "bench: non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
  echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$out") $(ms "$(awk '$1 == "50%" {print $2}' <<<"$out")") $(ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
}
before=$(stat -c %s "$root/live/channel1.live/channel1/1.index")
read -r prps pp50 pp99 < <(run_wrk "$work/playlist.dyn" 32)
read -r sprps spp50 spp99 < <(run_wrk "$work/playlist.static" 32)
read -r srps sp50 sp99 < <(run_wrk "$work/segments.dyn" 16)
read -r ssrps ssp50 ssp99 < <(run_wrk "$work/segments.static" 16)
after=$(stat -c %s "$root/live/channel1.live/channel1/1.index")
kill -0 "$encoder" 2>/dev/null || { echo "bench: the encoder stopped during the runs" >&2; exit 1; }
size=$(cat "$root/static/"channel1-video=800000-*.m4s | wc -c)

echo "| Live request (ingest running) | origin req/s | origin p50 / p99 ms | static req/s | static p50 / p99 ms |"
echo "|---|---|---|---|---|"
echo "| media playlist ($(stat -c %s "$root/static/playlist.m3u8") B, 32 conn.) | $prps | $pp50 / $pp99 | $sprps | $spp50 / $spp99 |"
echo "| fMP4 segment, newest 8 ($((size / 8 / 1024)) KiB avg, 16 conn.) | $srps | $sp50 / $sp99 | $ssrps | $ssp50 / $ssp99 |"
echo
echo "Fragments ingested during the runs (video 0.8 Mbit/s): $(( (after - before) / 48 ))."
