#!/usr/bin/env bash
# Soak test: drives the launcher's Apache with wrk (loopback, bounded) over a mix of manifests and
# segments of several presentations while another process keeps replacing and touching a server
# manifest; reports non-2xx answers, latency percentiles and the Apache children's memory over time.
#
#   scripts/soak.sh [--minutes N] [--mpm event|worker|prefork] [--connections C] [--report FILE]
#
# Fails (exit 1) on any non-2xx answer, any child crash in the error log, or memory that keeps
# growing in the second half of the run (more than 10 % between the middle and the end).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=10 mpm=event connections=16 report=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) minutes=$2; shift ;;
    --mpm) mpm=$2; shift ;;
    --connections) connections=$2; shift ;;
    --report) report=$2; shift ;;
    *) echo "usage: soak.sh [--minutes N] [--mpm event|worker|prefork] [--connections C] [--report FILE]" >&2; exit 2 ;;
  esac
  shift
done
command -v wrk >/dev/null || { echo "soak: wrk missing (scripts/install-deps.sh --test)" >&2; exit 1; }
media=${ORIGO_SOAK_MEDIA:-/tmp/origo-soak-media}
[[ -f "$media/media.json" ]] || scripts/make-media.sh "$media" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
listen=127.0.0.1:$port
base=http://$listen
work=$(mktemp -d /tmp/origo-soak.XXXX)
swapper=""
cleanup() {
  [[ -n "$swapper" ]] && kill "$swapper" 2>/dev/null || true
  scripts/origo-httpd stop --listen "$listen" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# A server manifest that is replaced (atomic rename) and touched throughout the run; both versions
# describe the same tracks, so every URL stays valid while its cache entries are invalidated.
cp "$media/abr.ism" "$media/soak.ism"
sed 's#<head>#<head>\n    <meta name="soak" content="b" />#' "$media/abr.ism" >"$work/soak-b.ism"
cp "$media/abr.ism" "$work/soak-a.ism"
chmod a+r "$work"/soak-*.ism "$media/soak.ism"

scripts/origo-httpd start --root "$media" --listen "$listen" --mpm "$mpm" >"$work/start.log"
error_log=$(awk '/error log:/ {print $NF}' "$work/start.log")
pidfile=/tmp/origo-httpd/$port/run/httpd.pid

# The URL mix: manifests and every segment of several presentations and formats.
paths="$work/paths"
: >"$paths"
add_playlist() { # presentation-relative media playlist URL -> its segments
  local pres=$1 playlist=$2
  echo "/$pres/$playlist" >>"$paths"
  curl -sf "$base/$pres/$playlist" | grep -v '^#' | sed '/^$/d' | sed "s#^#/$pres/#" >>"$paths"
  curl -sf "$base/$pres/$playlist" | sed -n 's/.*URI="\([^"]*\)".*/\1/p' | sed "s#^#/$pres/#" >>"$paths"
}
for pres in soak.ism abr.ism faststart.mp4 ntsc.mp4 cmaf.mp4 hevc.mp4; do
  for q in "" "?hls.fmp4=true"; do
    master=$(curl -sf "$base/$pres/.m3u8$q")
    echo "/$pres/.m3u8$q" >>"$paths"
    while read -r child; do
      [[ -n "$child" ]] && add_playlist "$pres" "$child"
    done < <( { grep -v '^#' <<<"$master"; sed -n 's/.*URI="\([^"]*\)".*/\1/p' <<<"$master"; } | sed '/^$/d' | sort -u)
  done
  echo "/$pres/.mpd" >>"$paths"
  echo "/$pres/Manifest" >>"$paths"
done
sort -u -o "$paths" "$paths"
bad=0
while read -r p; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$base$p")
  [[ "$code" == 200 ]] || { echo "soak: $p answers $code before the run" >&2; bad=1; }
done <"$paths"
[[ $bad -eq 0 ]] || exit 1

# The swapper: replace soak.ism every 3 s (alternating versions), touch it in between.
(
  i=0
  while true; do
    sleep 1.5
    if (( i % 2 )); then cp "$work/soak-a.ism" "$media/.soak.tmp"; else cp "$work/soak-b.ism" "$media/.soak.tmp"; fi
    chmod a+r "$media/.soak.tmp"
    mv "$media/.soak.tmp" "$media/soak.ism"
    sleep 1.5
    touch "$media/soak.ism"
    i=$((i + 1))
  done
) &
swapper=$!

# Memory of the children every 10 s (RSS in KiB, per process), while wrk runs.
mem="$work/mem"
: >"$mem"
(
  start=$(date +%s)
  while true; do
    parent=$(cat "$pidfile" 2>/dev/null || echo 0)
    now=$(( $(date +%s) - start ))
    for pid in $(ps --ppid "$parent" -o pid= 2>/dev/null); do
      echo "$now $pid $(ps -o rss= -p "$pid" 2>/dev/null | tr -d ' ')" >>"$mem"
    done
    sleep 10
  done
) &
sampler=$!

out=$(ORIGO_PATHS=$paths wrk -t2 -c"$connections" -d"${minutes}m" --timeout 10s --latency -s bench/rotate.lua "$base" 2>&1)
kill "$sampler" 2>/dev/null || true
kill "$swapper" 2>/dev/null || true
swapper=""
cp "$work/soak-a.ism" "$media/soak.ism"

requests=$(awk '/requests in/ {print $1}' <<<"$out")
non2xx=$(awk '/Non-2xx or 3xx responses/ {print $NF}' <<<"$out")
errors=$(awk '/Socket errors/ {print}' <<<"$out")
rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
lat() { awk -v p="$1" '$1 == p {print $2}' <<<"$out"; }
crashes=$(grep -cE "exit signal|Segmentation fault|AH00052" "$error_log" || true)
# Memory: total RSS of the children at the middle and at the end; the largest child at the end.
total_at() { awk -v t="$1" '$1 >= t { seen[$1] += $3 } END { for (k in seen) if (first == "" || k + 0 < first + 0) first = k; print (first == "" ? 0 : seen[first]) }' "$mem"; }
half=$(( minutes * 30 ))
end=$(awk '{ if ($1 > m) m = $1 } END { print m + 0 }' "$mem")
mid_total=$(total_at "$half")
end_total=$(total_at "$end")
max_child=$(awk -v t="$end" '$1 == t && $3 > m { m = $3 } END { print m + 0 }' "$mem")
growth=$(awk -v a="$mid_total" -v b="$end_total" 'BEGIN { if (a > 0) printf "%.1f", (b - a) * 100 / a; else print "n/a" }')
children=$(awk -v t="$end" '$1 == t' "$mem" | wc -l)

summary="| $(date -u +%Y-%m-%d) | $mpm | ${minutes} min | $connections | $(wc -l <"$paths") | ${requests:-?} | ${rps:-?} | ${non2xx:-0} | ${errors:-none} | $(lat 50%) / $(lat 99%) | $((mid_total / 1024)) → $((end_total / 1024)) MiB ($growth %) over $children children | ${crashes} |"
echo "$out"
echo
echo "| Date | MPM | Length | Connections | URLs | Requests | Req/s | Non-2xx | Socket errors | Latency p50 / p99 | Children RSS middle → end | Crashes |"
echo "$summary"
[[ -n "$report" ]] && echo "$summary" >>"$report"

fail=0
[[ -z "$non2xx" || "$non2xx" == 0 ]] || { echo "soak: $non2xx non-2xx answers" >&2; fail=1; }
[[ -z "$errors" ]] || { echo "soak: $errors" >&2; fail=1; }
[[ "$crashes" == 0 ]] || { echo "soak: $crashes crash lines in $error_log" >&2; fail=1; }
if [[ "$growth" != n/a ]] && awk -v g="$growth" 'BEGIN { exit !(g > 10) }'; then
  echo "soak: children's memory grew $growth % in the second half" >&2; fail=1
fi
exit $fail
