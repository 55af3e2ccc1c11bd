#!/usr/bin/env bash
# The index store's rows (issue #20, docs/INDEX-STORE.md), with and without OrigoIndexCacheDir,
# each against prefork Apache started through scripts/origo-httpd:
#   1. the first 1080p DASH segment of a child that never served the title, while another child
#      loaded it before (MaxConnectionsPerChild 1: every connection meets a fresh child), and the
#      first one after a full restart;
#   2. private memory of N children (ORIGO_STORE_CHILDREN, default "2 8 32") after each served a
#      1080p segment of each of ORIGO_STORE_TITLES titles (default 10; hard links of the 2-hour title);
#   3. a long-tail catalogue: ORIGO_STORE_CATALOGUE single-file titles (default 2000, hard links of
#      the first 5 minutes of v360.mp4, cut with ffmpeg -c copy) requested with a Zipf distribution (s = 1) by 16 connections against 32 prefork
#      children, ORIGO_STORE_SECONDS (default 20) per run: requests per second, p50 and p99.
# Usage: bench/index-store.sh [MEDIA_DIR]   (default $ORIGO_BENCH_MEDIA or /tmp/origo-bench-media,
# made by bench/make-long-media.sh; bench/run.sh calls this with ORIGO_BENCH_INDEX_STORE=1).
# Environment: ORIGO_STORE_PORT (default 8097), ORIGO_STORE_CONNECTIONS (16), ORIGO_STORE_POOL (32).
# Prints markdown tables; writes nothing into bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
media=${1:-${ORIGO_BENCH_MEDIA:-/tmp/origo-bench-media}}
port=${ORIGO_STORE_PORT:-8097}
children_list=${ORIGO_STORE_CHILDREN:-2 8 32}
titles=${ORIGO_STORE_TITLES:-10}
catalogue=${ORIGO_STORE_CATALOGUE:-2000}
seconds=${ORIGO_STORE_SECONDS:-20}
connections=${ORIGO_STORE_CONNECTIONS:-16}
pool=${ORIGO_STORE_POOL:-32}
listen=127.0.0.1:$port
base=http://$listen
store=/tmp/origo-httpd/$port/index-store
[[ -f $media/long.ism && -f $media/v360.mp4 ]] || { echo "index-store.sh: no 2-hour title in $media (bench/make-long-media.sh)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "index-store.sh: wrk is missing" >&2; exit 1; }
work=$(mktemp -d /tmp/origo-store-bench.XXXX)
# The titles are hard links (no copies) in a directory next to the media (same file system).
links=$media/.store-bench
trap 'scripts/origo-httpd stop --listen "$listen" >/dev/null 2>&1 || true; rm -rf "$work" "$links"' EXIT
rm -rf "$links"
mkdir -p "$links"
chmod a+rx "$links"

start() { # children store(on|off) [more directives]
  {
    printf 'StartServers %s\nMinSpareServers %s\nMaxSpareServers %s\nServerLimit %s\nMaxRequestWorkers %s\n' "$1" "$1" "$1" "$1" "$1"
    [[ $2 == on ]] || echo "OrigoIndexCacheDir off"
    printf '%b\n' "${3:-}"
  } >"$work/pool.conf"
  scripts/origo-httpd start --root "$media" --listen "$listen" --mpm prefork --include "$work/pool.conf" >/dev/null
}
stop() { scripts/origo-httpd stop --listen "$listen" >/dev/null; }
ms() { awk -v t="$1" 'BEGIN { printf "%.1f", t * 1000 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
wrk_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

# --- 1. first segment of a fresh child, and after a full restart --------------------------------
echo "| Store | fresh child, title loaded by another child (median of 5) | after a full restart | the next segment (warm) | after a full restart, store empty |"
echo "|---|---|---|---|---|"
for mode in on off; do
  rm -rf "$store"
  start 3 "$mode" "MaxConnectionsPerChild 1\nKeepAlive Off"
  curl -sf -o /dev/null "$base/long.ism/long-video=5000000-n1800.dash"   # another child loads it
  fresh=()
  for k in 1 2 3 4 5; do
    sleep 0.5   # the MPM replaces the child that exited
    fresh+=("$(curl -sf -o /dev/null -w '%{time_total}' "$base/long.ism/long-video=5000000-n$((1800 + k)).dash")")
  done
  stop
  start 2 "$mode"
  # The next segment on the same connection (same child, warm): what the first one is compared to.
  read -r restart warm < <(curl -sf -o /dev/null -o /dev/null -w '%{time_total} ' \
    "$base/long.ism/long-video=5000000-n1800.dash" "$base/long.ism/long-video=5000000-n1801.dash"; echo)
  stop
  rm -rf "$store"
  start 2 "$mode"
  empty=$(curl -sf -o /dev/null -w '%{time_total}' "$base/long.ism/long-video=5000000-n1800.dash")
  stop
  echo "| $mode | $(ms "$(printf '%s\n' "${fresh[@]}" | median)") ms | $(ms "$restart") ms | $(ms "$warm") ms | $(ms "$empty") ms |"
done
echo

# --- 2. memory of N children serving the same titles --------------------------------------------
for ((t = 1; t <= titles; t++)); do
  mkdir -p "$links/m$t"
  for f in "$media"/*.mp4; do ln -f "$f" "$links/m$t/"; done
  cp "$media/long.ism" "$links/m$t/long.ism"
done
chmod -R a+rX "$links"
for ((t = 1; t <= titles; t++)); do echo "/.store-bench/m$t/long.ism/long-video=5000000-n1800.dash"; done >"$work/titles.paths"
private_kib() { # the children's private memory (Private_Clean + Private_Dirty), summed, KiB
  local parent total=0 pid
  parent=$(cat "/tmp/origo-httpd/$port/run/httpd.pid")
  for pid in $(pgrep -P "$parent"); do
    total=$((total + $(awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s + 0 }' "/proc/$pid/smaps_rollup")))
  done
  echo "$total"
}
echo "| Store | children | private memory, all children | per child |"
echo "|---|---|---|---|"
for mode in on off; do
  for n in $children_list; do
    start "$n" "$mode" "KeepAlive Off"
    idle=$(private_kib)
    # Every child serves every title: enough connections, each its own, for a while.
    ORIGO_PATHS=$work/titles.paths wrk -t2 -c"$n" -d"$((2 + n / 4))s" -s bench/rotate.lua "$base" >/dev/null 2>&1
    used=$(( $(private_kib) - idle ))
    echo "| $mode | $n | $((used / 1024)) MiB | $((used / 1024 / n)) MiB |"
    stop
  done
done
echo

# --- 3. a long-tail catalogue, Zipf requests -----------------------------------------------------
mkdir -p "$links/cat"
ffmpeg -hide_banner -nostdin -loglevel error -y -i "$media/v360.mp4" -t 300 -c copy -movflags +faststart "$links/short.mp4"
for ((t = 0; t < catalogue; t++)); do ln -f "$links/short.mp4" "$(printf '%s/cat/t%04d.mp4' "$links" "$t")"; done
chmod -R a+rX "$links"
start 1 off
token=$(curl -sf "$base/.store-bench/cat/t0000.mp4/.mpd" | grep -o 'video=[0-9]*' | head -1)
stop
[[ -n $token ]] || { echo "index-store.sh: no video token in t0000.mp4's MPD" >&2; exit 1; }
python3 - "$catalogue" "$token" >"$work/zipf.paths" <<'EOF'
import random, sys
n, token = int(sys.argv[1]), sys.argv[2]
weights = [1 / (k + 1) for k in range(n)]
rng = random.Random(20)
for t in rng.choices(range(n), weights, k=20000):
    print(f"/.store-bench/cat/t{t:04d}.mp4/t{t:04d}-{token}-n{rng.randrange(1, 150)}.dash")
EOF
echo "| Store | titles | children | connections | requests/s | p50 | p99 |"
echo "|---|---|---|---|---|---|---|"
for mode in off on; do
  rm -rf "$store"
  start "$pool" "$mode"
  out=$(ORIGO_PATHS=$work/zipf.paths wrk -t2 -c"$connections" -d"${seconds}s" --latency -s bench/rotate.lua "$base" 2>&1)
  if grep -q "Non-2xx" <<<"$out"; then echo "index-store.sh: non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
  stop
  echo "| $mode | $catalogue | $pool | $connections | $(awk '/^Requests\/sec/ {print $2}' <<<"$out") | $(wrk_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")") ms | $(wrk_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")") ms |"
done
